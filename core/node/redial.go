package node

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// NodeNamespace is the key prefix under which the node keeps its own data
// in the backend: the peers it remembers across restarts, at
// NodeNamespace/peers.
const NodeNamespace = "/node"

// KeptPerCollection bounds how many peers of each synced collection the
// node keeps connected (see Node.KeptPeers).
const KeptPerCollection = 8

// RememberedPeers bounds how many peers the node remembers across
// restarts: the netabase peers it was connected to most recently.
const RememberedPeers = 32

// The connection manager's protection tags of kept peers.
const (
	tagBootstrap  = "netabase-bootstrap"
	tagRemembered = "netabase-remembered"
	tagSync       = "netabase-sync:" // followed by the collection's topic
)

const (
	// redialFirst is how long after a kept peer disconnected the node with
	// the smaller peer ID dials it again; the other waits mdnsDialDelay
	// longer and dials only if no connection came (see mdnsNotifee for
	// why only one should dial). Each failed dial doubles the wait, up to
	// redialMax, with a quarter of jitter either way.
	redialFirst = 250 * time.Millisecond
	redialMax   = time.Minute
	dialTimeout = 15 * time.Second
	saveTimeout = 5 * time.Second
	// rememberedAddrs bounds the addresses remembered of one peer, and
	// rememberedTopics the collections.
	rememberedAddrs  = 8
	rememberedTopics = 16
	// saveDelay is the least time between two writes of the remembered
	// peers.
	saveDelay = time.Second
)

var peersKey = ds.NewKey(NodeNamespace).ChildString("peers")

// keeper keeps the node's important peers connected: it protects them from
// the connection manager and redials them with backoff when they
// disconnect. It also remembers the netabase peers the node was connected
// to, in the backend, so that a restarted node finds them again when its
// bootstrap peers are down.
type keeper struct {
	n *Node

	mu    sync.Mutex
	kept  map[peer.ID]*keptPeer
	known map[peer.ID]*knownPeer
	dirty chan struct{} // the known peers changed since they were saved
}

type keptPeer struct {
	tags  map[string]bool
	addrs []ma.Multiaddr
	down  chan struct{} // the peer disconnected
	stop  chan struct{} // closed when the last tag is gone
}

// knownPeer is a remembered peer, as the backend keeps it.
type knownPeer struct {
	ID     string    `json:"id"`
	Addrs  []string  `json:"addrs"`
	Topics []string  `json:"topics,omitempty"` // the synced collections it shared
	Seen   time.Time `json:"seen"`             // when it was last connected
}

// newKeeper returns the node's keeper, holding the remembered peers from
// the backend; startKeeper starts it. watchNetwork, which follows the
// host's connections, hands it the disconnections and identifications
// it needs.
func (n *Node) newKeeper(ctx context.Context) *keeper {
	k := &keeper{n: n, kept: make(map[peer.ID]*keptPeer), known: make(map[peer.ID]*knownPeer), dirty: make(chan struct{}, 1)}
	k.load(ctx)
	return k
}

// startKeeper keeps the remembered peers and the bootstrap peers, and
// starts saving the known peers as they change. The bootstrap peers are
// dialled by the bootstrap at start (see start), not at once by the
// keeper too: it redials them once that dial has failed or they
// disconnect.
func (k *keeper) start() {
	n := k.n
	k.mu.Lock()
	for _, ai := range n.bootstrap {
		k.tagLocked(ai.ID, tagBootstrap, ai.Addrs)
	}
	for _, kp := range k.known {
		id, _ := peer.Decode(kp.ID) // checked by load
		k.tagLocked(id, tagRemembered, parseAddrs(kp.Addrs))
	}
	k.mu.Unlock()
	n.wg.Go(k.saveLoop)
}

// load reads the remembered peers from the backend. A list that cannot be
// read is logged and left: the node starts without it.
func (k *keeper) load(ctx context.Context) {
	data, err := k.n.backend.Get(ctx, peersKey)
	if errors.Is(err, ds.ErrNotFound) {
		return
	}
	var list []*knownPeer
	if err == nil {
		err = json.Unmarshal(data, &list)
	}
	if err != nil {
		k.n.log.Warn("cannot read the remembered peers; starting without them", "key", peersKey.String(), "error", err)
		return
	}
	for _, kp := range list {
		id, err := peer.Decode(kp.ID)
		if err != nil || id == k.n.id || len(k.known) == RememberedPeers {
			continue
		}
		k.known[id] = kp
	}
}

// addrStrings is the first rememberedAddrs of addrs, as text.
func addrStrings(addrs []ma.Multiaddr) []string {
	out := make([]string, 0, min(len(addrs), rememberedAddrs))
	for _, a := range addrs[:cap(out)] {
		out = append(out, a.String())
	}
	return out
}

