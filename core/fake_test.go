package core_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// fakeEngine is an in-memory engine in the manner of database/sql's fake
// driver: it implements ds.Batching, ds.TTL and ds.TxnFeature, records every
// call, and fails or holds a call on demand, so the tests can see exactly
// what core lets through to an engine.
//
// It is deliberately sloppy where real engines may be: a batch or a
// transaction keeps the caller's value slices by reference until Commit
// (as go-ds-badger4's do; a direct Put copies, as the conformance suite
// demands of every backend), it returns values and
// a size of -1 for every query entry even for keys-only queries, and with
// offsetFirst it applies a query's offset and limit before its filters.
type fakeEngine struct {
	// offsetFirst makes queries apply offset and limit before filters.
	offsetFirst bool

	mu      sync.Mutex
	data    map[string][]byte
	expires map[string]time.Time
	calls   []string // "op key" for every call, in order
	// faults maps an operation name to the error that operation returns.
	// The name "next" is a query result: the error comes after
	// nextFaultAfter entries.
	faults         map[string]error
	nextFaultAfter int
	holds          map[string]hold
	inFlight       int
	closes         int
	closedMidOp    bool // Close ran while another call was in flight
	openResults    int
	queries        []dsq.Query // every query as the engine received it
}

// hold stops one call of an operation until the test releases it.
type hold struct {
	entered chan struct{} // closed when the held call has started
	release chan struct{} // closed by the test to let the call finish
}

var (
	_ ds.Batching     = (*fakeEngine)(nil)
	_ ds.TTLDatastore = (*fakeEngine)(nil)
	_ ds.TxnDatastore = (*fakeEngine)(nil)
)

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		data:    make(map[string][]byte),
		expires: make(map[string]time.Time),
		faults:  make(map[string]error),
		holds:   make(map[string]hold),
	}
}

// fail makes every later call of op return err.
func (f *fakeEngine) fail(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = err
}

// holdNext makes the next call of op wait until the returned hold is
// released.
func (f *fakeEngine) holdNext(op string) hold {
	h := hold{entered: make(chan struct{}), release: make(chan struct{})}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holds[op] = h
	return h
}

// callCount is how many calls reached the engine so far.
func (f *fakeEngine) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeEngine) callsSince(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls[n:])
}

func (f *fakeEngine) lastQuery() dsq.Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[len(f.queries)-1]
}

func (f *fakeEngine) closeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closes
}

func (f *fakeEngine) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.openResults
}

// begin records a call, waits while it is held, and returns its injected
// fault. Every begin is paired with a deferred end.
func (f *fakeEngine) begin(op, key string) error {
	f.mu.Lock()
	f.calls = append(f.calls, op+" "+key)
	f.inFlight++
	err := f.faults[op]
	h, held := f.holds[op]
	delete(f.holds, op)
	f.mu.Unlock()
	if held {
		close(h.entered)
		<-h.release
	}
	return err
}

func (f *fakeEngine) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
}

func (f *fakeEngine) read(op string, key ds.Key) ([]byte, error) {
	defer f.end()
	if err := f.begin(op, key.String()); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.data[key.String()]
	if !ok {
		return nil, ds.ErrNotFound
	}
	return v, nil
}

// write stores a copy of value under key, or deletes key when del is set.
func (f *fakeEngine) write(op string, key ds.Key, value []byte, del bool) error {
	defer f.end()
	if err := f.begin(op, key.String()); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if del {
		delete(f.data, key.String())
	} else {
		f.data[key.String()] = bytes.Clone(value)
	}
	return nil
}

func (f *fakeEngine) Get(_ context.Context, key ds.Key) ([]byte, error) {
	return f.read("get", key)
}

func (f *fakeEngine) Has(_ context.Context, key ds.Key) (bool, error) {
	return f.has("has", key)
}

// has reports whether key is stored; only an injected fault is an error.
func (f *fakeEngine) has(op string, key ds.Key) (bool, error) {
	defer f.end()
	if err := f.begin(op, key.String()); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.data[key.String()]
	return ok, nil
}

func (f *fakeEngine) GetSize(_ context.Context, key ds.Key) (int, error) {
	v, err := f.read("getsize", key)
	if err != nil {
		return -1, err
	}
	return len(v), nil
}

func (f *fakeEngine) Put(_ context.Context, key ds.Key, value []byte) error {
	return f.write("put", key, value, false)
}

func (f *fakeEngine) Delete(_ context.Context, key ds.Key) error {
	return f.write("delete", key, nil, true)
}

func (f *fakeEngine) Sync(_ context.Context, prefix ds.Key) error {
	defer f.end()
	return f.begin("sync", prefix.String())
}

func (f *fakeEngine) Close() error {
	defer f.end()
	f.mu.Lock()
	if f.inFlight > 0 {
		f.closedMidOp = true
	}
	f.closes++
	f.mu.Unlock()
	return f.begin("close", "")
}

func (f *fakeEngine) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	return f.query("query", q)
}

