package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/replica"
)

// SyncProtocol is the stream protocol of reconciliation sessions of
// version 1, which every node speaks; SyncProtocol2 is version 2's, which
// a node prefers (SYNC.md §5).
const (
	SyncProtocol  protocol.ID = "/netabase/sync/1.0.0"
	SyncProtocol2 protocol.ID = "/netabase/sync/2.0.0"
)

// SyncVersions are the reconciliation protocol versions the node speaks,
// the newest first (Config.SyncVersions): a relay of its collections,
// such as the gateway's sync endpoint, offers these.
func (n *Node) SyncVersions() []replica.Version {
	if len(n.cfg.SyncVersions) > 0 {
		return n.cfg.SyncVersions
	}
	return replica.Versions
}

// syncProtocols are the stream protocols of syncVersions, in their order.
func (n *Node) syncProtocols() []protocol.ID {
	var out []protocol.ID
	for _, v := range n.SyncVersions() {
		out = append(out, protocol.ID(v.Protocol()))
	}
	return out
}

// SyncNamespace is the key prefix under which synced collections keep
// their replicas in the node's backend, one namespace per collection
// definition (its settings' digest): replica.Namespace.
const SyncNamespace = replica.Namespace

// DefaultSyncInterval is how often a node reconciles each synced
// collection with the peers that share it, besides when they meet.
const DefaultSyncInterval = time.Minute

// ErrNotJoined is returned for a synced collection this node has not
// joined.
var ErrNotJoined = errors.New("this node has not joined that synced collection")

// Synced is a collection this node replicates: every allowed writer's
// records, kept equal with the peers that join it too. Records are pushed
// live over a gossipsub topic and caught up by reconciliation on meeting a
// peer and every sync interval. Its methods are safe for concurrent use.
type Synced struct {
	n     *Node
	r     *replica.Replica
	topic *pubsub.Topic
	sub   *pubsub.Subscription

	ctx    context.Context // ends at Leave or the node's Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closing  bool
	sessions map[sessionKey]chan struct{} // sessions running; closed when they end
	again    chan struct{}                // asks for a round with every peer
	lagging  map[peer.ID]bool             // peers gossip dropped a record to or from
	lag      chan struct{}                // tells rounds that lagging has peers
	changed  chan struct{}                // closed, and replaced, when what CaughtUp looks at changes

	joined time.Time

	relayMu sync.Mutex
	relayed map[*RelayConn]struct{} // clients connected through a relay (Relay)
}

// MaxGossipMessage is the largest gossipsub message a node sends or
// accepts: one envelope of at most envelope.MaxSize and the framing around
// it.
const MaxGossipMessage = envelope.MaxSize + 4<<10

// Peer scoring: scores decay every scoreDecay, and gossipsub ignores a
// peer whose score is below graylistThreshold.
const (
	scoreDecay        = time.Second
	graylistThreshold = -80
)

// newPubSub starts gossipsub on the node's host. Messages carry records
// that their owners signed, so gossipsub's own signatures are off and a
// message's ID is the hash of its bytes. A peer that relays an invalid
// message loses score and, past the graylist threshold, is ignored.
func (n *Node) newPubSub() (*pubsub.PubSub, error) {
	t := newDropTracer(n)
	return pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithNoAuthor(),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithMessageIdFn(func(m *pubsubpb.Message) string {
			sum := sha256.Sum256(m.Data)
			return string(sum[:])
		}),
		pubsub.WithMaxMessageSize(MaxGossipMessage),
		// A node's own records go to every topic peer, not only to its
		// mesh, which gossipsub forms at a heartbeat after peers meet: a
		// record written in that second would otherwise wait for the next
		// reconciliation.
		pubsub.WithFloodPublish(true),
		pubsub.WithRawTracer(t),
		pubsub.WithPeerScore(&pubsub.PeerScoreParams{
			SkipAtomicValidation: true,
			DecayInterval:        scoreDecay,
			DecayToZero:          0.01,
			RetainScore:          10 * time.Minute,
			Topics:               make(map[string]*pubsub.TopicScoreParams),
		}, &pubsub.PeerScoreThresholds{
			SkipAtomicValidation: true,
			GossipThreshold:      -10,
			PublishThreshold:     -50,
			GraylistThreshold:    graylistThreshold,
		}),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(t.gray.inspect), scoreDecay),
	)
}