func parseAddrs(ss []string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, s := range ss {
		if a, err := ma.NewMultiaddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// tagLocked keeps p for tag, dialling it at addrs too.
func (k *keeper) tagLocked(p peer.ID, tag string, addrs []ma.Multiaddr) {
	if p == k.n.id {
		return
	}
	kp, ok := k.kept[p]
	if !ok {
		kp = &keptPeer{tags: make(map[string]bool), down: make(chan struct{}, 1), stop: make(chan struct{})}
		k.kept[p] = kp
		// A bootstrap peer the bootstrap at start dials is not dialled
		// here too until that dial fails (see Bootstrap).
		dialled := tag == tagBootstrap
		k.n.wg.Go(func() { k.redial(p, kp, dialled) })
	}
	if len(addrs) > 0 {
		kp.addrs = addrs
	}
	kp.tags[tag] = true
	k.n.host.ConnManager().Protect(p, tag)
}

// untagLocked stops keeping p for tag; without tags, p is no longer kept.
func (k *keeper) untagLocked(p peer.ID, tag string) {
	kp, ok := k.kept[p]
	if !ok || !kp.tags[tag] {
		return
	}
	delete(kp.tags, tag)
	k.n.host.ConnManager().Unprotect(p, tag)
	if len(kp.tags) == 0 {
		close(kp.stop)
		delete(k.kept, p)
	}
}

// redial dials p whenever it is not connected, until p is no longer kept.
// When dialled, another dial of p is under way: redial first waits for
// word that it failed, or that p disconnected (k.disconnected).
func (k *keeper) redial(p peer.ID, kp *keptPeer, dialled bool) {
	n := k.n
	first := redialFirst
	if n.id > p {
		first += mdnsDialDelay
	}
	delay := time.Duration(0) // a peer kept while not connected is dialled at once
	if dialled {
		select {
		case <-n.ctx.Done():
			return
		case <-kp.stop:
			return
		case <-kp.down:
		}
		delay = first
	}
	for {
		if n.host.Network().Connectedness(p) == network.Connected {
			delay = first
			select {
			case <-n.ctx.Done():
				return
			case <-kp.stop:
				return
			case <-kp.down:
			}
			continue
		}
		if delay > 0 {
			t := time.NewTimer(delay*3/4 + rand.N(delay/2))
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-kp.stop:
				t.Stop()
				return
			case <-t.C:
			}
			if n.host.Network().Connectedness(p) == network.Connected {
				continue
			}
		}
		k.mu.Lock()
		addrs := kp.addrs
		k.mu.Unlock()
		// The node's own backoff replaces the swarm's, which would refuse
		// every dial to an address for 5 s after one failed.
		ctx, cancel := context.WithTimeout(network.WithForceDirectDial(n.ctx, "redialling a kept peer"), dialTimeout)
		err := n.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs})
		cancel()
		if err != nil {
			n.log.Debug("cannot redial a kept peer", "peer", p, "error", err)
			delay = min(max(2*delay, first), redialMax)
		}
	}
}

// disconnected tells p's redial loop, when p is kept, that p is not
// connected: it disconnected, or a dial of it failed.
func (k *keeper) disconnected(p peer.ID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kp, ok := k.kept[p]; ok {
		select {
		case kp.down <- struct{}{}:
		default: // the redial loop has yet to see the last one
		}
	}
}

// identified remembers a netabase peer the node has connected to, at the
// addresses it listens on; a remembered peer reached again is no longer
// kept for being remembered.
func (k *keeper) identified(e event.EvtPeerIdentificationCompleted) {
	if !slices.Contains(e.Protocols, SyncProtocol) && !slices.Contains(e.Protocols, SyncProtocol2) && !slices.Contains(e.Protocols, k.n.kadProtocol()) {
		return
	}
	addrs := e.ListenAddrs
	k.mu.Lock()
	defer k.mu.Unlock()
	if kp, ok := k.kept[e.Peer]; ok && len(addrs) > 0 {
		kp.addrs = addrs
	}
	k.untagLocked(e.Peer, tagRemembered)
	kp := k.rememberLocked(e.Peer)
	if len(addrs) > 0 {
		kp.Addrs = addrStrings(addrs)
	}
	k.changedLocked()
}

// rememberLocked returns p's entry among the known peers, making one (and
// forgetting the peer seen longest ago past RememberedPeers) if there is
// none. Connected peers count as seen now.
func (k *keeper) rememberLocked(p peer.ID) *knownPeer {
	now := time.Now()
	if kp, ok := k.known[p]; ok {
		kp.Seen = now
		return kp
	}
	kp := &knownPeer{ID: p.String(), Seen: now}
	k.known[p] = kp
	if len(k.known) > RememberedPeers {
		var oldest peer.ID
		for id, q := range k.known {
			if id == p {
				continue
			}
			if k.n.host.Network().Connectedness(id) == network.Connected {
				q.Seen = now
			}
			if oldest == "" || q.Seen.Before(k.known[oldest].Seen) {
				oldest = id
			}
		}
		delete(k.known, oldest)
		k.untagLocked(oldest, tagRemembered) // forgotten: no longer dialled for being remembered
	}
	return kp
}

func (k *keeper) changedLocked() {
	select {
	case k.dirty <- struct{}{}:
	default:
	}
}

