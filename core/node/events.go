package node

import (
	"context"
	"iter"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/core/envelope"
)

// Event is something that happened in a node. The concrete types are the
// structs of this file; switch on them:
//
//	for ev := range sub.Events(ctx) {
//		switch ev := ev.(type) {
//		case node.PeerConnected:
//			fmt.Println("connected to", ev.Peer)
//		case node.EventsLost:
//			fmt.Println("missed", ev.Count, "events")
//		}
//	}
type Event interface {
	// Kind names the event type in the form JSON streams use, such as
	// "peer.connected".
	Kind() string
	// When is when the event happened.
	When() time.Time
}

// At is the time stamp every event carries.
type At struct {
	Time time.Time
}

// When is when the event happened.
func (a At) When() time.Time { return a.Time }

func now() At { return At{Time: time.Now()} }

// PeerConnected: the node opened its first connection to a peer.
type PeerConnected struct {
	At
	Peer peer.ID
	Addr ma.Multiaddr
	// Inbound is true when the peer dialled this node.
	Inbound bool
}

// PeerDisconnected: the node's last connection to a peer closed.
type PeerDisconnected struct {
	At
	Peer peer.ID
}

// PeerDiscovered: a discovery mechanism found a peer.
type PeerDiscovered struct {
	At
	Peer  peer.ID
	Addrs []ma.Multiaddr
	// Source names the mechanism: "mdns".
	Source string
}

// RecordStored: this node stored a record it published itself.
type RecordStored struct {
	At
	Key string
	// Envelope is the record for a netabase record, nil for another
	// namespace.
	Envelope *envelope.Envelope
}

// How a record arrived.
const (
	// ViaPut: another peer sent it with PUT_VALUE.
	ViaPut = "put"
	// ViaFetch: this node fetched it from the network.
	ViaFetch = "fetch"
)

// RecordReceived: this node accepted and stored a record that came from the
// network. The same record may be received more than once.
type RecordReceived struct {
	At
	Key string
	// Via is ViaPut or ViaFetch.
	Via string
	// Envelope is the record for a netabase record, nil for another
	// namespace.
	Envelope *envelope.Envelope
}

// RecordRemoved: the local copy of a record was removed (RemoveRecord).
type RecordRemoved struct {
	At
	Key string
}

// SyncStored: a record entered the replica of a synced collection this
// node has joined, written by this node or received from a peer. These
// events are lossy like every other (see [Subscription]); a reader that
// must see every change of a collection follows its replica instead
// ([Synced.Watch]).
type SyncStored struct {
	At
	Collection string
	Writer     peer.ID
	Key        string
	Clock      envelope.Timestamp
	// Deleted marks a tombstone: the writer removed Key.
	Deleted bool
	// From is the peer that sent it; empty for this node's own writes.
	From peer.ID
}

// ProviderAdded: this node stored a provider record, its own (Local) or one
// a peer announced to it.
type ProviderAdded struct {
	At
	// Key is the provided key as a CIDv1 of its multihash.
	Key      cid.Cid
	Provider peer.ID
	Local    bool
}

// ModeChanged: the DHT's configured or effective mode changed.
type ModeChanged struct {
	At
	ModeInfo
}

// Backend states: the names of core's states (core.State.String).
const (
	BackendUp         = "up"
	BackendDown       = "down"
	BackendRestarting = "restarting"
	BackendFailed     = "failed"
)

// BackendState: the storage backend's state, published at start and at
// each change (see core.StateReporter). An out-of-process (plugin) backend
// may go down and restart; any backend may fail (a full disk, corrupt
// data), and then refuses every call until the node is restarted.
type BackendState struct {
	At
	Backend string
	// State is BackendUp, BackendDown, BackendRestarting or BackendFailed.
	State  string
	Detail string
}

// EventsLost: the subscriber was too slow and lost events. Count is the
// total lost since it subscribed.
type EventsLost struct {
	At
	Count uint64
}

