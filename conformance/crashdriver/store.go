package crashdriver

import (
	"context"
	"sync"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// store is the parent's end of a store a child holds. Calls go one at a
// time; core's wrapper, which every store is opened through, checks keys,
// values and contexts before they get here.
type store struct {
	mu sync.Mutex
	c  *child // nil once closed or crashed
}

var _ ds.Batching = (*store)(nil)

func (s *store) call(req *request) (*response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil, core.ErrClosed
	}
	return s.c.call(req)
}

func (s *store) Get(_ context.Context, k ds.Key) ([]byte, error) {
	resp, err := s.call(&request{Op: opGet, Key: k.String()})
	if err != nil {
		return nil, err
	}
	return nonNil(resp.Value), nil
}

func (s *store) Has(_ context.Context, k ds.Key) (bool, error) {
	resp, err := s.call(&request{Op: opHas, Key: k.String()})
	if err != nil {
		return false, err
	}
	return resp.Has, nil
}

func (s *store) GetSize(_ context.Context, k ds.Key) (int, error) {
	resp, err := s.call(&request{Op: opGetSize, Key: k.String()})
	if err != nil {
		return -1, err
	}
	return resp.Size, nil
}

func (s *store) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	wq, err := encodeQuery(q)
	if err != nil {
		return nil, err
	}
	resp, err := s.call(&request{Op: opQuery, Query: wq})
	if err != nil {
		return nil, err
	}
	if !q.KeysOnly {
		for i := range resp.Entries {
			resp.Entries[i].Value = nonNil(resp.Entries[i].Value)
		}
	}
	return dsq.ResultsWithEntries(q, resp.Entries), nil
}

func (s *store) Put(_ context.Context, k ds.Key, v []byte) error {
	_, err := s.call(&request{Op: opPut, Key: k.String(), Value: v})
	return err
}

func (s *store) Delete(_ context.Context, k ds.Key) error {
	_, err := s.call(&request{Op: opDelete, Key: k.String()})
	return err
}

func (s *store) Sync(_ context.Context, prefix ds.Key) error {
	_, err := s.call(&request{Op: opSync, Key: prefix.String()})
	return err
}

func (s *store) Batch(context.Context) (ds.Batch, error) { return &batch{s: s}, nil }

// Close closes the store and waits for its child to exit. It does nothing
// on a store that was crashed or closed already.
func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	c := s.c
	s.c = nil
	_, err := c.call(&request{Op: opClose})
	if err != nil {
		_ = c.kill()
		return err
	}
	return c.wait()
}

// batch collects its writes and sends them to the child on Commit.
type batch struct {
	s   *store
	ops []batchOp
}

func (b *batch) Put(_ context.Context, k ds.Key, v []byte) error {
	b.ops = append(b.ops, batchOp{Key: k.String(), Value: v})
	return nil
}

func (b *batch) Delete(_ context.Context, k ds.Key) error {
	b.ops = append(b.ops, batchOp{Key: k.String(), Delete: true})
	return nil
}

func (b *batch) Commit(context.Context) error {
	_, err := b.s.call(&request{Op: opCommit, Batch: b.ops})
	return err
}

// nonNil undoes gob's sending an empty value as nil.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