// topicScore makes an invalid message cost its relay 100 points, decaying
// by half every second.
var topicScore = &pubsub.TopicScoreParams{
	SkipAtomicValidation:           true,
	TopicWeight:                    1,
	TimeInMeshQuantum:              time.Second,
	InvalidMessageDeliveriesWeight: -100,
	InvalidMessageDeliveriesDecay:  0.5,
}

// JoinSync starts replicating the synced collection the settings define,
// and returns it. Joining a collection already joined with the same
// settings returns it; with other settings, it is an error (leave it
// first). The replica is kept in the node's backend, and a later join
// with the same settings finds it again.
func (n *Node) JoinSync(ctx context.Context, settings replica.Settings) (*Synced, error) {
	settings, err := settings.Normalize()
	if err != nil {
		return nil, err
	}
	if n.ctx.Err() != nil {
		return nil, ErrClosed
	}
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	if s, ok := n.synced[settings.Name]; ok {
		d := settings.Digest()
		if err := s.r.Settings().Agree("this join", settings, hex.EncodeToString(d[:])); err != nil {
			return nil, fmt.Errorf("%w; the node has joined it already: leave it first to join it with other settings", err)
		}
		return s, nil
	}
	r, err := replica.OpenIn(ctx, n.backend, settings)
	if err != nil {
		return nil, err
	}
	s := &Synced{
		n: n, r: r,
		sessions: make(map[sessionKey]chan struct{}), again: make(chan struct{}, 1),
		lagging: make(map[peer.ID]bool), lag: make(chan struct{}, 1),
		changed: make(chan struct{}), joined: time.Now(),
		relayed: make(map[*RelayConn]struct{}),
	}
	topicName := settings.Topic()
	if err := n.ps.RegisterTopicValidator(topicName, s.validate); err != nil {
		return nil, fmt.Errorf("collection %s: %w", settings.Name, err)
	}
	if s.topic, err = n.ps.Join(topicName); err != nil {
		_ = n.ps.UnregisterTopicValidator(topicName)
		return nil, fmt.Errorf("collection %s: joining its topic: %w", settings.Name, err)
	}
	fail := func(err error) (*Synced, error) {
		_ = s.topic.Close()
		_ = n.ps.UnregisterTopicValidator(topicName)
		return nil, fmt.Errorf("collection %s: %w", settings.Name, err)
	}
	if err := s.topic.SetScoreParams(topicScore); err != nil {
		return fail(err)
	}
	events, err := s.topic.EventHandler()
	if err != nil {
		return fail(err)
	}
	if s.sub, err = s.topic.Subscribe(pubsub.WithBufferSize(1024)); err != nil {
		events.Cancel()
		return fail(err)
	}
	s.ctx, s.cancel = context.WithCancel(n.ctx)
	s.wg.Go(s.receive)
	s.wg.Go(func() { s.meet(events) })
	s.wg.Go(s.rounds)
	s.wg.Go(s.announce)
	n.synced[settings.Name] = s
	n.topics.Store(topicName, s)
	n.keep.joined(topicName)
	return s, nil
}

// SyncedCollection returns the joined collection called name.
func (n *Node) SyncedCollection(name string) (*Synced, error) {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	s, ok := n.synced[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotJoined, name)
	}
	return s, nil
}

// SyncedCollections returns the joined collections, by name.
func (n *Node) SyncedCollections() []*Synced {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	names := slices.Sorted(maps.Keys(n.synced))
	out := make([]*Synced, len(names))
	for i, name := range names {
		out[i] = n.synced[name]
	}
	return out
}

// LeaveSync stops replicating the collection called name. Its replica
// stays in the backend; joining again with the same settings resumes it.
func (n *Node) LeaveSync(name string) error {
	n.syncMu.Lock()
	s, ok := n.synced[name]
	delete(n.synced, name)
	n.syncMu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotJoined, name)
	}
	return s.close()
}

func (s *Synced) close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.n.topics.CompareAndDelete(s.topic.String(), s)
	s.cancel()
	s.sub.Cancel()
	s.wg.Wait()
	s.n.keep.left(s.topic.String()) // meet, which keeps peers, has returned
	return errors.Join(s.topic.Close(), s.n.ps.UnregisterTopicValidator(s.topic.String()))
}

