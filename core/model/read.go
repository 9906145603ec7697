package model

import (
	"context"
	"errors"
	"iter"
	"reflect"
	"slices"

	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
)

// Range selects the keys, or index values, v with Lo <= v < Hi, in
// ascending order or, with Reverse, descending; a nil bound is open. Limit,
// when positive, is the most values returned.
//
// A range starts at its first value: ascending at Lo, descending just
// before Hi, through the backend's seek (core.Seeker; pebble, LevelDB and
// Badger have one, and core emulates it for other backends by skipping
// entries), so its cost grows with the values it returns, not with the
// collection. Over the keys of a synced collection, whose values are
// stored by writer first, it goes through the collection's index on the
// key, and yields every writer's values by key, then writer.
type Range[V any] struct {
	Lo, Hi  *V
	Reverse bool
	Limit   int
}

// From returns r with the lower bound lo, inclusive.
func (r Range[V]) From(lo V) Range[V] { r.Lo = &lo; return r }

// To returns r with the upper bound hi, exclusive.
func (r Range[V]) To(hi V) Range[V] { r.Hi = &hi; return r }

// bounds is a Range in segments: "" is an open bound.
type bounds struct {
	lo, hi  string
	reverse bool
	limit   int
}

func segmentBounds[V any](k kind, r Range[V]) bounds {
	b := bounds{reverse: r.Reverse, limit: r.Limit}
	if r.Lo != nil {
		b.lo = segment(k.appendBinary(nil, reflect.ValueOf(r.Lo).Elem()))
	}
	if r.Hi != nil {
		b.hi = segment(k.appendBinary(nil, reflect.ValueOf(r.Hi).Elem()))
	}
	return b
}

// scan yields the entries under prefix whose segment, as seg extracts it
// from the key, lies within b, in b's order and up to b's limit. ordered
// says that the keys sort by that segment first: scan then starts at b's
// first segment (through the backend's seek, see core.QueryFrom) and stops
// after its last. When they do not, scan reads every entry.
func (c *base[T]) scan(ctx context.Context, prefix string, keysOnly bool, b bounds, seg func(key string) string, ordered bool) iter.Seq2[dsq.Entry, error] {
	return func(yield func(dsq.Entry, error) bool) {
		if err := c.s.closed(); err != nil {
			yield(dsq.Entry{}, c.errorf("read: %w", err))
			return
		}
		if b.lo != "" && b.hi != "" && b.lo >= b.hi {
			return
		}
		q := core.SeekQuery{Prefix: prefix, KeysOnly: keysOnly, Descending: b.reverse}
		start, end := b.lo, b.hi // the bound met first, and the one met last
		if b.reverse {
			start, end = b.hi, b.lo
		}
		if ordered && start != "" {
			// A segment's keys sort from prefix/segment on, and every
			// key of a lower segment sorts before it.
			q.Start = prefix + "/" + start
		}
		if ordered || start == "" && end == "" {
			q.Limit = b.limit // nothing is skipped, so the engine may stop early
		}
		n := 0
		for e, err := range queryFrom(ctx, c.s.b, q) {
			if err != nil {
				yield(dsq.Entry{}, c.errorf("read: %w", err))
				return
			}
			s := seg(e.Key)
			before := start != "" && (!b.reverse && s < start || b.reverse && s >= start)
			after := end != "" && (!b.reverse && s >= end || b.reverse && s < end)
			if after && ordered {
				return
			}
			if before || after {
				continue
			}
			if !yield(e, nil) {
				return
			}
			if n++; b.limit > 0 && n >= b.limit {
				return
			}
		}
	}
}

