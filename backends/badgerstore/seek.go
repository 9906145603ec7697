package badgerstore

import (
	"bytes"
	"context"

	badger "github.com/dgraph-io/badger/v4"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

var _ core.Seeker = engine{}

// QueryFrom iterates Badger itself, in a read-only transaction, over the
// same keys go-ds-badger4 writes (a datastore key's bytes); Badger's
// iterator leaves out deleted and expired keys as go-ds-badger4's queries
// do.
func (e engine) QueryFrom(_ context.Context, q core.SeekQuery) (dsq.Results, error) {
	lo, hi := q.Bounds()
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Reverse = q.Descending
	// Every key within [lo, hi) starts with their common prefix, which
	// lets Badger skip tables that hold none.
	n := 0
	for n < min(len(lo), len(hi)) && lo[n] == hi[n] {
		n++
	}
	opts.Prefix = lo[:n]
	t := e.DB.NewTransaction(false)
	return core.CursorResults(q, &cursor{t: t, it: t.NewIterator(opts), lo: lo, hi: hi}), nil
}

// cursor is a Badger iterator bounded by [lo, hi) as a core.Cursor. A
// descending query gets a reverse iterator, on which Last seeks and Prev
// moves on.
type cursor struct {
	t      *badger.Txn
	it     *badger.Iterator
	lo, hi []byte
}

func (c *cursor) First() bool {
	c.it.Seek(c.lo)
	return c.valid()
}

func (c *cursor) Last() bool {
	c.it.Seek(c.hi) // the last key at or before hi
	if c.it.Valid() && bytes.Equal(c.it.Item().Key(), c.hi) {
		c.it.Next()
	}
	return c.valid()
}

func (c *cursor) Next() bool { c.it.Next(); return c.valid() }
func (c *cursor) Prev() bool { c.it.Next(); return c.valid() }

func (c *cursor) valid() bool {
	if !c.it.Valid() {
		return false
	}
	k := c.it.Item().Key()
	return bytes.Compare(k, c.lo) >= 0 && bytes.Compare(k, c.hi) < 0
}

func (c *cursor) Key() []byte            { return c.it.Item().Key() }
func (c *cursor) Value() ([]byte, error) { return c.it.Item().ValueCopy(nil) }
func (c *cursor) Err() error             { return nil }

func (c *cursor) Close() error {
	c.it.Close()
	c.t.Discard()
	return nil
}