// closeSyncs leaves every collection, at the node's Close.
func (n *Node) closeSyncs() error {
	n.syncMu.Lock()
	all := slices.Collect(maps.Values(n.synced))
	clear(n.synced)
	n.syncMu.Unlock()
	var errs []error
	for _, s := range all {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

// Name is the collection's name.
func (s *Synced) Name() string { return s.r.Settings().Name }

// Settings are the collection's settings.
func (s *Synced) Settings() replica.Settings { return s.r.Settings() }

// Replica is the node's replica of the collection.
func (s *Synced) Replica() *replica.Replica { return s.r }

// Done is closed when the node leaves the collection (LeaveSync) or
// closes: its replica takes no more records from then on.
func (s *Synced) Done() <-chan struct{} { return s.ctx.Done() }

// Put writes this node's value for key (schema version 1), signed, and
// publishes it; see PutVersion.
func (s *Synced) Put(ctx context.Context, key string, value []byte) (replica.Record, error) {
	return s.PutVersion(ctx, key, 1, value)
}

// PutVersion writes this node's value for key, of the given schema version
// (1 or more; 0 marks tombstones): it signs the record, stores it in the
// replica (durably, on the daemon's defaults) and publishes it on the
// collection's topic. The record is stored when PutVersion returns, even
// when publishing failed: peers then get it at their next
// reconciliation.
func (s *Synced) PutVersion(ctx context.Context, key string, version uint32, value []byte) (replica.Record, error) {
	if version == 0 {
		return replica.Record{}, core.Errorf(core.ErrInvalidKey, "schema version 0 marks a tombstone; use Delete")
	}
	return s.write(ctx, key, version, value)
}

// PutMany writes this node's values for puts' keys, as PutVersion does,
// and enters them into the replica in one write, all of them or none:
// when one of them cannot be stored (larger than the bounds take, or more
// records at once than the bounds keep) or the write fails, none is stored
// and the error says why. Each is then published as a record of its own,
// and peers receive and store them one by one. Records for one key: the
// last is the one stored.
func (s *Synced) PutMany(ctx context.Context, puts []replica.Put) ([]replica.Record, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, fmt.Errorf("collection %s: %w", s.Name(), core.ErrClosed)
	}
	vs, err := s.r.PutOwn(ctx, s.n.priv, s.n.clock, puts)
	if err != nil {
		return nil, err
	}
	recs := make([]replica.Record, len(vs))
	var failed []error
	for i, v := range vs {
		recs[i] = s.r.RecordOf(v.Env)
		if err := s.topic.Publish(ctx, v.Data); err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		return recs, fmt.Errorf("collection %s: the %d records are stored, but publishing %d of them failed (peers get them at their next reconciliation): %w", s.Name(), len(vs), len(failed), errors.Join(failed...))
	}
	return recs, nil
}

// Delete writes a tombstone for this node's key: a signed record that
// replaces every older version on every replica, and is forgotten after
// the collection's tombstone horizon. A key this node holds no live value
// of (none, or its tombstone) has nothing to remove: Delete writes nothing
// and returns an error wrapping core.ErrNotFound, even when other writers'
// values for the key are there, which only their writers can remove.
func (s *Synced) Delete(ctx context.Context, key string) error {
	_, err := s.write(ctx, key, 0, nil)
	return err
}

// write signs, stores and publishes this node's record for key; version
// 0 writes a tombstone, and only over a live value (see Delete).
func (s *Synced) write(ctx context.Context, key string, version uint32, value []byte) (replica.Record, error) {
	if err := s.ctx.Err(); err != nil {
		return replica.Record{}, fmt.Errorf("collection %s: %w", s.Name(), core.ErrClosed)
	}
	if key == "" {
		return replica.Record{}, core.Errorf(core.ErrInvalidKey, "a synced record needs a key")
	}
	n := s.n
	v, err := s.r.SealOwn(ctx, n.priv, n.clock, key, version, value)
	if err != nil {
		return replica.Record{}, err
	}
	stored, err := s.storeAndPublish(ctx, "", v, fmt.Sprintf("record %q", key))
	switch {
	case !stored && err == nil:
		// A record larger than a byte bound is the one the replica leaves
		// out of this node's own write.
		return replica.Record{}, s.r.TooLarge(len(v.Data))
	case !stored:
		return replica.Record{}, err
	}
	return s.r.RecordOf(v.Env), err
}

// storeAndPublish stores v, which came from peer from (empty: this node),
// in the replica and, when it is stored, publishes it on the collection's
// topic, as every record this node takes first-hand is; what names the
// record in the error of a failed publication. stored says whether the
// replica took it; a record stored but not published is in the replica
// still (peers get it at their next reconciliation), and the error says
// so.
func (s *Synced) storeAndPublish(ctx context.Context, from peer.ID, v replica.Verified, what string) (stored bool, err error) {
	n, err := s.r.Insert(ctx, from, []replica.Verified{v})
	if err != nil || n == 0 {
		return false, err
	}
	if err := s.topic.Publish(ctx, v.Data); err != nil {
		return true, fmt.Errorf("collection %s: %s is stored, but publishing it failed (peers get it at their next reconciliation): %w", s.Name(), what, err)
	}
	return true, nil
}

// Get returns writer's record for key; a tombstone is reported as
// core.ErrNotFound.
func (s *Synced) Get(ctx context.Context, writer peer.ID, key string) (replica.Record, error) {
	rec, err := s.r.Get(ctx, writer, key)
	if err == nil && rec.Deleted {
		return replica.Record{}, core.Errorf(core.ErrNotFound, "collection %s: %s deleted key %q", s.Name(), writer, key)
	}
	return rec, err
}

// Records yields every writer's live records (tombstones left out), by
// writer and key.
func (s *Synced) Records(ctx context.Context) iter.Seq2[replica.Record, error] {
	return func(yield func(replica.Record, error) bool) {
		for rec, err := range s.r.Records(ctx) {
			if err == nil && rec.Deleted {
				continue
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// Watch yields every record that enters the replica (tombstones included),
// from this node or from peers, until ctx ends, or the word that the
// watcher missed some (see replica.Replica.Watch).
func (s *Synced) Watch(ctx context.Context) iter.Seq[replica.Change] { return s.r.Watch(ctx) }

// announce publishes a SyncStored event for every record that enters the
// replica. When its watch misses changes, the subscribers lose as many
// events, and are told so as of any lost event.
func (s *Synced) announce() {
	name := s.Name()
	for c := range s.r.Watch(s.ctx) {
		if c.Missed > 0 {
			s.n.bus.lose(c.Missed, SyncStored{Collection: name})
			continue
		}
		s.n.bus.publish(SyncStored{
			At: now(), Collection: name, Writer: c.Writer, Key: c.Key,
			Clock: c.Clock, Deleted: c.Deleted, From: c.From,
		})
	}
}

// SyncStatus describes a synced collection on this node.
type SyncStatus struct {
	replica.Status
	// TopicPeers are the peers known to share the collection's topic.
	TopicPeers []peer.ID `json:"topic_peers"`
	// Relayed are the clients connected now through a relay of the
	// collection (Relay), such as pages over the gateway's sync
	// endpoint, by the time they connected.
	Relayed []RelayStatus `json:"relayed"`
}

// Status returns the collection's figures.
func (s *Synced) Status() SyncStatus {
	return SyncStatus{Status: s.r.Status(), TopicPeers: s.TopicPeers(), Relayed: s.relayedStatus()}
}

// TopicPeers returns the peers known to share the collection's topic now:
// those a record this node publishes is sent to at once (a node's own
// records go to every topic peer, not only to its mesh).
func (s *Synced) TopicPeers() []peer.ID { return s.topic.ListPeers() }

// DefaultAloneAfter is how long after joining a synced collection a node
// that knows of no peer sharing it counts itself alone (see
// Synced.CaughtUp).
const DefaultAloneAfter = 5 * time.Second

// CaughtUp waits until this node has caught up with the peers that share
// the collection, and returns them, sorted: until a reconciliation session
// with some peer since the node joined the collection has ended well, and
// one with every peer now known to share it (Status's TopicPeers); the
// figures of sessions before the join, which the replica keeps, do not
// count. A node that, alone after joining (DefaultAloneAfter when alone
// is 0 or less), knows of no peer sharing the collection and has
// reconciled with none is alone: CaughtUp then returns no peers and no
// error. A peer whose last session failed is waited for until a later one
// ends well (on meeting it again, or at the next sync interval). When ctx
// ends before either holds, the error wraps ctx's and names the peers not
// caught up with.
func (s *Synced) CaughtUp(ctx context.Context, alone time.Duration) ([]peer.ID, error) {
	if alone <= 0 {
		alone = DefaultAloneAfter
	}
	aloneAt := time.NewTimer(time.Until(s.joined.Add(alone)))
	defer aloneAt.Stop()
	for {
		// Taken before the figures are read: a change after the read
		// closes it.
		changed := s.changes()
		peers, topicPeers := s.r.Status().Peers, s.TopicPeers()
		var done []peer.ID
		for p, ps := range peers {
			if ps.Last.After(s.joined) && ps.LastError == "" {
				done = append(done, p)
			}
		}
		var waiting []string
		for _, p := range topicPeers {
			switch ps, ok := peers[p]; {
			case slices.Contains(done, p):
			case ok && ps.Last.After(s.joined):
				waiting = append(waiting, fmt.Sprintf("%s (its last session failed: %s)", p, ps.LastError))
			default:
				waiting = append(waiting, fmt.Sprintf("%s (no session since joining)", p))
			}
		}
		switch {
		case len(done) > 0 && len(waiting) == 0:
			slices.Sort(done)
			return done, nil
		case len(done) == 0 && len(waiting) == 0 && time.Since(s.joined) >= alone:
			return nil, nil
		case s.ctx.Err() != nil:
			return nil, fmt.Errorf("collection %s: %w", s.Name(), core.ErrClosed)
		case ctx.Err() != nil && len(waiting) == 0:
			return nil, fmt.Errorf("collection %s: not caught up: no peer sharing it is known yet: %w", s.Name(), ctx.Err())
		case ctx.Err() != nil:
			return nil, fmt.Errorf("collection %s: not caught up with %s: %w", s.Name(), strings.Join(waiting, ", "), ctx.Err())
		}
		// The figures are looked at once more when a session ends, the
		// topic's peers change, the node would count itself alone, or ctx
		// or the collection ends: what holds then is the answer.
		select {
		case <-changed:
		case <-aloneAt.C:
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
	}
}

// change tells CaughtUp's waiters that what it looks at changed: a
// session ended, or the topic's peers changed.
func (s *Synced) change() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
}

// changes returns the channel that the next change closes.
func (s *Synced) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// validate is the topic's validator: a record that is not a valid record
// of the collection is rejected, and counts against the peer that relayed
// it; one dated ahead of this node's clock, or no newer than the held
// version, is ignored (relaying late is normal).
func (s *Synced) validate(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	v, err := s.r.Verify(msg.Data)
	switch {
	case errors.Is(err, replica.ErrLater):
		return pubsub.ValidationIgnore
	case err != nil:
		s.n.log.Debug("refused a gossiped record", "collection", s.Name(), "from", from, "error", err)
		return pubsub.ValidationReject
	case from == s.n.id:
		// This node's own write, stored before it was published.
		return pubsub.ValidationAccept
	case !s.r.Wins(ctx, v):
		return pubsub.ValidationIgnore
	}
	msg.ValidatorData = v
	return pubsub.ValidationAccept
}

// receive stores the records gossip delivers, those that arrive together in
// one write.
func (s *Synced) receive() {
	type delivery struct {
		v    replica.Verified
		from peer.ID
	}
	ch := make(chan delivery, 1024)
	s.wg.Go(func() {
		defer close(ch)
		for {
			msg, err := s.sub.Next(s.ctx)
			if err != nil {
				return
			}
			v, ok := msg.ValidatorData.(replica.Verified)
			if !ok || msg.ReceivedFrom == s.n.id {
				continue
			}
			select {
			case ch <- delivery{v, msg.ReceivedFrom}:
			case <-s.ctx.Done():
				return
			}
		}
	})
	for d := range ch {
		batch := map[peer.ID][]replica.Verified{d.from: {d.v}}
	more:
		for range 255 {
			select {
			case d, ok := <-ch:
				if !ok {
					break more
				}
				batch[d.from] = append(batch[d.from], d.v)
			default:
				break more
			}
		}
		for from, vs := range batch {
			if _, err := s.r.Insert(s.ctx, from, vs); err != nil && s.ctx.Err() == nil {
				s.n.log.Warn("storing gossiped records failed", "collection", s.Name(), "error", err)
			}
		}
	}
}

// meet keeps each peer that joins the topic connected (up to
// KeptPerCollection) and reconciles with it. Both peers see the other
// join; the one with the smaller ID starts the session.
func (s *Synced) meet(events *pubsub.TopicEventHandler) {
	defer events.Cancel()
	for {
		ev, err := events.NextPeerEvent(s.ctx)
		if err != nil {
			return
		}
		s.change() // the topic's peers changed
		if ev.Type != pubsub.PeerJoin {
			continue
		}
		s.n.keep.keepFor(s.topic.String(), ev.Peer)
		if s.n.id < ev.Peer {
			s.start(ev.Peer)
		}
	}
}

// rounds reconciles with every topic peer each sync interval, and soon
// after a session brought records that other peers may lack; and with each
// lagging peer a moment after gossip dropped a record to or from it.
func (s *Synced) rounds() {
	t := time.NewTicker(s.n.syncInterval())
	defer t.Stop()
	for {
		peers := s.topic.ListPeers
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.again:
		case <-s.lag:
			// Drops come in bursts: let this one pass, and catch up on
			// all of it in one session.
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(lagDelay):
			}
			peers = s.laggingPeers
		}
		for _, p := range peers() {
			s.start(p)
		}
	}
}

// lagDelay is how long after gossip dropped a record a node reconciles
// with the peer that missed it, or sent it.
const lagDelay = 200 * time.Millisecond

// behind marks p as lagging: gossip dropped a record on its way to or
// from p, and gossipsub does not send it again. It never blocks.
func (s *Synced) behind(p peer.ID) {
	s.mu.Lock()
	s.lagging[p] = true
	s.mu.Unlock()
	select {
	case s.lag <- struct{}{}:
	default:
	}
}

func (s *Synced) laggingPeers() []peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.lagging))
}

