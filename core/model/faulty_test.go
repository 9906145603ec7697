package model_test

import (
	"context"
	"errors"
	"sync"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

var errInjected = errors.New("injected fault")

// faulty is a backend whose batches (and transactions, when it offers
// them) fail a chosen Put.
type faulty struct {
	ds.Batching
	mu      sync.Mutex
	failAt  int // the failAt-th next Put of a batch or transaction fails; 0: none
	usedTxn bool
}

// faultyTxns is faulty offering transactions.
type faultyTxns struct{ *faulty }

// newFaulty returns the fault switch and the backend to use.
func newFaulty(b ds.Batching, txn bool) (*faulty, ds.Batching) {
	f := &faulty{Batching: b}
	if txn {
		return f, faultyTxns{f}
	}
	return f, f
}

func (f *faulty) failPuts(n int) {
	f.mu.Lock()
	f.failAt = n
	f.mu.Unlock()
}

// tick counts a Put and reports whether it is the one to fail.
func (f *faulty) tick() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAt == 0 {
		return false
	}
	f.failAt--
	return f.failAt == 0
}

func (f *faulty) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := f.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &faultyBatch{Batch: b, f: f}, nil
}

type faultyBatch struct {
	ds.Batch
	f *faulty
}

func (b *faultyBatch) Put(ctx context.Context, k ds.Key, v []byte) error {
	if b.f.tick() {
		return errInjected
	}
	return b.Batch.Put(ctx, k, v)
}

// NewTransaction returns a transaction that buffers writes and applies
// them in one batch at Commit. Its queries do not see its own writes.
func (f faultyTxns) NewTransaction(ctx context.Context, readOnly bool) (ds.Txn, error) {
	f.mu.Lock()
	f.usedTxn = true
	f.mu.Unlock()
	return &memTxn{f: f.faulty, writes: map[ds.Key][]byte{}}, nil
}

type memTxn struct {
	f      *faulty
	writes map[ds.Key][]byte // nil: deleted
}

func (t *memTxn) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if v, ok := t.writes[k]; ok {
		if v == nil {
			return nil, ds.ErrNotFound
		}
		return v, nil
	}
	return t.f.Batching.Get(ctx, k)
}

func (t *memTxn) Has(ctx context.Context, k ds.Key) (bool, error) {
	_, err := t.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (t *memTxn) GetSize(ctx context.Context, k ds.Key) (int, error) {
	v, err := t.Get(ctx, k)
	return len(v), err
}

func (t *memTxn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return t.f.Batching.Query(ctx, q)
}

func (t *memTxn) Put(ctx context.Context, k ds.Key, v []byte) error {
	if t.f.tick() {
		return errInjected
	}
	t.writes[k] = v
	return nil
}

func (t *memTxn) Delete(ctx context.Context, k ds.Key) error {
	t.writes[k] = nil
	return nil
}

func (t *memTxn) Commit(ctx context.Context) error {
	b, err := t.f.Batching.Batch(ctx)
	if err != nil {
		return err
	}
	for k, v := range t.writes {
		if v == nil {
			err = b.Delete(ctx, k)
		} else {
			err = b.Put(ctx, k, v)
		}
		if err != nil {
			return err
		}
	}
	return b.Commit(ctx)
}

func (t *memTxn) Discard(context.Context) { clear(t.writes) }
