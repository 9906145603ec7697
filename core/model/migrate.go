package model

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// migration upgrades a value stored with an older schema version.
type migration struct {
	to  reflect.Type
	run func(body []byte) (any, error)
}

// Migrate registers f to upgrade values written with schema version from,
// which decode as Old, to the collection's struct type New. When Open finds
// the collection stored with version from, it rewrites every stored value
// through f (and rebuilds the indexes); Fetch uses f for records published
// with version from. Old is typically the struct as it was in that version.
func Migrate[Old, New any](from uint32, f func(Old) (New, error)) Option {
	return func(o *options) {
		if o.migrations == nil {
			o.migrations = make(map[uint32]migration)
		}
		if _, dup := o.migrations[from]; dup {
			o.errs = append(o.errs, fmt.Errorf("two migrations from version %d", from))
		}
		o.migrations[from] = migration{to: reflect.TypeFor[New](), run: func(body []byte) (any, error) {
			var old Old
			if err := decodeCBOR(body, &old); err != nil {
				return nil, err
			}
			n, err := f(old)
			return n, err
		}}
	}
}

// descriptor is a collection's schema as stored under /model/<name>/schema.
type descriptor struct {
	Version uint32 `cbor:"1,keyasint"`
	// Floor: values written with any version from Floor to Version have
	// the shape Value (later versions only added fields, or dropped some).
	Floor   uint32      `cbor:"2,keyasint"`
	Key     indexDesc   `cbor:"3,keyasint"`
	Indexes []indexDesc `cbor:"4,keyasint"`
	Value   *typeDesc   `cbor:"5,keyasint"`
	// Rebuild is set while the indexes are rebuilt or values migrated;
	// an Open that finds it set does the work again.
	Rebuild bool `cbor:"6,keyasint,omitempty"`
	// Synced marks a synced collection, whose values are keyed by writer
	// and key.
	Synced bool `cbor:"7,keyasint,omitempty"`
}

type indexDesc struct {
	Field  string `cbor:"1,keyasint"`
	Kind   string `cbor:"2,keyasint"`
	Unique bool   `cbor:"3,keyasint,omitempty"`
}

// chunk is how many entries a rebuild or migration writes per batch; it
// keeps batches within every engine's limits (Badger's in particular).
const chunk = 1000

func (c *base[T]) schemaKey() ds.Key { return ds.RawKey(c.prefix + "/schema") }

func (c *base[T]) descriptor() descriptor {
	d := descriptor{
		Version: c.opts.version,
		Floor:   c.opts.version,
		Key:     indexDesc{Field: c.l.key.name, Kind: c.l.key.kind.String()},
		Value:   c.l.value,
		Synced:  c.st.sync != nil,
	}
	for _, f := range c.l.indexes {
		d.Indexes = append(d.Indexes, indexDesc{Field: f.name, Kind: f.kind.String(), Unique: f.unique})
	}
	return d
}