// keepFor keeps p, a peer of the synced collection on topic, unless
// KeptPerCollection of its peers are kept already and all of them are
// connected; otherwise p takes the place of one that is not.
func (k *keeper) keepFor(topic string, p peer.ID) {
	tag := tagSync + topic
	k.mu.Lock()
	defer k.mu.Unlock()
	if kp, ok := k.kept[p]; ok && kp.tags[tag] {
		return
	}
	var same []peer.ID
	for id, kp := range k.kept {
		if kp.tags[tag] {
			same = append(same, id)
		}
	}
	if len(same) >= KeptPerCollection {
		i := slices.IndexFunc(same, func(id peer.ID) bool { return k.n.host.Network().Connectedness(id) != network.Connected })
		if i < 0 {
			return
		}
		k.untagLocked(same[i], tag)
	}
	k.tagLocked(p, tag, nil)
	kp := k.rememberLocked(p)
	if len(kp.Addrs) == 0 {
		kp.Addrs = addrStrings(k.n.host.Peerstore().Addrs(p))
	}
	if !slices.Contains(kp.Topics, topic) {
		kp.Topics = append(kp.Topics, topic)
		kp.Topics = kp.Topics[max(0, len(kp.Topics)-rememberedTopics):]
	}
	k.changedLocked()
}

// joined keeps the remembered peers that shared the synced collection on
// topic, the most recently seen first, up to KeptPerCollection.
func (k *keeper) joined(topic string) {
	k.mu.Lock()
	var ids []peer.ID
	for id, kp := range k.known {
		if slices.Contains(kp.Topics, topic) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b peer.ID) int { return k.known[b].Seen.Compare(k.known[a].Seen) })
	tag := tagSync + topic
	for _, id := range ids[:min(len(ids), KeptPerCollection)] {
		k.tagLocked(id, tag, parseAddrs(k.known[id].Addrs))
	}
	k.mu.Unlock()
}

// left stops keeping the peers of the synced collection on topic.
func (k *keeper) left(topic string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id := range k.kept {
		k.untagLocked(id, tagSync+topic)
	}
}

// forget stops keeping p and forgets it.
func (k *keeper) forget(p peer.ID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kp, ok := k.kept[p]; ok {
		for tag := range kp.tags {
			k.untagLocked(p, tag)
		}
	}
	if _, ok := k.known[p]; ok {
		delete(k.known, p)
		k.changedLocked()
	}
}

// saveLoop writes the known peers to the backend when they change, at
// most once every saveDelay, and once more at Close if they changed.
func (k *keeper) saveLoop() {
	n := k.n
	for {
		select {
		case <-n.ctx.Done():
			select {
			case <-k.dirty:
				ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
				defer cancel()
				k.save(ctx)
			default:
			}
			return
		case <-k.dirty:
		}
		k.save(n.ctx)
		t := time.NewTimer(saveDelay)
		select {
		case <-n.ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func (k *keeper) save(ctx context.Context) {
	k.mu.Lock()
	list := slices.Collect(maps.Values(k.known))
	slices.SortFunc(list, func(a, b *knownPeer) int { return b.Seen.Compare(a.Seen) })
	data, err := json.Marshal(list)
	k.mu.Unlock()
	if err == nil {
		err = k.n.backend.Put(ctx, peersKey, data)
	}
	if err != nil {
		k.n.log.Warn("cannot save the remembered peers", "key", peersKey.String(), "error", err)
	}
}

// KeptPeer is a peer the node keeps connected.
type KeptPeer struct {
	ID peer.ID
	// Why lists the reasons: "bootstrap", "remembered" (known before a
	// restart and not reached since), or the names of the synced
	// collections it is kept for.
	Why []string
}

// KeptPeers lists the peers the node keeps connected, sorted by ID: its
// bootstrap peers, up to KeptPerCollection peers of each synced collection
// (those that joined its topic first; one that is not connected gives its
// place to a new one), and, after a restart, the peers it remembered from
// before until it reaches each once. The connection manager never closes
// their connections, and when the last one closes the node dials the peer
// again: after a quarter of a second (the node with the larger peer ID
// waits 2 s longer, so that the two do not dial each other at once), each
// failure doubling the wait, up to a minute.
func (n *Node) KeptPeers() []KeptPeer {
	topics := make(map[string]string)
	for _, s := range n.SyncedCollections() {
		topics[tagSync+s.topic.String()] = s.Name()
	}
	n.keep.mu.Lock()
	defer n.keep.mu.Unlock()
	var out []KeptPeer
	for _, id := range slices.Sorted(maps.Keys(n.keep.kept)) {
		kp := KeptPeer{ID: id}
		for tag := range n.keep.kept[id].tags {
			switch {
			case tag == tagBootstrap:
				kp.Why = append(kp.Why, "bootstrap")
			case tag == tagRemembered:
				kp.Why = append(kp.Why, "remembered")
			case topics[tag] != "":
				kp.Why = append(kp.Why, topics[tag])
			}
		}
		slices.Sort(kp.Why)
		out = append(out, kp)
	}
	return out
}
