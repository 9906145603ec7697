package model

import (
	"context"
	"errors"
	"iter"
	"reflect"
	"slices"
	"strings"

	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// Range selects the keys, or index values, v with Lo <= v < Hi, in
// ascending order or, with Reverse, descending; a nil bound is open. Limit,
// when positive, is the most values returned.
//
// The backend contract (go-datastore queries) has prefixes but no seek, so
// a range reads the entries before its first value too: ascending from the
// start of the collection or index to Lo, descending from its end to Hi.
// Finding an exact index value reads only its own entries.
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
// from the key, lies within b, in b's order and up to b's limit.
func (c *base[T]) scan(ctx context.Context, prefix string, keysOnly bool, b bounds, seg func(key string) string) iter.Seq2[dsq.Entry, error] {
	return func(yield func(dsq.Entry, error) bool) {
		if err := c.s.closed(); err != nil {
			yield(dsq.Entry{}, c.errorf("read: %w", err))
			return
		}
		if b.lo != "" && b.hi != "" && b.lo >= b.hi {
			return
		}
		q := dsq.Query{Prefix: prefix, KeysOnly: keysOnly, Orders: []dsq.Order{dsq.OrderByKey{}}}
		start, end := b.lo, b.hi // the bound met first, and the one met last
		if b.reverse {
			q.Orders = []dsq.Order{dsq.OrderByKeyDescending{}}
			start, end = b.hi, b.lo
		}
		if start == "" {
			q.Limit = b.limit // nothing is skipped, so the engine may stop early
		}
		n := 0
		for e, err := range query(ctx, c.s.b, q) {
			if err != nil {
				yield(dsq.Entry{}, c.errorf("read: %w", err))
				return
			}
			s := seg(e.Key)
			if !b.reverse {
				if start != "" && s < start {
					continue
				}
				if end != "" && s >= end {
					return
				}
			} else {
				if start != "" && s >= start {
					continue
				}
				if end != "" && s < end {
					return
				}
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

// values yields the values whose keys lie within b.
func (c *base[T]) values(ctx context.Context, b bounds) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		prefix := c.valuePrefix[:len(c.valuePrefix)-1]
		for e, err := range c.scan(ctx, prefix, false, b, c.keySegment) {
			if err != nil {
				yield(zero, err)
				return
			}
			v, err := c.decodeStored(c.keySegment(e.Key), e.Value)
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

func (c *base[T]) keySegment(key string) string { return key[len(c.valuePrefix):] }

// indexed yields the values whose value of index f lies within b, in index
// order (then key order), reading each from the index entry's key.
func (c *base[T]) indexed(ctx context.Context, f *field, b bounds) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		prefix := c.indexPrefix + f.name + "/"
		// valueSeg returns the value segment of an entry key, or the
		// whole rest of it for a corrupt key without one, which
		// indexedValue then reports.
		valueSeg := func(key string) string {
			rest := key[len(prefix):]
			if i := strings.LastIndexByte(rest, '/'); i >= 0 {
				return rest[:i]
			}
			return rest
		}
		for e, err := range c.scan(ctx, prefix[:len(prefix)-1], true, b, valueSeg) {
			if err != nil {
				yield(zero, err)
				return
			}
			v, ok, err := c.indexedValue(ctx, f, e.Key, valueSeg(e.Key))
			if !ok && err == nil {
				continue
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// indexedValue reads the value that the entry key of index f points to. ok
// is false, with no error, when a concurrent write has just removed the
// value or changed its index value: the entry is then on its way out.
func (c *base[T]) indexedValue(ctx context.Context, f *field, key, vseg string) (v T, ok bool, err error) {
	kseg := lastSegment(key)
	if key != c.indexPrefix+f.name+"/"+vseg+"/"+kseg {
		return v, false, c.errorf("index %s: entry %s: %w: not <value>/<key>", f.name, key, ErrCorrupt)
	}
	if _, err := parseSegment(kseg); err != nil {
		return v, false, c.errorf("index %s: entry %s: %w: %v", f.name, key, ErrCorrupt, err)
	}
	data, err := c.s.b.Get(ctx, c.valueKey(kseg))
	if errors.Is(err, core.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, c.errorf("read %s: %w", c.describeKey(kseg), err)
	}
	if v, err = c.decodeStored(kseg, data); err != nil {
		return v, false, err
	}
	if segment(f.kind.appendBinary(nil, reflect.ValueOf(&v).Elem().Field(f.index))) != vseg {
		return v, false, nil
	}
	return v, true, nil
}

// Scan yields every value in key order.
func (c *Collection[K, T]) Scan(ctx context.Context) iter.Seq2[T, error] {
	return c.values(ctx, bounds{})
}

// Range yields the values whose keys lie within r.
func (c *Collection[K, T]) Range(ctx context.Context, r Range[K]) iter.Seq2[T, error] {
	return c.values(ctx, segmentBounds(c.l.key.kind, r))
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
	i := slices.IndexFunc(c.l.indexes, func(f field) bool { return f.name == name })
	if i < 0 {
		var names []string
		for _, f := range c.l.indexes {
			names = append(names, f.name)
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

// Find yields the values whose indexed field equals v, in key order.
func (x *Index[V, T]) Find(ctx context.Context, v V) iter.Seq2[T, error] {
	vseg := x.c.valueSegment(x.f, v)
	return func(yield func(T, error) bool) {
		var zero T
		if err := x.c.s.closed(); err != nil {
			yield(zero, x.c.errorf("find: %w", err))
			return
		}
		for key, err := range x.c.keys(ctx, x.c.indexPrefix+x.f.name+"/"+vseg) {
			if err != nil {
				yield(zero, err)
				return
			}
			val, ok, err := x.c.indexedValue(ctx, x.f, key, vseg)
			if !ok && err == nil {
				continue
			}
			if !yield(val, err) || err != nil {
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
// that field, then by key (in reverse, both descending).
func (x *Index[V, T]) Range(ctx context.Context, r Range[V]) iter.Seq2[T, error] {
	return x.c.indexed(ctx, x.f, segmentBounds(x.f.kind, r))
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
