package model

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
)

// Collection is a named set of values of the struct type T, keyed by its
// field tagged netabase:"key", whose type is K. Open one with [Open]. A
// Collection is safe for concurrent use.
type Collection[K, T any] struct {
	*base[T]
}

// base is the part of a collection that does not depend on its key type.
type base[T any] struct {
	s    *Store
	st   *state
	l    *layout
	name string
	opts options

	prefix      string // "/model/<name>"
	valuePrefix string // "/model/<name>/v/"
	indexPrefix string // "/model/<name>/i/"
}

// Option configures a collection.
type Option func(*options)

type options struct {
	version    uint32
	migrations map[uint32]migration
	buffer     int
	errs       []error
}

// DefaultWatchBuffer is how many changes a watcher may fall behind by
// before it misses some; see [Collection.Watch].
const DefaultWatchBuffer = 1024

// Version sets the schema version of the collection's values; it starts at
// 1. Raise it when the struct changes in a way that old values no longer
// fit, and register a [Migrate] from the old version.
func Version(v uint32) Option {
	return func(o *options) {
		if v == 0 {
			o.errs = append(o.errs, errors.New("schema versions start at 1"))
		}
		o.version = v
	}
}

// WatchBuffer sets how many changes each watcher may fall behind by before
// it misses some (DefaultWatchBuffer when not set).
func WatchBuffer(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.errs = append(o.errs, fmt.Errorf("a watch buffer of %d changes is too small", n))
		}
		o.buffer = n
	}
}

// Open opens the collection called name in s, whose values are of the
// struct type T with a key field of type K. It stores the collection's
// schema on first use; later it checks that T still fits the stored schema,
// migrates stored values when a [Migrate] option covers the stored version,
// and builds or drops index entries when T's indexes changed.
//
// A name may be opened again on the same Store with the same types and
// version; both values then share one writer lock and one change feed.
// A synced collection is opened with [OpenSynced].
func Open[K, T any](ctx context.Context, s *Store, name string, opts ...Option) (*Collection[K, T], error) {
	return open[K, T](ctx, s, name, nil, opts)
}