// start runs a session with p in the background, unless one runs.
func (s *Synced) start(p peer.ID) {
	if _, ok := s.claim(sessionKey{peer: p}); !ok {
		return
	}
	s.wg.Go(func() {
		st, err := s.session(s.ctx, p)
		if err != nil && s.ctx.Err() == nil {
			s.n.log.Debug("reconciliation failed", "collection", s.Name(), "peer", p, "error", err)
		}
		if st.RecordsStored > 0 {
			select {
			case s.again <- struct{}{}:
			default:
			}
		}
	})
}

// sessionKey names the sessions with one peer in one direction: at most
// one runs at a time. A session each way may run at once: both peers may
// start one when they meet.
type sessionKey struct {
	peer    peer.ID
	inbound bool
}

// claim marks a session with p as running, and counts it in s.wg so
// close waits for it. When one runs already it returns the channel that
// closes when it ends; it fails when s is closing.
func (s *Synced) claim(p sessionKey) (busy <-chan struct{}, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	if done, running := s.sessions[p]; running {
		return done, false
	}
	if !p.inbound {
		// The session covers whatever gossip dropped before it.
		delete(s.lagging, p.peer)
	}
	s.sessions[p] = make(chan struct{})
	s.wg.Add(1)
	return nil, true
}

// claimWait claims k, waiting while a session k names runs.
func (s *Synced) claimWait(ctx context.Context, k sessionKey) error {
	for {
		busy, ok := s.claim(k)
		switch {
		case ok:
			return nil
		case busy == nil:
			return fmt.Errorf("collection %s: %w", s.Name(), core.ErrClosed)
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return fmt.Errorf("collection %s: a session with %s is under way: %w", s.Name(), k.peer, ctx.Err())
		}
	}
}