func (f *fakeEngine) query(op string, q dsq.Query) (dsq.Results, error) {
	defer f.end()
	if err := f.begin(op, q.Prefix); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	prefix := strings.TrimSuffix(q.Prefix, "/") + "/"
	var entries []dsq.Entry
	for k, v := range f.data {
		if strings.HasPrefix(k, prefix) {
			entries = append(entries, dsq.Entry{Key: k, Value: v, Size: -1})
		}
	}
	slices.SortFunc(entries, func(a, b dsq.Entry) int { return strings.Compare(a.Key, b.Key) })
	filter := func(es []dsq.Entry) []dsq.Entry {
		return slices.DeleteFunc(es, func(e dsq.Entry) bool {
			return slices.ContainsFunc(q.Filters, func(fl dsq.Filter) bool { return !fl.Filter(e) })
		})
	}
	window := func(es []dsq.Entry) []dsq.Entry {
		es = es[min(q.Offset, len(es)):]
		if q.Limit > 0 {
			es = es[:min(q.Limit, len(es))]
		}
		return es
	}
	if f.offsetFirst {
		entries = filter(window(entries))
	} else {
		entries = window(filter(entries))
	}

	f.openResults++
	i, closed := 0, false
	return dsq.ResultsFromIterator(q, dsq.Iterator{
		Next: func() (dsq.Result, bool) {
			defer f.end()
			err := f.begin("next", q.Prefix)
			f.mu.Lock()
			after := f.nextFaultAfter
			f.mu.Unlock()
			if err != nil && i == after {
				return dsq.Result{Error: err}, true
			}
			if i >= len(entries) {
				return dsq.Result{}, false
			}
			i++
			return dsq.Result{Entry: entries[i-1]}, true
		},
		Close: func() error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if !closed {
				closed = true
				f.openResults--
				f.calls = append(f.calls, "close results "+q.Prefix)
			}
			return nil
		},
	}), nil
}

func (f *fakeEngine) Batch(context.Context) (ds.Batch, error) {
	defer f.end()
	if err := f.begin("batch", ""); err != nil {
		return nil, err
	}
	return &fakeBatch{f: f, prefix: "batch."}, nil
}

// fakeBatch queues writes, keeping the caller's slices, and applies them at
// Commit. It is also the write half of fakeTxn.
type fakeBatch struct {
	f      *fakeEngine
	prefix string // "batch." or "txn."
	keys   []ds.Key
	values [][]byte
	dels   []bool
}

func (b *fakeBatch) Put(_ context.Context, key ds.Key, value []byte) error {
	defer b.f.end()
	if err := b.f.begin(b.prefix+"put", key.String()); err != nil {
		return err
	}
	b.keys, b.values, b.dels = append(b.keys, key), append(b.values, value), append(b.dels, false)
	return nil
}

func (b *fakeBatch) Delete(_ context.Context, key ds.Key) error {
	defer b.f.end()
	if err := b.f.begin(b.prefix+"delete", key.String()); err != nil {
		return err
	}
	b.keys, b.values, b.dels = append(b.keys, key), append(b.values, nil), append(b.dels, true)
	return nil
}

func (b *fakeBatch) Commit(context.Context) error {
	defer b.f.end()
	if err := b.f.begin(b.prefix+"commit", ""); err != nil {
		return err
	}
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	for i, k := range b.keys {
		if b.dels[i] {
			delete(b.f.data, k.String())
		} else {
			b.f.data[k.String()] = b.values[i]
		}
	}
	return nil
}

func (f *fakeEngine) NewTransaction(context.Context, bool) (ds.Txn, error) {
	defer f.end()
	if err := f.begin("txn", ""); err != nil {
		return nil, err
	}
	return &fakeTxn{fakeBatch{f: f, prefix: "txn."}}, nil
}

// fakeTxn reads the engine's committed data and queues its writes.
type fakeTxn struct {
	fakeBatch
}

func (t *fakeTxn) Get(_ context.Context, key ds.Key) ([]byte, error) {
	return t.f.read("txn.get", key)
}

func (t *fakeTxn) Has(_ context.Context, key ds.Key) (bool, error) {
	return t.f.has("txn.has", key)
}

func (t *fakeTxn) GetSize(_ context.Context, key ds.Key) (int, error) {
	v, err := t.f.read("txn.getsize", key)
	if err != nil {
		return -1, err
	}
	return len(v), nil
}

func (t *fakeTxn) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	return t.f.query("txn.query", q)
}

func (t *fakeTxn) Discard(context.Context) {
	defer t.f.end()
	_ = t.f.begin("txn.discard", "")
}

func (f *fakeEngine) PutWithTTL(_ context.Context, key ds.Key, value []byte, ttl time.Duration) error {
	if err := f.write("putttl", key, value, false); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expires[key.String()] = time.Unix(0, 0).Add(ttl)
	return nil
}

func (f *fakeEngine) SetTTL(_ context.Context, key ds.Key, ttl time.Duration) error {
	defer f.end()
	if err := f.begin("setttl", key.String()); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.data[key.String()]; !ok {
		return ds.ErrNotFound
	}
	f.expires[key.String()] = time.Unix(0, 0).Add(ttl)
	return nil
}

func (f *fakeEngine) GetExpiration(_ context.Context, key ds.Key) (time.Time, error) {
	defer f.end()
	if err := f.begin("getexp", key.String()); err != nil {
		return time.Time{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.expires[key.String()]
	if !ok {
		return time.Time{}, ds.ErrNotFound
	}
	return t, nil
}

// The views below present the fake with fewer optional interfaces: an
// embedded interface promotes only its own methods.
type (
	plainEngine struct{ ds.Batching }
	ttlEngine   struct {
		ds.Batching
		ds.TTL
	}
	txnEngine struct {
		ds.Batching
		ds.TxnFeature
	}
)