// stored yields the values whose keys lie within b, with their writers.
func (c *base[T]) stored(ctx context.Context, b bounds) iter.Seq2[Entry[T], error] {
	return func(yield func(Entry[T], error) bool) {
		prefix := c.valuePrefix[:len(c.valuePrefix)-1]
		keySeg := func(key string) string { _, kseg := splitID(c.keySegment(key)); return kseg }
		for e, err := range c.scan(ctx, prefix, false, b, keySeg, c.st.sync == nil) {
			if err != nil {
				yield(Entry[T]{}, err)
				return
			}
			en, err := c.entryOf(c.keySegment(e.Key), e.Value)
			if !yield(en, err) || err != nil {
				return
			}
		}
	}
}

// entryOf decodes the stored value data whose id is id.
func (c *base[T]) entryOf(id string, data []byte) (Entry[T], error) {
	v, err := c.decodeStored(id, data)
	if err != nil {
		return Entry[T]{}, err
	}
	en := Entry[T]{Value: v}
	if w, _ := splitID(id); w != "" {
		if en.Writer, err = peer.Decode(w); err != nil {
			return Entry[T]{}, c.corrupt(id, err)
		}
	}
	return en, nil
}

// values drops the writers of entries.
func values[T any](entries iter.Seq2[Entry[T], error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for en, err := range entries {
			if !yield(en.Value, err) {
				return
			}
		}
	}
}

// keySegment is the id of the value stored under key.
func (c *base[T]) keySegment(key string) string { return key[len(c.valuePrefix):] }

// indexed yields the values whose value of index f lies within b, with
// their writers, in index order (then id order), reading each from the
// index entry's key.
func (c *base[T]) indexed(ctx context.Context, f *field, b bounds) iter.Seq2[Entry[T], error] {
	return func(yield func(Entry[T], error) bool) {
		prefix := c.indexPrefix + f.name + "/"
		// valueSeg returns the value segment of an entry key, or the
		// whole rest of it for a corrupt key without one, which
		// indexedValue then reports.
		valueSeg := func(key string) string {
			rest := key[len(prefix):]
			if id := c.entryID(rest); len(id) < len(rest) {
				return rest[:len(rest)-len(id)-1]
			}
			return rest
		}
		for e, err := range c.scan(ctx, prefix[:len(prefix)-1], true, b, valueSeg, true) {
			if err != nil {
				yield(Entry[T]{}, err)
				return
			}
			en, ok, err := c.indexedValue(ctx, f, e.Key, valueSeg(e.Key))
			if !ok && err == nil {
				continue
			}
			if !yield(en, err) || err != nil {
				return
			}
		}
	}
}

// indexedValue reads the value that the entry key of index f points to. ok
// is false, with no error, when a concurrent write has just removed the
// value or changed its index value: the entry is then on its way out.
func (c *base[T]) indexedValue(ctx context.Context, f *field, key, vseg string) (en Entry[T], ok bool, err error) {
	id := c.entryID(key)
	if key != c.indexPrefix+f.name+"/"+vseg+"/"+id {
		return en, false, c.errorf("index %s: entry %s: %w: not <value>/<key>", f.name, key, ErrCorrupt)
	}
	if err := c.parseID(id); err != nil {
		return en, false, c.errorf("index %s: entry %s: %w: %v", f.name, key, ErrCorrupt, err)
	}
	data, err := c.s.b.Get(ctx, c.valueKey(id))
	if errors.Is(err, core.ErrNotFound) {
		return en, false, nil
	}
	if err != nil {
		return en, false, c.errorf("read %s: %w", c.describeKey(id), err)
	}
	if en, err = c.entryOf(id, data); err != nil {
		return en, false, err
	}
	if segment(f.kind.appendBinary(nil, reflect.ValueOf(&en.Value).Elem().Field(f.index))) != vseg {
		return en, false, nil
	}
	return en, true, nil
}

// Scan yields every value in key order (in a synced collection, every
// writer's, by writer, then key; see Entries for the writers).
func (c *Collection[K, T]) Scan(ctx context.Context) iter.Seq2[T, error] {
	return values(c.Entries(ctx))
}

