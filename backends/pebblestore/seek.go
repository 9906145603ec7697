package pebblestore

import (
	"context"

	"github.com/cockroachdb/pebble/v2"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

var _ core.Seeker = (*engine)(nil)

// QueryFrom seeks: it iterates pebble itself, over the same keys
// go-ds-pebble writes (a datastore key's bytes).
func (e *engine) QueryFrom(_ context.Context, q core.SeekQuery) (dsq.Results, error) {
	lo, hi := q.Bounds()
	it, err := e.DB.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, e.checked(err)
	}
	return core.CursorResults(q, cursor{it}), nil
}

// cursor is a bounded pebble iterator as a core.Cursor.
type cursor struct {
	*pebble.Iterator
}

func (c cursor) Value() ([]byte, error) { return c.ValueAndErr() }
func (c cursor) Err() error             { return c.Error() }
