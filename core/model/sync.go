package model

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/replica"
)

// Replica is what a synced collection needs of the node's replica of it:
// *node.Synced, which node.JoinSync returns, implements it. Its records
// are keyed by the key segment of the collection's key (the last part of
// [Collection.RecordName]) and hold the value's deterministic CBOR, with the
// collection's schema version as the record's version.
type Replica interface {
	// Name is the synced collection's name.
	Name() string
	// PutVersion signs, stores and publishes this node's value for key.
	PutVersion(ctx context.Context, key string, version uint32, value []byte) (replica.Record, error)
	// PutMany signs this node's values for puts' keys and stores them in
	// the replica in one write, all of them or, with an error, none; it
	// publishes each as a record of its own.
	PutMany(ctx context.Context, puts []replica.Put) ([]replica.Record, error)
	// Delete writes this node's tombstone for key; when this node holds
	// no live value for key it writes nothing, and the error wraps
	// core.ErrNotFound.
	Delete(ctx context.Context, key string) error
	// Get returns writer's live record for key; the error wraps
	// core.ErrNotFound when there is none or it is a tombstone.
	Get(ctx context.Context, writer peer.ID, key string) (replica.Record, error)
	// Records yields every writer's live records.
	Records(ctx context.Context) iter.Seq2[replica.Record, error]
	// Watch yields every record that enters the replica, subscribing
	// when it is called, or the word that it missed some
	// (replica.Change.Missed), as [replica.Replica.Watch] does; the
	// collection then catches up with Records.
	Watch(ctx context.Context) iter.Seq[replica.Change]
	// CaughtUp waits until the node has reconciled the collection, since
	// it joined it, with every peer that shares it, and returns them;
	// none when the node is alone: it knew of no peer sharing the
	// collection within alone of joining it (a default when alone is 0).
	CaughtUp(ctx context.Context, alone time.Duration) ([]peer.ID, error)
}

// OpenSynced opens the synced collection fed by r, the node's replica of
// it, as a typed collection of the same name, as [Open] opens a local one:
//
//	rep, err := n.JoinSync(ctx, replica.Settings{Name: "chat", Writers: writers})
//	chat, err := model.OpenSynced[string, Message](ctx, model.New(n), rep)
//
// A synced collection holds every writer's values, keyed by (writer, key);
// see [Collection.GetFrom] and [Entry]. Its Store must be made with [New],
// whose network's ID is this node's writer ID.
func OpenSynced[K, T any](ctx context.Context, s *Store, r Replica, opts ...Option) (*Collection[K, T], error) {
	if r == nil {
		return nil, errors.New("model: OpenSynced needs the node's replica of the collection")
	}
	return open[K, T](ctx, s, r.Name(), r, opts)
}

// Entry is a value of a collection and the writer that wrote it: in a
// synced collection, the peer whose record it is; in a local collection,
// the empty ID.
type Entry[T any] struct {
	Writer peer.ID
	Value  T
}

// SyncStats counts the records of a synced collection's replica that the
// typed collection does not hold, since it opened.
type SyncStats struct {
	// Newer counts records written with a schema version this program
	// does not read (core.ErrUnsupported); the replica keeps them.
	Newer uint64
	// Rejected counts records that are not valid values of the collection:
	// a key that is not a key segment, bytes that do not decode, a value
	// that holds another key.
	Rejected uint64
	// Conflicts is how many records wait because they would give one of
	// their writer's unique index values a second key. Each is taken as
	// soon as the writer's record that holds the value changes.
	Conflicts int
	// LastError describes the last record left out, or is nil.
	LastError error
}

// syncState is the part of a synced collection's state that the values of
// Collection opened on one Store share.
type syncState struct {
	r    Replica
	self peer.ID

	// feed is held while the collection takes a change from the replica
	// or catches up with its records, so that these never interleave.
	feed sync.Mutex

	newer, rejected atomic.Uint64
	lastErr         atomic.Pointer[error]

	mu      sync.Mutex
	pending map[string]replica.Record // id -> record waiting for a unique value
	writers map[peer.ID]bool          // every writer a record came from
}

