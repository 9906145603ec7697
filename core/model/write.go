package model

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// op is one change a write makes: a put of val under the id id with its
// index entries, or a delete of id. publish writes it to the synced
// collection's replica too; ifChanged makes a put that would store the
// bytes already stored a no-op.
type op struct {
	id        string
	del       bool
	val       []byte
	entries   []entry
	publish   bool
	ifChanged bool
}

// current is what a key holds while a write is being built.
type current struct {
	val     []byte // nil when the key holds nothing
	entries []entry
}

// writeState is a write being built: what it has made each key hold so
// far (for writes of more than one operation), the index entries it
// deletes, and the unique index values it claims. The maps are made when
// first needed.
type writeState struct {
	r        ds.Read
	w        ds.Write
	cur      map[string]current
	released map[string]bool   // index entry keys this write deletes
	claims   map[string]string // unique claim -> key segment holding it
}

// apply makes the changes ops, in order, atomically: in one transaction
// where the backend has them, in one batch otherwise. The collection's
// writer lock is held from reading the old values to publishing the
// changes, so no other writer of this Store changes them in between and the
// change feed sees commits in order.
func (c *base[T]) apply(ctx context.Context, ops []op) error {
	if err := c.s.closed(); err != nil {
		return c.errorf("write: %w", err)
	}
	c.st.mu.Lock()
	defer c.st.mu.Unlock()

	ws := &writeState{}
	if len(ops) > 1 {
		ws.cur = make(map[string]current, len(ops))
	}
	var commit func(context.Context) error
	if c.s.txn != nil {
		t, err := c.s.txn.NewTransaction(ctx, false)
		if err != nil {
			return c.errorf("write: %w", err)
		}
		defer t.Discard(ctx)
		ws.r, ws.w, commit = t, t, t.Commit
	} else {
		b, err := c.s.b.Batch(ctx)
		if err != nil {
			return c.errorf("write: %w", err)
		}
		ws.r, ws.w, commit = c.s.b, b, b.Commit
	}

	changes := make([]change, 0, len(ops))
	for _, o := range ops {
		ch, err := c.stage(ctx, ws, o)
		if err != nil {
			return err
		}
		if ch.kind != 0 {
			changes = append(changes, ch)
		}
	}
	// This node's writes to a synced collection go to the replica once
	// they passed the checks, and are committed locally after.
	if err := c.publishOps(ctx, ops); err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	if err := commit(ctx); err != nil {
		return c.errorf("write: %w", err)
	}
	for _, ch := range changes {
		c.st.hub.publish(ch)
	}
	return nil
}

// stage adds the operation o to the write ws and returns the change it
// makes; a delete of a key that holds nothing makes none.
func (c *base[T]) stage(ctx context.Context, ws *writeState, o op) (change, error) {
	old, err := c.current(ctx, ws, o.id)
	if err != nil {
		return change{}, err
	}
	if o.del && old.val == nil || o.ifChanged && old.val != nil && bytes.Equal(old.val, o.val) {
		return change{}, nil
	}
	for _, e := range old.entries {
		if slices.Contains(o.entries, e) {
			continue
		}
		if err := ws.w.Delete(ctx, ds.RawKey(e.key)); err != nil {
			return change{}, c.errorf("write: %w", err)
		}
		if ws.released == nil {
			ws.released = make(map[string]bool)
		}
		ws.released[e.key] = true
		if e.uniq && ws.claims[e.claim] == o.id {
			delete(ws.claims, e.claim)
		}
	}
	for _, e := range o.entries {
		if slices.Contains(old.entries, e) {
			continue
		}
		if e.uniq {
			if err := c.checkUnique(ctx, ws, e, o.id); err != nil {
				return change{}, err
			}
			if ws.claims == nil {
				ws.claims = make(map[string]string)
			}
			ws.claims[e.claim] = o.id
		}
		if err := ws.w.Put(ctx, ds.RawKey(e.key), []byte{}); err != nil {
			return change{}, c.errorf("write: %w", err)
		}
		delete(ws.released, e.key)
	}
	vk := c.valueKey(o.id)
	ch := change{key: o.id, old: old.val, new: o.val}
	if o.del {
		err, ch.kind = ws.w.Delete(ctx, vk), Deleted
	} else {
		err, ch.kind = ws.w.Put(ctx, vk, o.val), Put
	}
	if err != nil {
		return change{}, c.errorf("write: %w", err)
	}
	if ws.cur != nil {
		ws.cur[o.id] = current{val: o.val, entries: o.entries}
	}
	return ch, nil
}