// Range yields the values whose keys lie within r, ordered as Scan's (in
// a synced collection, by key, then writer; see RangeEntries).
func (c *Collection[K, T]) Range(ctx context.Context, r Range[K]) iter.Seq2[T, error] {
	return values(c.RangeEntries(ctx, r))
}

// Index is a secondary index of a collection of T, on a field of type V.
// Get one with [IndexOf].
type Index[V, T any] struct {
	c *base[T]
	f *field
}

// IndexOf returns the index on the field called name of c's struct, whose
// type must be V:
//
//	byEmail, err := model.IndexOf[string](users, "Email")
func IndexOf[V, K, T any](c *Collection[K, T], name string) (*Index[V, T], error) {
	i := slices.IndexFunc(c.l.indexes, func(f field) bool { return f.name == name && name != keyOrder })
	if i < 0 {
		var names []string
		for _, f := range c.l.indexes {
			if f.name != keyOrder {
				names = append(names, f.name)
			}
		}
		return nil, c.errorf("no index on a field %q; the indexed fields are %q", name, names)
	}
	f := &c.l.indexes[i]
	if vt := reflect.TypeFor[V](); vt != f.typ {
		return nil, c.errorf("index %s is on a %s, not a %s", name, f.typ, vt)
	}
	return &Index[V, T]{c: c.base, f: f}, nil
}

// Name is the index's name: the name of its field.
func (x *Index[V, T]) Name() string { return x.f.name }

// Unique reports whether the index holds each value at most once.
func (x *Index[V, T]) Unique() bool { return x.f.unique }

// Find yields the values whose indexed field equals v, in key order (in a
// synced collection, every writer's, by writer, then key).
func (x *Index[V, T]) Find(ctx context.Context, v V) iter.Seq2[T, error] {
	return values(x.FindEntries(ctx, v))
}

// find yields the values whose indexed field f equals v, with their
// writers.
func (c *base[T]) find(ctx context.Context, f *field, v any) iter.Seq2[Entry[T], error] {
	vseg := c.valueSegment(f, v)
	return func(yield func(Entry[T], error) bool) {
		if err := c.s.closed(); err != nil {
			yield(Entry[T]{}, c.errorf("find: %w", err))
			return
		}
		for key, err := range c.keys(ctx, c.indexPrefix+f.name+"/"+vseg) {
			if err != nil {
				yield(Entry[T]{}, err)
				return
			}
			en, ok, err := c.indexedValue(ctx, f, key, vseg)
			if !ok && err == nil {
				continue
			}
			if !yield(en, err) || err != nil {
				return
			}
		}
	}
}

// Lookup returns the first value, in key order, whose indexed field equals
// v: for a unique index, the only one. The error wraps core.ErrNotFound when
// there is none.
func (x *Index[V, T]) Lookup(ctx context.Context, v V) (T, error) {
	for val, err := range x.Find(ctx, v) {
		return val, err
	}
	var zero T
	return zero, x.c.errorf("index %s: no value %s: %w", x.f.name, formatValue(reflect.ValueOf(&v).Elem()), core.ErrNotFound)
}

// Range yields the values whose indexed field lies within r, ordered by
// that field, then by key (in reverse, both descending; in a synced
// collection, by field, writer, key).
func (x *Index[V, T]) Range(ctx context.Context, r Range[V]) iter.Seq2[T, error] {
	return values(x.RangeEntries(ctx, r))
}

// Count returns how many values have v in the indexed field. It counts
// index entries without reading the values.
func (x *Index[V, T]) Count(ctx context.Context, v V) (int, error) {
	if err := x.c.s.closed(); err != nil {
		return 0, x.c.errorf("count: %w", err)
	}
	n := 0
	for _, err := range x.c.keys(ctx, x.c.indexPrefix+x.f.name+"/"+x.c.valueSegment(x.f, v)) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// valueSegment is the segment of v, a value of the indexed field f.
func (c *base[T]) valueSegment(f *field, v any) string {
	return segment(f.kind.appendBinary(nil, reflect.ValueOf(v)))
}
