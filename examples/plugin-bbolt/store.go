package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	bolt "go.etcd.io/bbolt"
)

// bucket holds every key; keys are the datastore keys' bytes, so bbolt's
// byte order is the datastore's key order.
var bucket = []byte("netabase")

// pageSize is how many entries a query reads per read transaction. Reading
// in pages keeps no transaction open while the host consumes results, so a
// writer never waits on a slow reader.
const pageSize = 256

// store is a datastore.Batching over one bbolt file.
type store struct {
	db *bolt.DB
}

var _ datastore.Batching = (*store)(nil)

func openStore(path string) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// A timeout turns a database another process holds into an error
	// instead of a wait without end.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("cannot open %s: it is in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cannot prepare %s: %w", path, err)
	}
	// Single puts and deletes go through db.Batch, which commits the
	// writes of concurrent callers in one transaction (one fsync); a lone
	// caller waits at most this long for company.
	db.MaxBatchDelay = 500 * time.Microsecond
	return &store{db: db}, nil
}

// lookup returns key's value within tx (valid only inside tx) and whether
// it is there. A cursor tells an empty value from a missing one.
func lookup(tx *bolt.Tx, key datastore.Key) ([]byte, bool) {
	k := []byte(key.String())
	got, v := tx.Bucket(bucket).Cursor().Seek(k)
	return v, got != nil && bytes.Equal(got, k)
}

func (s *store) Get(_ context.Context, key datastore.Key) (value []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v, ok := lookup(tx, key)
		if !ok {
			return datastore.ErrNotFound
		}
		value = bytes.Clone(v)
		if value == nil {
			value = []byte{}
		}
		return nil
	})
	return value, err
}

func (s *store) Has(_ context.Context, key datastore.Key) (exists bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		_, exists = lookup(tx, key)
		return nil
	})
	return exists, err
}

func (s *store) GetSize(_ context.Context, key datastore.Key) (size int, err error) {
	size = -1
	err = s.db.View(func(tx *bolt.Tx) error {
		v, ok := lookup(tx, key)
		if !ok {
			return datastore.ErrNotFound
		}
		size = len(v)
		return nil
	})
	return size, err
}

func (s *store) Put(_ context.Context, key datastore.Key, value []byte) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key.String()), value)
	})
}

func (s *store) Delete(_ context.Context, key datastore.Key) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Delete([]byte(key.String()))
	})
}

// Sync has nothing to do: every commit is already on disk.
func (s *store) Sync(context.Context, datastore.Key) error { return nil }

func (s *store) Close() error { return s.db.Close() }

// Query reads the keys under the prefix in key order, a page at a time,
// and leaves filters, other orders, offset and limit to go-datastore's
// query helpers.
func (s *store) Query(ctx context.Context, q query.Query) (query.Results, error) {
	prefix := datastore.NewKey(q.Prefix).String()
	if prefix != "/" {
		prefix += "/"
	}
	it := &pager{s: s, ctx: ctx, prefix: []byte(prefix), keysOnly: q.KeysOnly, next: []byte(prefix)}
	res := query.ResultsFromIterator(q, query.Iterator{Next: it.nextResult, Close: func() error { return nil }})
	rest := q
	rest.Prefix = ""
	if len(rest.Orders) == 1 {
		if _, ok := rest.Orders[0].(query.OrderByKey); ok {
			rest.Orders = nil // already in key order
		}
	}
	return query.NaiveQueryApply(rest, res), nil
}

// pager walks the keys under a prefix, one read transaction per page.
type pager struct {
	s        *store
	ctx      context.Context
	prefix   []byte
	keysOnly bool
	next     []byte // the first key of the next page
	page     []query.Entry
	done     bool
}

func (p *pager) nextResult() (query.Result, bool) {
	if len(p.page) == 0 && !p.done {
		if err := p.ctx.Err(); err != nil {
			p.done = true
			return query.Result{Error: err}, true
		}
		if err := p.s.db.View(p.read); err != nil {
			p.done = true
			return query.Result{Error: err}, true
		}
	}
	if len(p.page) == 0 {
		return query.Result{}, false
	}
	e := p.page[0]
	p.page = p.page[1:]
	return query.Result{Entry: e}, true
}

// read fills the next page.
func (p *pager) read(tx *bolt.Tx) error {
	c := tx.Bucket(bucket).Cursor()
	for k, v := c.Seek(p.next); k != nil; k, v = c.Next() {
		if !bytes.HasPrefix(k, p.prefix) {
			break
		}
		if len(p.page) == pageSize {
			p.next = bytes.Clone(k)
			return nil
		}
		e := query.Entry{Key: string(k), Size: len(v)}
		if !p.keysOnly {
			e.Value = bytes.Clone(v)
			if e.Value == nil {
				e.Value = []byte{}
			}
		}
		p.page = append(p.page, e)
	}
	p.done = true
	return nil
}

// Batch gathers writes and commits them in one bbolt transaction.
func (s *store) Batch(context.Context) (datastore.Batch, error) {
	return &batch{s: s}, nil
}

type op struct {
	key   datastore.Key
	value []byte
	del   bool
}

type batch struct {
	s   *store
	ops []op
}

func (b *batch) Put(_ context.Context, key datastore.Key, value []byte) error {
	b.ops = append(b.ops, op{key: key, value: value})
	return nil
}

func (b *batch) Delete(_ context.Context, key datastore.Key) error {
	b.ops = append(b.ops, op{key: key, del: true})
	return nil
}

func (b *batch) Commit(context.Context) error {
	err := b.s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		for _, o := range b.ops {
			var err error
			if o.del {
				err = bk.Delete([]byte(o.key.String()))
			} else {
				err = bk.Put([]byte(o.key.String()), o.value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		b.ops = nil
	}
	return err
}