// idOf is the id of writer's value whose key segment is kseg.
func idOf(writer peer.ID, kseg string) string { return writer.String() + "/" + kseg }

// splitID splits an id into its writer part (empty in a local collection)
// and its key segment.
func splitID(id string) (writer, kseg string) {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return "", id
	}
	return id[:i], id[i+1:]
}

// ownID is the id of this node's value whose key segment is kseg: the key
// segment itself in a local collection.
func (c *base[T]) ownID(kseg string) string {
	if c.st.sync == nil {
		return kseg
	}
	return idOf(c.st.sync.self, kseg)
}

// entryID returns the id that ends key: its last segment, or last two in a
// synced collection.
func (c *base[T]) entryID(key string) string {
	i := strings.LastIndexByte(key, '/')
	if c.st.sync != nil && i > 0 {
		i = strings.LastIndexByte(key[:i], '/')
	}
	return key[i+1:]
}

// parseID checks that id is the id of a value of the collection.
func (c *base[T]) parseID(id string) error {
	w, kseg := splitID(id)
	if (w != "") != (c.st.sync != nil) {
		return fmt.Errorf("%q is not an id of this collection", id)
	}
	if w != "" {
		if _, err := peer.Decode(w); err != nil {
			return fmt.Errorf("writer %q: %v", w, err)
		}
	}
	_, err := parseSegment(kseg)
	return err
}

// GetFrom returns writer's value for key in a synced collection. The error
// wraps core.ErrNotFound when the writer holds none, and
// core.ErrUnsupported for a local collection.
func (c *Collection[K, T]) GetFrom(ctx context.Context, writer peer.ID, key K) (T, error) {
	var zero T
	if c.st.sync == nil {
		return zero, c.errorf("get from %s: %w: the collection is not synced", writer, core.ErrUnsupported)
	}
	if err := c.s.closed(); err != nil {
		return zero, c.errorf("get: %w", err)
	}
	id := idOf(writer, segment(c.keyBinary(key)))
	data, err := c.s.b.Get(ctx, c.valueKey(id))
	if err != nil {
		return zero, c.errorf("get %s of %s: %w", formatValue(reflect.ValueOf(key)), writer, err)
	}
	return c.decodeStored(id, data)
}

// holderLookups bounds the store lookups of othersHold: a not-found Get
// in a collection with many writers looks for the key under at most this
// many of them, so that its cost does not grow with every writer ever
// seen.
const holderLookups = 16

// shownHolders is how many holders othersHold names; past them it says
// that others hold one too.
const shownHolders = 3

// othersHold returns notFound, the error of Get for this node's value
// whose id is id, telling which other writers hold a value for its key
// and that GetFrom reads it, when any do. It looks under at most
// holderLookups writers, in writer order, and stops once it has found
// more holders than it names.
func (c *base[T]) othersHold(ctx context.Context, id string, notFound error) error {
	ss := c.st.sync
	_, kseg := splitID(id)
	ss.mu.Lock()
	writers := slices.Collect(maps.Keys(ss.writers))
	ss.mu.Unlock()
	slices.Sort(writers)
	var holders []string
	more := false
	lookups := 0
	for _, w := range writers {
		if w == ss.self {
			continue
		}
		if lookups == holderLookups {
			break
		}
		lookups++
		ok, err := c.s.b.Has(ctx, c.valueKey(idOf(w, kseg)))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if len(holders) == shownHolders {
			more = true
			break
		}
		holders = append(holders, w.String())
	}
	if len(holders) == 0 {
		return notFound
	}
	verb := "holds"
	if len(holders) > 1 {
		verb = "hold"
	}
	if more {
		holders = append(holders, "other writers")
	}
	return core.Errorf(core.ErrNotFound, "this node holds no value of its own for the key; %s %s one: read it with GetFrom", joinWords(holders), verb)
}