// open opens the collection called name, synced with r unless r is nil.
func open[K, T any](ctx context.Context, s *Store, name string, r Replica, opts []Option) (*Collection[K, T], error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	l, err := analyze(reflect.TypeFor[T]())
	if err != nil {
		return nil, fmt.Errorf("model: collection %q: %w", name, err)
	}
	if kt := reflect.TypeFor[K](); kt != l.key.typ {
		return nil, fmt.Errorf("model: collection %q: the key field %s is a %s, not a %s", name, l.key.name, l.key.typ, kt)
	}
	c := &base[T]{
		s: s, l: l, name: name,
		opts:        options{version: 1, buffer: DefaultWatchBuffer},
		prefix:      "/model/" + name,
		valuePrefix: "/model/" + name + "/v/",
		indexPrefix: "/model/" + name + "/i/",
	}
	for _, o := range opts {
		o(&c.opts)
	}
	if err := errors.Join(c.opts.errs...); err != nil {
		return nil, fmt.Errorf("model: collection %q: %w", name, err)
	}
	for from, m := range c.opts.migrations {
		if m.to != l.typ {
			return nil, fmt.Errorf("model: collection %q: the migration from version %d returns %s, not %s", name, from, m.to, l.typ)
		}
		if from >= c.opts.version {
			return nil, fmt.Errorf("model: collection %q: a migration from version %d does not lead up to version %d", name, from, c.opts.version)
		}
	}

	if r != nil && s.net == nil {
		return nil, fmt.Errorf("model: collection %q: a synced collection needs a Store made with model.New", name)
	}
	if r != nil {
		// A synced collection's values are stored by writer first; an
		// index on the key keeps them by key too, for Range.
		ko := l.key
		ko.name = keyOrder
		l.indexes = append([]field{ko}, l.indexes...)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.closed(); err != nil {
		return nil, fmt.Errorf("model: collection %q: %w", name, err)
	}
	if st := s.colls[name]; st != nil {
		if st.typ != l.typ || st.key != l.key.typ || st.version != c.opts.version || (st.sync != nil) != (r != nil) {
			return nil, fmt.Errorf("model: collection %q is already open as %s keyed by %s, version %d, synced: %v", name, st.typ, st.key, st.version, st.sync != nil)
		}
		c.st = st
		return &Collection[K, T]{c}, nil
	}
	st := &state{typ: l.typ, key: l.key.typ, version: c.opts.version}
	if r != nil {
		st.sync = &syncState{r: r, self: s.net.ID()}
	}
	st.hub.init()
	c.st = st
	if err := c.openSchema(ctx); err != nil {
		return nil, fmt.Errorf("model: collection %q: %w", name, err)
	}
	if st.sync != nil {
		if err := c.startSync(ctx); err != nil {
			return nil, fmt.Errorf("model: collection %q: %w", name, err)
		}
	}
	s.colls[name] = st
	s.startPump()
	return &Collection[K, T]{c}, nil
}

// Name is the collection's name.
func (c *Collection[K, T]) Name() string { return c.name }

// Version is the schema version the collection writes.
func (c *Collection[K, T]) Version() uint32 { return c.opts.version }

func (c *base[T]) errorf(format string, args ...any) error {
	return fmt.Errorf("model: collection %q: "+format, append([]any{c.name}, args...)...)
}

// keyBinary is the binary form of key.
func (c *Collection[K, T]) keyBinary(key K) []byte {
	return c.l.key.kind.appendBinary(nil, reflect.ValueOf(key))
}

// keyOf returns the datastore key of this node's value whose key is key,
// and the value's id, in one allocation for the text of a local
// collection's key.
func (c *Collection[K, T]) keyOf(key K) (ds.Key, string) {
	var bin [timeSize]byte
	b := c.l.key.kind.appendBinary(bin[:0], reflect.ValueOf(key))
	if c.st.sync != nil {
		id := c.ownID(segment(b))
		return c.valueKey(id), id
	}
	text := make([]byte, 0, len(c.valuePrefix)+max(len(emptySegment), segEncoding.EncodedLen(len(b))))
	s := string(appendSegment(append(text, c.valuePrefix...), b))
	return ds.RawKey(s), s[len(c.valuePrefix):]
}

// valueKey is the datastore key of the value whose id is id: in a local
// collection its key segment, in a synced one "<writer>/<key segment>".
func (c *base[T]) valueKey(id string) ds.Key {
	return ds.RawKey(c.valuePrefix + id)
}

// describeKey shows the key of the value whose id is id in an error
// message, with its writer in a synced collection.
func (c *base[T]) describeKey(id string) string {
	w, kseg := splitID(id)
	if w != "" {
		w = " of " + w
	}
	b, err := parseSegment(kseg)
	if err != nil {
		return "segment " + kseg + w
	}
	v, err := c.l.key.kind.decodeBinary(b, c.l.key.typ)
	if err != nil {
		return "segment " + kseg + w
	}
	return formatValue(v) + w
}

func (c *base[T]) corrupt(id string, err error) error {
	return c.errorf("key %s: %w: %v", c.describeKey(id), ErrCorrupt, err)
}

// decodeStored decodes the stored value data whose id is id, checking that
// it holds that id's key.
func (c *base[T]) decodeStored(id string, data []byte) (T, error) {
	var v T
	version, body, err := splitStored(data)
	if err != nil {
		return v, c.corrupt(id, err)
	}
	if v, err = c.decodeVersion(version, body); err != nil {
		if errors.Is(err, core.ErrUnsupported) { // a newer program wrote it
			return v, c.errorf("key %s: %w", c.describeKey(id), err)
		}
		return v, c.corrupt(id, err)
	}
	_, kseg := splitID(id)
	var bin, seg [64]byte
	if got := appendSegment(seg[:0], c.l.key.kind.appendBinary(bin[:0], reflect.ValueOf(&v).Elem().Field(c.l.key.index))); string(got) != kseg {
		return v, c.corrupt(id, fmt.Errorf("the value holds key %s", c.describeKey(string(got))))
	}
	return v, nil
}

// decodeVersion decodes a value written with schema version version: the
// collection's own version, one whose values fit it, or one a migration
// covers.
func (c *base[T]) decodeVersion(version uint32, body []byte) (T, error) {
	var v T
	switch {
	case version > c.opts.version:
		return v, core.Errorf(core.ErrUnsupported, "written with schema version %d, newer than version %d this program reads", version, c.opts.version)
	case version >= c.st.floor:
		return v, decodeCBOR(body, &v)
	}
	if m, ok := c.opts.migrations[version]; ok {
		out, err := m.run(body)
		if err != nil {
			return v, fmt.Errorf("migrating from schema version %d: %w", version, err)
		}
		return out.(T), nil
	}
	return v, core.Errorf(core.ErrUnsupported, "written with schema version %d, which this program reads only through a migration; register model.Migrate from version %d", version, version)
}

// Get returns the value whose key is key (in a synced collection, this
// node's own value; see GetFrom for another writer's). The error wraps
// core.ErrNotFound when there is none; in a synced collection it then
// names some of the writers that hold a value for the key, if any do (it
// looks under a bounded number of writers, not every writer ever seen).
func (c *Collection[K, T]) Get(ctx context.Context, key K) (T, error) {
	var zero T
	if err := c.s.closed(); err != nil {
		return zero, c.errorf("get: %w", err)
	}
	dk, id := c.keyOf(key)
	data, err := c.s.b.Get(ctx, dk)
	if errors.Is(err, core.ErrNotFound) && c.st.sync != nil {
		err = c.othersHold(ctx, id, err)
	}
	if err != nil {
		return zero, c.errorf("get %s: %w", formatValue(reflect.ValueOf(key)), err)
	}
	return c.decodeStored(id, data)
}

// Has reports whether the collection holds a value whose key is key (in a
// synced collection, a value of this node's).
func (c *Collection[K, T]) Has(ctx context.Context, key K) (bool, error) {
	if err := c.s.closed(); err != nil {
		return false, c.errorf("has: %w", err)
	}
	dk, _ := c.keyOf(key)
	ok, err := c.s.b.Has(ctx, dk)
	if err != nil {
		return false, c.errorf("has %s: %w", formatValue(reflect.ValueOf(key)), err)
	}
	return ok, nil
}

// Put stores v under its key, replacing any value there, and updates the
// indexes in the same batch (or transaction, where the backend has them).
// When v would give a unique index a second value, Put changes nothing and
// returns an error wrapping core.ErrConflict that names the index and value.
//
// In a synced collection, Put stores this node's value for the key and
// writes it, signed, to the replica, which publishes it to the peers.
func (c *Collection[K, T]) Put(ctx context.Context, v T) error {
	return c.PutMany(ctx, []T{v})
}

// PutMany stores every value of vs, in order, as one batch or transaction:
// all are stored or, on error, none. In a synced collection each value is
// a record of its own, and the records enter the local replica in one
// write (Replica.PutMany), all of them or none, before the local batch
// commits: when one cannot be stored (too large for the collection's
// bounds, or more at once than the bounds keep), PutMany stores none, in
// the replica or the collection, and the error says why. Peers receive
// the records one by one, as separate records, and may show some before
// the others. When the local batch fails after the replica took them, the
// collection takes them from the replica.
func (c *Collection[K, T]) PutMany(ctx context.Context, vs []T) error {
	ops := make([]op, len(vs))
	for i := range vs {
		rv := reflect.ValueOf(&vs[i]).Elem()
		data, err := c.encode(rv, func() ([]byte, error) { return encodeStored(c.opts.version, &vs[i]) })
		if err != nil {
			return c.errorf("put %s: %w", formatValue(rv.Field(c.l.key.index)), err)
		}
		id := c.ownID(segment(c.l.key.kind.appendBinary(nil, rv.Field(c.l.key.index))))
		ops[i] = op{id: id, val: data, entries: c.entries(rv, id), publish: c.st.sync != nil}
	}
	return c.apply(ctx, ops)
}

// encode runs enc, which encodes the value rv, after checking that rv can
// be encoded and decoded again when its type lets it nest.
func (c *base[T]) encode(rv reflect.Value, enc func() ([]byte, error)) ([]byte, error) {
	if c.l.nests {
		if err := checkNesting(rv); err != nil {
			return nil, fmt.Errorf("encoding the value: %w", err)
		}
	}
	data, err := enc()
	if err != nil {
		return nil, fmt.Errorf("encoding the value: %w", err)
	}
	return data, nil
}

// Delete removes the value whose key is key and its index entries. Deleting
// a key that holds nothing does nothing. In a synced collection it removes
// this node's value and writes a tombstone for it to the replica, which
// removes the value on every peer.
func (c *Collection[K, T]) Delete(ctx context.Context, key K) error {
	_, id := c.keyOf(key)
	return c.apply(ctx, []op{{id: id, del: true, publish: c.st.sync != nil}})
}

// Count returns how many values the collection holds (every writer's, in a
// synced collection). It reads every key.
func (c *Collection[K, T]) Count(ctx context.Context) (int, error) {
	n := 0
	for _, err := range c.keys(ctx, c.valuePrefix[:len(c.valuePrefix)-1]) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// entry is one index entry of a value.
type entry struct {
	key   string // the datastore key: <indexPrefix><index>/<value>/<id>
	claim string // the key without its last segment: what a unique index lets one key hold
	uniq  bool
}

// entries returns the index entries of the value rv, whose id is id. In a
// synced collection an entry is <index>/<value>/<writer>/<key>: a value is
// found across writers, and its claim, <index>/<value>/<writer>, makes a
// unique index unique per writer.
func (c *base[T]) entries(rv reflect.Value, id string) []entry {
	out := make([]entry, len(c.l.indexes))
	var buf []byte
	for i, f := range c.l.indexes {
		buf = append(buf[:0], f.name...)
		buf = append(buf, '/')
		buf = appendSegment(buf, f.kind.appendBinary(nil, rv.Field(f.index)))
		key := c.indexPrefix + string(buf) + "/" + id
		out[i] = entry{key: key, claim: claimOf(key[len(c.indexPrefix):]), uniq: f.unique}
	}
	return out
}

// claimOf is the claim of an index entry key without the index prefix.
func claimOf(key string) string { return key[:strings.LastIndexByte(key, '/')] }

// lastSegment returns what follows the last '/' of key.
func lastSegment(key string) string {
	return key[strings.LastIndexByte(key, '/')+1:]
}
