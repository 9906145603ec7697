package model

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/envelope"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// Put: a local write stored New under Key, replacing Old (nil when
	// the key held nothing).
	Put EventKind = iota + 1
	// Deleted: a local delete removed Old from Key.
	Deleted
	// Received: the network delivered New, published by Owner under Key.
	// It is not stored in the local collection. In a synced collection,
	// it comes with the error that says why a writer's record is not
	// held (see SyncStats), and New is nil.
	Received
)

func (k EventKind) String() string {
	switch k {
	case Put:
		return "put"
	case Deleted:
		return "deleted"
	case Received:
		return "received"
	}
	return "unknown"
}

// Event is one change in a collection's feed.
type Event[K, T any] struct {
	// Seq numbers the collection's changes in this Store, from 1, in
	// commit order; a watcher that misses changes sees a gap.
	Seq  uint64
	Kind EventKind
	Key  K
	// Old is the value before a Put or Deleted, or nil.
	Old *T
	// New is the value after a Put, or the value Received, or nil.
	New *T
	// Owner is the publisher of a Received value and, in a synced
	// collection, the writer of every event's value.
	Owner peer.ID
	// Missed is how many changes this watcher lost, because it had fallen
	// a full buffer behind, just before this one. An Event of no Kind
	// (zero) holds only Missed: the watcher took what its buffer held and
	// no change has come since the ones it lost, the last of which is Seq.
	Missed uint64
}

// change is a feed entry as the writer leaves it: the bytes, decoded by
// each watcher in its own goroutine, so a writer never waits on decoding
// and no two watchers share a value.
type change struct {
	seq  uint64
	kind EventKind
	key  string // the value's id, for local changes and synced records
	old  []byte // stored bytes
	new  []byte // stored bytes
	env  *envelope.Envelope
	err  error // why a synced record is not held
}

// hub hands a collection's changes to its watchers.
type hub struct {
	mu   sync.Mutex
	seq  uint64
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan delivery
	missed uint64 // guarded by hub.mu
}

type delivery struct {
	change
	missed uint64
}

func (h *hub) init() { h.subs = make(map[*subscriber]struct{}) }

// publish numbers c and offers it to every watcher without waiting: a
// watcher whose buffer is full misses it, and learns so with its next
// change.
func (h *hub) publish(c change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	c.seq = h.seq
	for s := range h.subs {
		select {
		case s.ch <- delivery{c, s.missed}:
			s.missed = 0
		default:
			s.missed++
		}
	}
}

// next returns s's next delivery without waiting: a change, or, once the
// buffer is empty, the changes missed after it (a delivery of no kind);
// ok is false when there is neither.
func (h *hub) next(s *subscriber) (d delivery, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case d = <-s.ch:
		return d, true
	default:
	}
	if s.missed > 0 {
		d.seq, d.missed, s.missed = h.seq, s.missed, 0
		return d, true
	}
	return d, false
}