// openSchema checks the collection's struct against the stored schema,
// migrates and re-indexes as needed, stores the schema, and sets the
// state's floor. The caller holds the Store's lock, so no writer runs.
func (c *base[T]) openSchema(ctx context.Context) error {
	cur := c.descriptor()
	data, err := c.s.b.Get(ctx, c.schemaKey())
	if errors.Is(err, core.ErrNotFound) {
		for k, err := range c.keys(ctx, c.prefix) {
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: %s is stored but the collection's schema descriptor is missing", ErrCorrupt, k)
		}
		c.st.floor = cur.Floor
		return c.putDescriptor(ctx, cur)
	}
	if err != nil {
		return fmt.Errorf("reading the schema: %w", err)
	}
	var stored descriptor
	if err := decodeCBOR(data, &stored); err != nil || stored.Version == 0 || stored.Floor > stored.Version || stored.Value == nil {
		return fmt.Errorf("%w: the schema descriptor %s does not decode: %v", ErrCorrupt, c.schemaKey(), err)
	}

	if stored.Synced != cur.Synced {
		return fmt.Errorf("stored as a synced collection: %v, opened as one: %v; a collection is synced or not for good", stored.Synced, cur.Synced)
	}
	typ := c.l.typ.String()
	hint := fmt.Sprintf("raise the Version above %d, with a model.Migrate from version %d unless the old values still decode (fields only added or dropped)", stored.Version, stored.Version)
	var m *migration
	switch {
	case stored.Version > cur.Version:
		return core.Errorf(core.ErrUnsupported, "stored with schema version %d, newer than version %d of this program", stored.Version, cur.Version)
	case stored.Version == cur.Version:
		if stored.Key != cur.Key {
			return fmt.Errorf("%s does not fit the stored schema version %d: the key was %s (%s) and is now %s (%s); %s",
				typ, stored.Version, stored.Key.Field, stored.Key.Kind, cur.Key.Field, cur.Key.Kind, hint)
		}
		if err := fits(stored.Value, cur.Value, false, typ); err != nil {
			return fmt.Errorf("%s does not fit the stored schema version %d: %v; %s", typ, stored.Version, err, hint)
		}
		cur.Floor = stored.Floor
	default:
		if mm, ok := c.opts.migrations[stored.Version]; ok {
			m = &mm
			break
		}
		hint = fmt.Sprintf("register a model.Migrate from version %d", stored.Version)
		if stored.Key != cur.Key {
			return fmt.Errorf("%s cannot read the values of stored schema version %d: the key was %s (%s) and is now %s (%s); %s",
				typ, stored.Version, stored.Key.Field, stored.Key.Kind, cur.Key.Field, cur.Key.Kind, hint)
		}
		if err := fits(stored.Value, cur.Value, true, typ); err != nil {
			return fmt.Errorf("%s cannot read the values of stored schema version %d: %v; %s", typ, stored.Version, err, hint)
		}
		cur.Floor = stored.Floor
	}
	c.st.floor = cur.Floor

	if stored.Rebuild || m != nil || !slices.Equal(stored.Indexes, cur.Indexes) {
		if !stored.Rebuild {
			mark := stored
			mark.Rebuild = true
			if err := c.putDescriptor(ctx, mark); err != nil {
				return err
			}
		}
		if err := c.deletePrefix(ctx, c.indexPrefix[:len(c.indexPrefix)-1]); err != nil {
			return err
		}
		// A synced collection keeps its replica's records as they are
		// and reads older ones through the migrations.
		if m != nil && c.st.sync == nil {
			if err := c.migrate(ctx, stored, *m); err != nil {
				return err
			}
		}
		if err := c.buildIndexes(ctx); err != nil {
			return err
		}
	} else if reflect.DeepEqual(stored, cur) {
		return nil
	}
	return c.putDescriptor(ctx, cur)
}

func (c *base[T]) putDescriptor(ctx context.Context, d descriptor) error {
	data, err := valueEnc.Marshal(&d)
	if err != nil {
		return fmt.Errorf("encoding the schema: %w", err)
	}
	if err := c.s.b.Put(ctx, c.schemaKey(), data); err != nil {
		return fmt.Errorf("storing the schema: %w", err)
	}
	return nil
}

// batcher writes in batches of at most chunk operations.
type batcher struct {
	b ds.Batching
	w ds.Batch
	n int
}

func (bt *batcher) op(ctx context.Context, f func(ds.Batch) error) error {
	if bt.w == nil {
		w, err := bt.b.Batch(ctx)
		if err != nil {
			return err
		}
		bt.w = w
	}
	if err := f(bt.w); err != nil {
		return err
	}
	if bt.n++; bt.n >= chunk {
		return bt.flush(ctx)
	}
	return nil
}

func (bt *batcher) flush(ctx context.Context) error {
	if bt.w == nil {
		return nil
	}
	err := bt.w.Commit(ctx)
	bt.w, bt.n = nil, 0
	return err
}

// deletePrefix deletes every key under prefix, a chunk at a time.
func (c *base[T]) deletePrefix(ctx context.Context, prefix string) error {
	for {
		var keys []string
		for e, err := range query(ctx, c.s.b, dsq.Query{Prefix: prefix, KeysOnly: true, Limit: chunk}) {
			if err != nil {
				return fmt.Errorf("clearing the indexes: %w", err)
			}
			keys = append(keys, e.Key)
		}
		if len(keys) == 0 {
			return nil
		}
		bt := &batcher{b: c.s.b}
		for _, k := range keys {
			if err := bt.op(ctx, func(w ds.Batch) error { return w.Delete(ctx, ds.RawKey(k)) }); err != nil {
				return fmt.Errorf("clearing the indexes: %w", err)
			}
		}
		if err := bt.flush(ctx); err != nil {
			return fmt.Errorf("clearing the indexes: %w", err)
		}
	}
}

