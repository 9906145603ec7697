package leveldbstore

import (
	"context"

	dsq "github.com/ipfs/go-datastore/query"
	leveldbds "github.com/ipfs/go-ds-leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/netabase/netabase/core"
)

// engine is go-ds-leveldb with a seek: QueryFrom iterates LevelDB itself,
// over the same keys go-ds-leveldb writes (a datastore key's bytes).
type engine struct {
	*leveldbds.Datastore
}

var _ core.Seeker = engine{}

func (e engine) QueryFrom(_ context.Context, q core.SeekQuery) (dsq.Results, error) {
	lo, hi := q.Bounds()
	return core.CursorResults(q, cursor{e.DB.NewIterator(&util.Range{Start: lo, Limit: hi}, nil)}), nil
}

// cursor is a bounded LevelDB iterator as a core.Cursor.
type cursor struct {
	iterator.Iterator
}

func (c cursor) Value() ([]byte, error) { return c.Iterator.Value(), nil }
func (c cursor) Err() error             { return c.Error() }
func (c cursor) Close() error           { c.Release(); return nil }