func (h *hub) subscribe(buffer int) *subscriber {
	s := &subscriber{ch: make(chan delivery, buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

var errWatchReused = errors.New("a watch can be iterated once; call Watch again")

// Watch returns the collection's change feed from now on: every local put
// and delete of this Store's collection (with the old and the new value),
// and every value of this collection the network delivers (records other
// peers put to this node, and records it fetches; the same record may come
// more than once), in commit order. It ends when ctx ends or the Store
// closes.
//
// Writers never wait for watchers. Each watcher has a buffer of
// WatchBuffer changes (DefaultWatchBuffer unless set); while it is full,
// new changes are dropped for that watcher only, and the next change it
// gets says in Missed how many it lost (Seq shows the gap too), or, if
// none has come once it has taken its buffer, an Event of no Kind says
// so: every change in order, or the word that some were missed, never a
// silent gap. A watcher that must not lose changes keeps up, or re-reads
// the collection when Missed is not zero.
//
// The feed starts when Watch is called, not when it is iterated, and can be
// iterated once. An error comes with the Event it concerns (a received
// value that does not verify or decode, say) and the feed goes on.
func (c *Collection[K, T]) Watch(ctx context.Context) iter.Seq2[Event[K, T], error] {
	sub := c.st.hub.subscribe(c.opts.buffer)
	stop := context.AfterFunc(ctx, func() { c.st.hub.unsubscribe(sub) })
	var used atomic.Bool
	return func(yield func(Event[K, T], error) bool) {
		if !used.CompareAndSwap(false, true) {
			yield(Event[K, T]{}, c.errorf("watch: %w", errWatchReused))
			return
		}
		defer func() {
			stop()
			c.st.hub.unsubscribe(sub)
		}()
		for {
			d, ok := c.st.hub.next(sub)
			if !ok {
				// Nothing is missed while the buffer has room, so the
				// next delivery is a change.
				select {
				case <-ctx.Done():
					return
				case <-c.s.ctx.Done():
					return
				case d = <-sub.ch:
				}
			}
			if ctx.Err() != nil || c.s.ctx.Err() != nil {
				return
			}
			var ev Event[K, T]
			var err error
			if d.kind == 0 {
				ev = Event[K, T]{Seq: d.seq, Missed: d.missed}
			} else {
				ev, err = c.event(d)
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// Follow returns the collection's values (every writer's, with their
// writers, as [Collection.Entries] yields them) and its change feed from
// before they are read (as [Collection.Watch] yields it), so that no
// change falls between the two: range over the values, then over the
// feed. A change made while the values are read may be in them and come
// in the feed too; applying the feed's events in order to the values ends
// with what the collection holds. The feed starts when Follow is called,
// so its buffer fills meanwhile if the collection changes faster than the
// values are read; Event.Missed then says so, as in Watch.
func (c *Collection[K, T]) Follow(ctx context.Context) (values iter.Seq2[Entry[T], error], changes iter.Seq2[Event[K, T], error]) {
	changes = c.Watch(ctx)
	return c.Entries(ctx), changes
}

// event decodes a delivery for a watcher.
func (c *Collection[K, T]) event(d delivery) (Event[K, T], error) {
	ev := Event[K, T]{Seq: d.seq, Kind: d.kind, Missed: d.missed}
	if d.env != nil {
		return c.received(ev, d.env)
	}
	w, kseg := splitID(d.key)
	var err error
	if ev.Key, err = c.parseKey(kseg); err != nil {
		return ev, c.corrupt(d.key, err)
	}
	if w != "" {
		if ev.Owner, err = peer.Decode(w); err != nil {
			return ev, c.corrupt(d.key, err)
		}
	}
	if d.err != nil {
		return ev, d.err
	}
	decode := func(data []byte) *T {
		if data == nil || err != nil {
			return nil
		}
		var v T
		v, err = c.decodeStored(d.key, data)
		return &v
	}
	ev.Old, ev.New = decode(d.old), decode(d.new)
	return ev, err
}

// received decodes a value received from the network.
func (c *Collection[K, T]) received(ev Event[K, T], env *envelope.Envelope) (Event[K, T], error) {
	owner, name, err := envelope.ParseKey(env.Key)
	if err != nil {
		return ev, c.errorf("received record: %w", err)
	}
	ev.Owner = owner
	kseg, ok := strings.CutPrefix(name, c.name+"/")
	if !ok {
		return ev, c.errorf("received record %s is not named %s/<key>", env.Key, c.name)
	}
	if ev.Key, err = c.parseKey(kseg); err != nil {
		return ev, c.errorf("received record %s: %w", env.Key, err)
	}
	v, err := c.openEnvelope(env.Key, kseg, env)
	if err != nil {
		return ev, err
	}
	ev.New = &v
	return ev, nil
}

// parseKey returns the key whose segment is kseg.
func (c *Collection[K, T]) parseKey(kseg string) (K, error) {
	var k K
	b, err := parseSegment(kseg)
	if err != nil {
		return k, err
	}
	v, err := c.l.key.kind.decodeBinary(b, c.l.key.typ)
	if err != nil {
		return k, err
	}
	return v.Interface().(K), nil
}