// current returns what the id id holds in the write ws so far: what an
// earlier operation of ws put there, or else what the store holds.
func (c *base[T]) current(ctx context.Context, ws *writeState, id string) (current, error) {
	if cur, ok := ws.cur[id]; ok {
		return cur, nil
	}
	data, err := ws.r.Get(ctx, c.valueKey(id))
	if errors.Is(err, core.ErrNotFound) {
		return current{}, nil
	}
	if err != nil {
		return current{}, c.errorf("write: reading the old value of %s: %w", c.describeKey(id), err)
	}
	v, err := c.decodeStored(id, data)
	if err == nil {
		return current{val: data, entries: c.entries(reflect.ValueOf(&v).Elem(), id)}, nil
	}
	// The old value is unreadable, so its index entries are found by
	// looking for id in every index: a corrupt value can still be
	// overwritten or deleted without leaving entries behind.
	cur := current{val: data}
	for _, f := range c.l.indexes {
		for k, err := range queryKeys(ctx, ws.r, c.indexPrefix+f.name) {
			if err != nil {
				return current{}, c.errorf("write: looking for the index entries of %s: %w", c.describeKey(id), err)
			}
			if c.entryID(k) == id {
				cur.entries = append(cur.entries, entry{key: k, claim: claimOf(k[len(c.indexPrefix):]), uniq: f.unique})
			}
		}
	}
	return cur, nil
}

// checkUnique fails when the unique index entry e, for the id kseg, would
// give its index value a second key (of the same writer, in a synced
// collection).
func (c *base[T]) checkUnique(ctx context.Context, ws *writeState, e entry, kseg string) error {
	conflict := func(other string) error {
		index, vseg := splitClaim(e.claim)
		return c.errorf("unique index %s: value %s is already held by key %s: %w",
			index, c.describeIndexValue(index, vseg), c.describeKey(other), core.ErrConflict)
	}
	if other, ok := ws.claims[e.claim]; ok && other != kseg {
		return conflict(other)
	}
	for k, err := range queryKeys(ctx, ws.r, c.indexPrefix+e.claim) {
		if err != nil {
			return c.errorf("write: checking unique index: %w", err)
		}
		if other := c.entryID(k); !ws.released[k] && other != kseg {
			return conflict(other)
		}
	}
	return nil
}

// splitClaim splits "<index>/<value segment>[/<writer>]".
func splitClaim(claim string) (index, vseg string) {
	index, vseg, _ = strings.Cut(claim, "/")
	vseg, _, _ = strings.Cut(vseg, "/")
	return index, vseg
}

// describeIndexValue shows the value whose segment is vseg, of the index
// called index, in an error message.
func (c *base[T]) describeIndexValue(index, vseg string) string {
	i := slices.IndexFunc(c.l.indexes, func(f field) bool { return f.name == index })
	if i < 0 {
		return "segment " + vseg
	}
	b, err := parseSegment(vseg)
	if err != nil {
		return "segment " + vseg
	}
	v, err := c.l.indexes[i].kind.decodeBinary(b, c.l.indexes[i].typ)
	if err != nil {
		return "segment " + vseg
	}
	return formatValue(v)
}

// keys yields the keys under prefix, in order, from the store.
func (c *base[T]) keys(ctx context.Context, prefix string) func(func(string, error) bool) {
	return func(yield func(string, error) bool) {
		for k, err := range queryKeys(ctx, c.s.b, prefix) {
			if err != nil {
				yield("", c.errorf("reading %s: %w", prefix, err))
				return
			}
			if !yield(k, nil) {
				return
			}
		}
	}
}

// queryKeys yields the keys under prefix in r, in ascending order.
func queryKeys(ctx context.Context, r ds.Read, prefix string) func(func(string, error) bool) {
	return func(yield func(string, error) bool) {
		for e, err := range query(ctx, r, dsq.Query{Prefix: prefix, KeysOnly: true, Orders: []dsq.Order{dsq.OrderByKey{}}}) {
			if !yield(e.Key, err) || err != nil {
				return
			}
		}
	}
}

// query yields the entries q selects in r and ends after the first error.
// It reads results in the caller's goroutine.
func query(ctx context.Context, r ds.Read, q dsq.Query) func(func(dsq.Entry, error) bool) {
	return entries(ctx, q.Prefix, func() (dsq.Results, error) { return r.Query(ctx, q) })
}

// queryFrom is query for a query that starts at a key: through r's seek
// when r has one (see core.QueryFrom).
func queryFrom(ctx context.Context, r ds.Read, q core.SeekQuery) func(func(dsq.Entry, error) bool) {
	return entries(ctx, q.Prefix, func() (dsq.Results, error) { return core.QueryFrom(ctx, r, q) })
}

// entries yields the entries of the results run returns, a query of
// prefix, and ends after the first error.
func entries(ctx context.Context, prefix string, run func() (dsq.Results, error)) func(func(dsq.Entry, error) bool) {
	return func(yield func(dsq.Entry, error) bool) {
		res, err := run()
		if err != nil {
			yield(dsq.Entry{}, err)
			return
		}
		defer res.Close()
		for {
			rr, ok := res.NextSync()
			if !ok {
				return
			}
			if rr.Error == nil {
				rr.Error = ctx.Err()
			}
			if rr.Error != nil {
				yield(dsq.Entry{}, fmt.Errorf("query %s: %w", prefix, rr.Error))
				return
			}
			if !yield(rr.Entry, nil) {
				return
			}
		}
	}
}