func (s *Synced) release(p sessionKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.sessions[p])
	delete(s.sessions, p)
	if s.lagging[p.peer] {
		// Gossip dropped another record while the session ran.
		select {
		case s.lag <- struct{}{}:
		default:
		}
	}
	s.wg.Done()
}

// Reconcile runs one reconciliation session with p, as the initiator, and
// returns its figures. When a session with p is under way it waits for it
// to end first.
func (s *Synced) Reconcile(ctx context.Context, p peer.ID) (replica.Stats, error) {
	if err := s.claimWait(ctx, sessionKey{peer: p}); err != nil {
		return replica.Stats{}, err
	}
	return s.session(ctx, p)
}

// session runs a session with p, claimed by the caller.
func (s *Synced) session(ctx context.Context, p peer.ID) (replica.Stats, error) {
	defer s.release(sessionKey{peer: p})
	if err := s.r.Err(); err != nil {
		return replica.Stats{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	// The first version in the node's order that the peer speaks.
	st, err := s.n.host.NewStream(ctx, p, s.n.syncProtocols()...)
	if err != nil {
		return replica.Stats{}, fmt.Errorf("collection %s: opening a session with %s: %w", s.Name(), p, err)
	}
	defer st.Close()
	v, ok := replica.VersionOf(string(st.Protocol()))
	if !ok {
		st.Reset()
		return replica.Stats{}, fmt.Errorf("collection %s: %s agreed to protocol %q, which this node did not offer", s.Name(), p, st.Protocol())
	}
	share := s.n.inbound.Initiated()
	defer share.Release()
	stats, err := s.r.ReconcileVersion(ctx, share.Conn(st), v, p, nil)
	s.change() // the replica's figures of p changed
	if err != nil {
		return stats, fmt.Errorf("collection %s: reconciling with %s: %w", s.Name(), p, err)
	}
	return stats, nil
}

// handleSync answers a reconciliation session of version v a peer
// starts. It takes a slot of the node's inbound bound before it reads
// anything of it.
func (n *Node) handleSync(st network.Stream, v replica.Version) {
	defer st.Close()
	p := st.Conn().RemotePeer()
	slot, err := n.inbound.Admit(n.ctx, p)
	if err != nil {
		replica.Refuse(st, err.Error())
		return
	}
	defer slot.Release()
	c := slot.Conn(st)
	_ = st.SetReadDeadline(time.Now().Add(replica.ReplyTimeout))
	first, _, err := v.ReadMessage(c)
	switch {
	case errors.Is(err, io.EOF):
		return // the peer asked nothing
	case err != nil:
		replica.Refuse(c, "reading the first message: "+err.Error())
		return
	}
	n.syncMu.Lock()
	s, ok := n.synced[first.Collection]
	n.syncMu.Unlock()
	if !ok {
		if first.Error == "" {
			replica.Refuse(c, fmt.Sprintf("this node does not replicate collection %q", first.Collection))
		}
		return
	}
	if _, err := s.answer(s.ctx, c, p, first); err != nil {
		n.log.Debug("reconciliation failed", "collection", s.Name(), "peer", p, "error", err)
	}
}

// answer answers the session that p started over c, whose first message
// the caller read, holding a slot of the node's inbound bound for it: the
// one answer of a session over a libp2p stream (handleSync) and over
// another transport (Respond). A first message that carries an error (the
// peer ended the session before it began) gets no answer, and answer
// returns that error; one of another collection or settings is refused
// with an error message.
func (s *Synced) answer(ctx context.Context, c replica.Conn, p peer.ID, first *replica.Message) (replica.Stats, error) {
	refuse := func(format string, args ...any) (replica.Stats, error) {
		err := fmt.Errorf(format, args...)
		replica.Refuse(c, err.Error())
		return replica.Stats{}, err
	}
	switch {
	case first.Error != "":
		return replica.Stats{}, fmt.Errorf("collection %s: %s ended the session before it began: %s", s.Name(), p, first.Error)
	case first.Collection != s.Name():
		return refuse("this connection replicates collection %q, not %q", s.Name(), first.Collection)
	}
	if d := s.r.Digest(); string(first.Digest) != string(d[:]) {
		return refuse("collection %q has other settings here (writers, bounds or tombstone horizon): its digest differs", first.Collection)
	}
	// The peer's previous session may still be ending here; an inbound
	// session waits for nothing else, so waiting for it cannot deadlock.
	in := sessionKey{p, true}
	wait, cancelWait := context.WithTimeout(ctx, replica.ReplyTimeout)
	err := s.claimWait(wait, in)
	cancelWait()
	if err != nil {
		return refuse("collection %q: %v", first.Collection, err)
	}
	defer s.release(in)
	st, err := s.r.Reconcile(ctx, c, p, first)
	s.change() // the replica's figures of p changed
	if st.RecordsStored > 0 {
		select {
		case s.again <- struct{}{}:
		default:
		}
	}
	return st, err
}

func (n *Node) syncInterval() time.Duration {
	if n.cfg.SyncInterval > 0 {
		return n.cfg.SyncInterval
	}
	return DefaultSyncInterval
}

// dropTracer follows gossipsub for the records it drops and never sends
// again: to a peer whose outbound queue is full, from a peer whose
// messages arrive faster than they can be validated, from a graylisted
// peer, or to a subscription that falls behind. A synced collection then
// catches up with that peer by reconciliation at once, not at the next
// sync interval. Its methods run inside gossipsub's loop, so they must not
// block.
type dropTracer struct {
	n    *Node
	gray *graylist
}

func newDropTracer(n *Node) dropTracer {
	return dropTracer{n: n, gray: &graylist{until: make(map[peer.ID]time.Time)}}
}

func (t dropTracer) behind(topic string, p peer.ID) {
	if s, ok := t.n.topics.Load(topic); ok && p != "" && p != t.n.id {
		s.(*Synced).behind(p)
	}
}

func (t dropTracer) DropRPC(rpc *pubsub.RPC, p peer.ID) {
	for _, m := range rpc.GetPublish() {
		t.behind(m.GetTopic(), p)
	}
}

func (t dropTracer) RejectMessage(msg *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationQueueFull, pubsub.RejectValidationThrottled:
		t.behind(msg.GetTopic(), msg.ReceivedFrom)
	case pubsub.RejectValidationFailed:
		t.gray.rejected(msg.ReceivedFrom)
	}
}

// RecvRPC sees every RPC before gossipsub drops those of a graylisted
// peer, records and all.
func (t dropTracer) RecvRPC(rpc *pubsub.RPC) {
	if len(rpc.GetPublish()) == 0 || !t.gray.has(rpc.From()) {
		return
	}
	for _, m := range rpc.GetPublish() {
		t.behind(m.GetTopic(), rpc.From())
	}
}

// graylist knows the peers whose messages gossipsub ignores for now, their
// score being below graylistThreshold: a record one relays meanwhile is
// dropped unseen. Scores are read at each inspection, every scoreDecay;
// between two, a peer whose message the validator rejected counts as
// graylisted until the next decay, since one invalid message costs more
// than the threshold (topicScore) and a score rises only as it decays. A
// peer is taken as graylisted a little longer than it is, never less,
// which costs at most a session that finds nothing. It is safe for
// concurrent use.
type graylist struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time // graylisted at least until then
}