func (PeerConnected) Kind() string    { return "peer.connected" }
func (PeerDisconnected) Kind() string { return "peer.disconnected" }
func (PeerDiscovered) Kind() string   { return "peer.discovered" }
func (RecordStored) Kind() string     { return "record.stored" }
func (RecordReceived) Kind() string   { return "record.received" }
func (RecordRemoved) Kind() string    { return "record.removed" }
func (SyncStored) Kind() string       { return "sync.stored" }
func (ProviderAdded) Kind() string    { return "provider.added" }
func (ModeChanged) Kind() string      { return "dht.mode" }
func (BackendState) Kind() string     { return "backend.state" }
func (EventsLost) Kind() string       { return "events.lost" }

// DefaultSubscriptionBuffer is how many events a subscription holds for a
// subscriber before it starts losing them.
const DefaultSubscriptionBuffer = 1024

// bus delivers events to subscribers without ever blocking the publisher.
type bus struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	lost   uint64 // events lost by every subscriber, closed ones too
}

func newBus() *bus { return &bus{subs: make(map[*Subscription]struct{})} }

// publish hands ev to every subscriber that wants it; a subscriber whose
// buffer is full loses it.
func (b *bus) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		if !s.offer(ev) {
			b.lost++
		}
	}
}

// lose counts n events like ev lost by every subscriber that wants such
// an event: the node could not publish them.
func (b *bus) lose(n uint64, ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		s.mu.Lock()
		s.lost += n
		s.mu.Unlock()
		b.lost += n
	}
}

// EventStats describes the node's event subscribers.
type EventStats struct {
	Subscribers int    // open subscriptions
	Lost        uint64 // events subscribers lost since the node started, closed subscriptions included
}

// EventStats describes the node's event subscribers.
func (n *Node) EventStats() EventStats {
	b := n.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	return EventStats{Subscribers: len(b.subs), Lost: b.lost}
}

func (b *bus) subscribe(buffer int, filter func(Event) bool) *Subscription {
	if buffer <= 0 {
		buffer = DefaultSubscriptionBuffer
	}
	s := &Subscription{bus: b, filter: filter, ch: make(chan Event, buffer), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.done)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

func (b *bus) unsubscribe(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.done)
	}
}

// close ends every subscription.
func (b *bus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.done)
	}
}

// Subscription receives a node's events from the moment it was made. It
// holds a bounded buffer: a subscriber that does not keep up loses events
// rather than slowing the node, and can see how many it lost.
type Subscription struct {
	bus    *bus
	filter func(Event) bool
	ch     chan Event
	done   chan struct{} // closed by Close or when the node closes

	mu       sync.Mutex
	lost     uint64
	reported uint64
}

// offer queues ev, or counts it lost and returns false. The bus lock is
// held.
func (s *Subscription) offer(ev Event) bool {
	select {
	case s.ch <- ev:
		return true
	default:
		s.mu.Lock()
		s.lost++
		s.mu.Unlock()
		return false
	}
}

// Lost returns how many events this subscriber has lost so far.
func (s *Subscription) Lost() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// unreported returns the lost count when it grew since it was last
// reported.
func (s *Subscription) unreported() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost == s.reported {
		return 0, false
	}
	s.reported = s.lost
	return s.lost, true
}

// Events yields the subscription's events until ctx ends, the subscription
// is closed or the node closes. When events were lost since the last one
// yielded, an EventsLost comes first. Only one goroutine may range over a
// subscription's Events at a time.
func (s *Subscription) Events(ctx context.Context) iter.Seq[Event] {
	return func(yield func(Event) bool) {
		for {
			var ev Event
			select {
			case ev = <-s.ch:
			case <-ctx.Done():
				return
			case <-s.done:
				// Deliver what was queued before the end.
				select {
				case ev = <-s.ch:
				default:
					return
				}
			}
			if n, ok := s.unreported(); ok {
				if !yield(EventsLost{At: now(), Count: n}) {
					return
				}
			}
			if !yield(ev) {
				return
			}
		}
	}
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.bus.unsubscribe(s) }