// joinWords joins words as a sentence lists them: "a", "a and b", "a, b
// and c".
func joinWords(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// Entries yields every value with its writer, ordered by writer, then key
// (by key in a local collection).
func (c *Collection[K, T]) Entries(ctx context.Context) iter.Seq2[Entry[T], error] {
	return c.stored(ctx, bounds{})
}

// RangeEntries yields the values whose keys lie within r, with their
// writers, ordered as [Collection.Entries] in a local collection; in a
// synced collection, by key, then writer, read through the collection's
// order by key (values are stored by writer first), so that it reads only
// the values in the range.
func (c *Collection[K, T]) RangeEntries(ctx context.Context, r Range[K]) iter.Seq2[Entry[T], error] {
	if c.st.sync != nil {
		return c.indexed(ctx, &c.l.indexes[0], segmentBounds(c.l.key.kind, r))
	}
	return c.stored(ctx, segmentBounds(c.l.key.kind, r))
}

// keyOrder names the index on the key that a synced collection keeps, so
// that a range of keys reads only its values: the first of its indexes.
// It is no Go field's name (those are exported), and IndexOf does not
// give it.
const keyOrder = "_key"

// FindEntries yields the values whose indexed field equals v, with their
// writers, ordered by writer, then key.
func (x *Index[V, T]) FindEntries(ctx context.Context, v V) iter.Seq2[Entry[T], error] {
	return x.c.find(ctx, x.f, v)
}

// RangeEntries yields the values whose indexed field lies within r, with
// their writers, ordered by that field, then writer, then key.
func (x *Index[V, T]) RangeEntries(ctx context.Context, r Range[V]) iter.Seq2[Entry[T], error] {
	return x.c.indexed(ctx, x.f, segmentBounds(x.f.kind, r))
}

// CaughtUp waits until the synced collection has caught up with its
// peers, and returns them: until the node has reconciled it with every
// peer that shares it (node.Synced.CaughtUp says when exactly) and the
// collection holds what the replica then held, so that Get, GetFrom,
// Scan and the indexes show the peers' values (which would otherwise
// reach the collection only as its feed from the replica gets to them;
// its watchers see them either way). It returns
// no peers when the node is alone: it knew of no peer sharing the
// collection within alone of joining it (the node's default when alone is
// 0). Catching up reads every value, as Open does. The error wraps
// core.ErrUnsupported for a local collection.
func (c *Collection[K, T]) CaughtUp(ctx context.Context, alone time.Duration) ([]peer.ID, error) {
	ss := c.st.sync
	if ss == nil {
		return nil, c.errorf("catching up: %w: the collection is not synced", core.ErrUnsupported)
	}
	if err := c.s.closed(); err != nil {
		return nil, c.errorf("catching up: %w", err)
	}
	peers, err := ss.r.CaughtUp(ctx, alone)
	if err != nil {
		return nil, c.errorf("catching up: %w", err)
	}
	ss.feed.Lock()
	defer ss.feed.Unlock()
	if err := c.catchUp(ctx); err != nil {
		return nil, c.errorf("catching up with the replica: %w", err)
	}
	return peers, nil
}

// SyncStats returns what the synced collection has left out of its
// replica's records; the zero SyncStats for a local collection.
func (c *Collection[K, T]) SyncStats() SyncStats {
	ss := c.st.sync
	if ss == nil {
		return SyncStats{}
	}
	st := SyncStats{Newer: ss.newer.Load(), Rejected: ss.rejected.Load()}
	if p := ss.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	ss.mu.Lock()
	st.Conflicts = len(ss.pending)
	ss.mu.Unlock()
	return st
}

// publishOps writes the records of this node's ops to the replica: the
// values in one PutMany, all or none (a delete comes alone, from Delete).
func (c *base[T]) publishOps(ctx context.Context, ops []op) error {
	var puts []replica.Put
	for _, o := range ops {
		if !o.publish {
			continue
		}
		_, kseg := splitID(o.id)
		if o.del {
			if err := c.putMany(ctx, puts); err != nil {
				return err
			}
			puts = nil
			// A key this node holds no value of has nothing to remove,
			// and the replica writes no tombstone for it.
			if err := c.st.sync.r.Delete(ctx, kseg); err != nil && !errors.Is(err, core.ErrNotFound) {
				return c.errorf("delete %s: %w", c.describeKey(o.id), err)
			}
			continue
		}
		version, body, err := splitStored(o.val)
		if err != nil {
			return c.errorf("put %s: %w", c.describeKey(o.id), err)
		}
		puts = append(puts, replica.Put{Key: kseg, Version: version, Value: body})
	}
	return c.putMany(ctx, puts)
}

// putMany writes puts to the replica, all or none.
func (c *base[T]) putMany(ctx context.Context, puts []replica.Put) error {
	switch len(puts) {
	case 0:
		return nil
	case 1:
		if _, err := c.st.sync.r.PutVersion(ctx, puts[0].Key, puts[0].Version, puts[0].Value); err != nil {
			return c.errorf("put %s: %w", c.describeKey(c.ownID(puts[0].Key)), err)
		}
		return nil
	}
	if _, err := c.st.sync.r.PutMany(ctx, puts); err != nil {
		return c.errorf("put %d values: %w", len(puts), err)
	}
	return nil
}

// startSync subscribes to the replica's changes, brings the local store
// up to the replica's records, and then follows the changes until the
// Store closes. The caller holds s.mu.
func (c *base[T]) startSync(ctx context.Context) error {
	ss := c.st.sync
	wctx, cancel := context.WithCancel(c.s.ctx)
	changes := ss.r.Watch(wctx)
	if err := c.catchUp(ctx); err != nil {
		cancel()
		for range changes { // ends the subscription
		}
		return err
	}
	c.s.pumps.Go(func() {
		defer cancel()
		behind := false // a catch-up failed: the next change tries again
		for ch := range changes {
			var err error
			ss.feed.Lock()
			if ch.Missed > 0 || behind {
				// The watch lost changes, which the replica held
				// before it said so: catch up with its records.
				err = c.catchUp(c.s.ctx)
				behind = err != nil
			} else {
				err = c.follow(c.s.ctx, ch)
			}
			ss.feed.Unlock()
			if err != nil && c.s.ctx.Err() == nil {
				ss.lastErr.Store(&err)
			}
		}
	})
	return nil
}

// follow takes the change ch of the replica into the local store.
func (c *base[T]) follow(ctx context.Context, ch replica.Change) error {
	// The replica is the truth: a change it no longer holds was replaced
	// by a later one, which comes later in the feed, or was dropped.
	rec, err := c.st.sync.r.Get(ctx, ch.Writer, ch.Key)
	switch {
	case errors.Is(err, core.ErrNotFound):
		err = c.syncRecord(ctx, replica.Record{Writer: ch.Writer, Key: ch.Key, Deleted: true})
	case err == nil && rec.Clock == ch.Clock:
		err = c.syncRecord(ctx, rec)
	}
	if err != nil {
		return err
	}
	return c.retryPending(ctx, ch.Writer)
}

// catchUp makes the local store hold the replica's live records: it
// writes those that differ and deletes the values the replica no longer
// holds. It is safe while the collection is written: a value the replica
// did not hold when it was read is looked up again before it is deleted,
// since this node's writes reach the replica before the local store.
func (c *base[T]) catchUp(ctx context.Context) error {
	ss := c.st.sync
	live := make(map[string]bool)
	writers := make(map[peer.ID]bool)
	for rec, err := range ss.r.Records(ctx) {
		if err != nil {
			return fmt.Errorf("reading the replica: %w", err)
		}
		live[idOf(rec.Writer, rec.Key)] = true
		writers[rec.Writer] = true
		if err := c.syncRecord(ctx, rec); err != nil {
			return err
		}
	}
	var stale []string
	for e, err := range c.scan(ctx, c.valuePrefix[:len(c.valuePrefix)-1], true, bounds{}, c.keySegment, false) {
		if err != nil {
			return err
		}
		if id := c.keySegment(e.Key); !live[id] {
			stale = append(stale, id)
		}
	}
	var gone []op
	for _, id := range stale {
		w, kseg := splitID(id)
		writer, err := peer.Decode(w)
		if err != nil {
			gone = append(gone, op{id: id, del: true})
			continue
		}
		rec, err := ss.r.Get(ctx, writer, kseg)
		switch {
		case errors.Is(err, core.ErrNotFound):
			gone = append(gone, op{id: id, del: true})
		case err != nil:
			return fmt.Errorf("reading the replica: %w", err)
		default: // written since the replica was read
			writers[writer] = true
			if err := c.syncRecord(ctx, rec); err != nil {
				return err
			}
		}
	}
	if len(gone) > 0 {
		if err := c.apply(ctx, gone); err != nil {
			return err
		}
	}
	for w := range writers {
		if err := c.retryPending(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// syncRecord makes the local store hold rec, a record of the replica (or,
// when rec.Deleted, nothing for its writer and key). A record that is not
// a value this program can hold is left out, and counted: its writer's
// key then holds nothing locally.
func (c *base[T]) syncRecord(ctx context.Context, rec replica.Record) error {
	ss := c.st.sync
	id := idOf(rec.Writer, rec.Key)
	ss.mu.Lock()
	prev, waited := ss.pending[id]
	delete(ss.pending, id)
	if ss.writers == nil {
		ss.writers = make(map[peer.ID]bool)
	}
	ss.writers[rec.Writer] = true
	ss.mu.Unlock()
	if rec.Deleted {
		return c.apply(ctx, []op{{id: id, del: true}})
	}
	o, err := c.recordOp(id, rec)
	if err == nil {
		err = c.apply(ctx, []op{o})
		if errors.Is(err, core.ErrConflict) {
			ss.mu.Lock()
			if ss.pending == nil {
				ss.pending = make(map[string]replica.Record)
			}
			ss.pending[id] = rec
			ss.mu.Unlock()
			if waited && prev.Clock == rec.Clock {
				return nil // still waiting, and reported already
			}
		}
	}
	if err == nil || c.s.closed() != nil {
		return err
	}
	if errors.Is(err, core.ErrUnsupported) {
		ss.newer.Add(1)
	} else if !errors.Is(err, core.ErrConflict) {
		ss.rejected.Add(1)
	}
	ss.lastErr.Store(&err)
	c.st.hub.publish(change{kind: Received, key: id, err: err})
	return c.apply(ctx, []op{{id: id, del: true}})
}

// recordOp returns the op that stores rec under id, after checking that
// it is a value of the collection holding its own key.
func (c *base[T]) recordOp(id string, rec replica.Record) (op, error) {
	if err := c.parseID(id); err != nil {
		return op{}, c.errorf("record %q of %s: %w: %v", rec.Key, rec.Writer, ErrCorrupt, err)
	}
	v, err := c.decodeVersion(rec.Version, rec.Value)
	if err != nil {
		if errors.Is(err, core.ErrUnsupported) {
			return op{}, c.errorf("key %s: %w", c.describeKey(id), err)
		}
		return op{}, c.corrupt(id, err)
	}
	rv := reflect.ValueOf(&v).Elem()
	if got := segment(c.l.key.kind.appendBinary(nil, rv.Field(c.l.key.index))); got != rec.Key {
		return op{}, c.corrupt(id, fmt.Errorf("the value holds key %s", c.describeKey(got)))
	}
	data := appendVersion(make([]byte, 0, len(rec.Value)+5), rec.Version)
	return op{id: id, val: append(data, rec.Value...), entries: c.entries(rv, id), ifChanged: true}, nil
}

// retryPending takes again the records of writer that waited for a unique
// index value.
func (c *base[T]) retryPending(ctx context.Context, writer peer.ID) error {
	ss := c.st.sync
	for {
		ss.mu.Lock()
		var recs []replica.Record
		for _, rec := range ss.pending {
			if rec.Writer == writer {
				recs = append(recs, rec)
			}
		}
		ss.mu.Unlock()
		if len(recs) == 0 {
			return nil
		}
		before := len(recs)
		for _, rec := range recs {
			if err := c.syncRecord(ctx, rec); err != nil {
				return err
			}
		}
		ss.mu.Lock()
		after := 0
		for _, rec := range ss.pending {
			if rec.Writer == writer {
				after++
			}
		}
		ss.mu.Unlock()
		if after >= before {
			return nil
		}
	}
}