// migrate rewrites every value stored with a version of the old schema
// through m. Values already at the current version (from a migration that
// was interrupted) are left alone, so migrating again is safe.
func (c *base[T]) migrate(ctx context.Context, old descriptor, m migration) error {
	bt := &batcher{b: c.s.b}
	written := make(map[string]bool) // keys written so far, committed or not
	for e, err := range query(ctx, c.s.b, dsq.Query{Prefix: c.valuePrefix[:len(c.valuePrefix)-1], Orders: []dsq.Order{dsq.OrderByKey{}}}) {
		if err != nil {
			return fmt.Errorf("migrating: %w", err)
		}
		kseg := c.keySegment(e.Key)
		version, body, err := splitStored(e.Value)
		if err != nil {
			return c.corrupt(kseg, err)
		}
		if version == c.opts.version {
			continue
		}
		if version < old.Floor || version > old.Version {
			return c.corrupt(kseg, fmt.Errorf("written with schema version %d, outside the stored schema's versions %d to %d", version, old.Floor, old.Version))
		}
		out, err := m.run(body)
		if err != nil {
			return c.errorf("migrating key %s from schema version %d: %w", c.describeKey(kseg), version, err)
		}
		v := out.(T)
		data, err := encodeStored(c.opts.version, &v)
		if err != nil {
			return c.errorf("migrating key %s: encoding the value: %w", c.describeKey(kseg), err)
		}
		nseg := segment(c.l.key.kind.appendBinary(nil, reflect.ValueOf(&v).Elem().Field(c.l.key.index)))
		taken := written[nseg]
		if nseg != kseg && !taken {
			if taken, err = c.s.b.Has(ctx, c.valueKey(nseg)); err != nil {
				return c.errorf("migrating: %w", err)
			}
		}
		if taken {
			return c.errorf("migrating key %s gives key %s, which another value holds: %w", c.describeKey(kseg), c.describeKey(nseg), core.ErrConflict)
		}
		written[nseg] = true
		if nseg != kseg {
			if err := bt.op(ctx, func(w ds.Batch) error { return w.Delete(ctx, c.valueKey(kseg)) }); err != nil {
				return c.errorf("migrating: %w", err)
			}
		}
		if err := bt.op(ctx, func(w ds.Batch) error { return w.Put(ctx, c.valueKey(nseg), data) }); err != nil {
			return c.errorf("migrating: %w", err)
		}
	}
	if err := bt.flush(ctx); err != nil {
		return c.errorf("migrating: %w", err)
	}
	return nil
}

// buildIndexes writes the index entries of every stored value. The indexes
// are empty when it starts.
func (c *base[T]) buildIndexes(ctx context.Context) error {
	if len(c.l.indexes) == 0 {
		return nil
	}
	bt := &batcher{b: c.s.b}
	claims := make(map[string]string)
	for e, err := range c.scan(ctx, c.valuePrefix[:len(c.valuePrefix)-1], false, bounds{}, c.keySegment, true) {
		if err != nil {
			return fmt.Errorf("building the indexes: %w", err)
		}
		id := c.keySegment(e.Key)
		v, err := c.decodeStored(id, e.Value)
		if err != nil {
			return fmt.Errorf("building the indexes: %w", err)
		}
		for _, e := range c.entries(reflect.ValueOf(&v).Elem(), id) {
			if e.uniq {
				if other, ok := claims[e.claim]; ok {
					index, vseg := splitClaim(e.claim)
					return c.errorf("building unique index %s: value %s is held by keys %s and %s: %w",
						index, c.describeIndexValue(index, vseg), c.describeKey(other), c.describeKey(id), core.ErrConflict)
				}
				claims[e.claim] = id
			}
			if err := bt.op(ctx, func(w ds.Batch) error { return w.Put(ctx, ds.RawKey(e.key), []byte{}) }); err != nil {
				return c.errorf("building the indexes: %w", err)
			}
		}
	}
	if err := bt.flush(ctx); err != nil {
		return c.errorf("building the indexes: %w", err)
	}
	return nil
}
