package core

import (
	"bytes"
	"context"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// SeekQuery is a query that starts at a key. It selects the entries under
// Prefix (as a go-datastore query's prefix) whose keys are Start or after,
// in ascending key order; or, with Descending, those whose keys are before
// Start, in descending order. An empty Start starts at the first entry
// under Prefix (the last one, descending). So "the first 100 from k" is
// {Start: k, Limit: 100} and "the last 100 before k" is {Start: k,
// Descending: true, Limit: 100}.
type SeekQuery struct {
	Prefix     string
	Start      string
	Descending bool
	// Limit, when positive, is the most entries returned.
	Limit int
	// KeysOnly returns entries without values.
	KeysOnly bool
}

// Seeker is implemented by a backend that runs a SeekQuery by seeking to
// its start, without reading the entries before it. Engines whose
// iterators seek (pebble, LevelDB, Badger) implement it in their adapters;
// a Backend implements it always: through the engine's seek when the
// engine has one, and otherwise by reading the engine's entries in order
// and skipping those before the start. Either way the results are the same.
//
// The results read the engine lazily, as the caller asks for entries, and
// must be closed before the engine is.
type Seeker interface {
	QueryFrom(ctx context.Context, q SeekQuery) (dsq.Results, error)
}

// QueryFrom runs q on r: through r's seek when r is a [Seeker], and
// otherwise by reading r's entries under q.Prefix in q's order and
// skipping those before q.Start. Use it to read a ds.Read that may or may
// not be a Backend. A Backend applies its rules first; an engine never
// sees a query whose Bounds are empty.
func QueryFrom(ctx context.Context, r ds.Read, q SeekQuery) (dsq.Results, error) {
	if b, ok := r.(interface{ rules() *store }); ok {
		return b.rules().QueryFrom(ctx, q)
	}
	if lo, hi := q.Bounds(); bytes.Compare(lo, hi) >= 0 {
		return dsq.ResultsWithEntries(q.Query(), nil), nil
	}
	if s, ok := r.(Seeker); ok {
		return s.QueryFrom(ctx, q)
	}
	return scanFrom(ctx, r, q)
}

// Bounds returns the keys q selects as the half-open interval [lo, hi) of
// key bytes: an engine iterator bounded by it returns exactly q's entries,
// ascending from lo or, with Descending, descending from just before hi.
// lo >= hi means q selects nothing.
func (q SeekQuery) Bounds() (lo, hi []byte) {
	under := prefixBound(q.Prefix)
	lo = []byte(under)
	// Every key under the prefix sorts before the prefix with its final
	// slash raised to the next byte, '0'.
	hi = append([]byte(under[:len(under)-1]), '/'+1)
	start := []byte(q.Start)
	switch {
	case q.Start == "":
	case !q.Descending && bytes.Compare(start, lo) > 0:
		lo = start
	case q.Descending && bytes.Compare(start, hi) < 0:
		hi = start
	}
	return lo, hi
}

// Query is the go-datastore query that selects the entries under q.Prefix
// in q's order, before the start is applied.
func (q SeekQuery) Query() dsq.Query {
	order := dsq.Order(dsq.OrderByKey{})
	if q.Descending {
		order = dsq.OrderByKeyDescending{}
	}
	return dsq.Query{Prefix: q.Prefix, KeysOnly: q.KeysOnly, Orders: []dsq.Order{order}, Limit: q.Limit}
}

// prefixBound is what every key under a query's prefix starts with: the
// clean prefix and a slash ("/" for the root).
func prefixBound(prefix string) string {
	under := ds.NewKey(prefix).String()
	if under != "/" {
		under += "/"
	}
	return under
}

// inside reports whether key lies within [lo, hi).
func inside(key string, lo, hi []byte) bool {
	return string(lo) <= key && key < string(hi)
}

// scanFrom runs q on r without a seek: it reads the entries under q.Prefix
// in q's order and skips those before the start.
func scanFrom(ctx context.Context, r ds.Read, q SeekQuery) (dsq.Results, error) {
	eq := q.Query()
	if q.Start != "" {
		eq.Limit = 0 // the entries skipped must not count
	}
	res, err := r.Query(ctx, eq)
	if err != nil {
		return nil, err
	}
	lo, hi := q.Bounds()
	sent := 0
	return dsq.ResultsFromIterator(q.Query(), dsq.Iterator{
		Next: func() (dsq.Result, bool) {
			if q.Limit > 0 && sent >= q.Limit {
				return dsq.Result{}, false
			}
			for {
				r, ok := res.NextSync()
				if !ok || r.Error != nil {
					return r, ok
				}
				if inside(r.Key, lo, hi) {
					sent++
					return r, true
				}
			}
		},
		Close: res.Close,
	}), nil
}

// Cursor is an engine iterator bounded by a SeekQuery's Bounds: what an
// adapter hands [CursorResults], which calls First then Next for an
// ascending query and Last then Prev for a descending one. Each move
// reports whether the cursor is on an entry within the bounds.
type Cursor interface {
	First() bool
	Last() bool
	Next() bool
	Prev() bool
	// Key is the current entry's key, valid until the next move.
	Key() []byte
	// Value is the current entry's value, valid until the next move.
	Value() ([]byte, error)
	// Err is the error that ended the iteration, if any.
	Err() error
	// Close releases the iterator.
	Close() error
}

// CursorResults presents c, an iterator over q's Bounds, as q's results,
// read lazily in the caller's goroutine: it moves c in q's order, copies
// keys and values, stops after q.Limit entries or the first error, and
// closes c once.
func CursorResults(q SeekQuery, c Cursor) dsq.Results {
	move := c.First
	if q.Descending {
		move = c.Last
	}
	sent, done, closed := 0, false, false
	return dsq.ResultsFromIterator(q.Query(), dsq.Iterator{
		Next: func() (dsq.Result, bool) {
			if done || q.Limit > 0 && sent >= q.Limit {
				return dsq.Result{}, false
			}
			ok := move()
			if move = c.Next; q.Descending {
				move = c.Prev
			}
			if !ok {
				done = true
				if err := c.Err(); err != nil {
					return dsq.Result{Error: err}, true
				}
				return dsq.Result{}, false
			}
			sent++
			e := dsq.Entry{Key: string(c.Key())}
			if !q.KeysOnly {
				v, err := c.Value()
				if err != nil {
					done = true
					return dsq.Result{Error: err}, true
				}
				e.Value, e.Size = append([]byte{}, v...), len(v)
			}
			return dsq.Result{Entry: e}, true
		},
		Close: func() error {
			if closed {
				return nil
			}
			closed = true
			return c.Close()
		},
	})
}