// rejected notes that the validator rejected a message p relayed.
func (g *graylist) rejected(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.until[p] = time.Now().Add(scoreDecay)
}

// inspect takes the peers' scores, as gossipsub reports them every
// scoreDecay.
func (g *graylist) inspect(scores map[peer.ID]float64) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, until := range g.until {
		if !now.Before(until) {
			delete(g.until, p)
		}
	}
	for p, score := range scores {
		if score < graylistThreshold {
			g.until[p] = now.Add(scoreDecay) // until the next inspection
		}
	}
}

// has reports whether gossipsub ignores p's messages for now.
func (g *graylist) has(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Now().Before(g.until[p])
}

func (t dropTracer) UndeliverableMessage(msg *pubsub.Message) {
	t.behind(msg.GetTopic(), msg.ReceivedFrom)
}

func (dropTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (dropTracer) RemovePeer(peer.ID)                                   {}
func (dropTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (dropTracer) OnClosedOutboundStream(peer.ID)                       {}
func (dropTracer) Join(string)                                          {}
func (dropTracer) Leave(string)                                         {}
func (dropTracer) Graft(peer.ID, string)                                {}
func (dropTracer) Prune(peer.ID, string)                                {}
func (dropTracer) ValidateMessage(*pubsub.Message)                      {}
func (dropTracer) DeliverMessage(*pubsub.Message)                       {}
func (dropTracer) DuplicateMessage(*pubsub.Message)                     {}
func (dropTracer) ThrottlePeer(peer.ID)                                 {}
func (dropTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (dropTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
