package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/core"
)

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID    peer.ID
	Addrs []ma.Multiaddr // the remote addresses of the connections
	// Inbound is true when the first connection was dialled by the peer.
	Inbound bool
	// Agent is what the peer told Identify, such as "netabase/0.1.0".
	Agent string
	// Latency is the peer's round-trip time as measured so far, or 0.
	Latency time.Duration
	// Routing is true when the peer is in the DHT's routing table.
	Routing bool
}

// Peers lists the connected peers, sorted by ID.
func (n *Node) Peers() []PeerInfo {
	var rt []peer.ID
	n.mu.RLock()
	if n.dht != nil {
		rt = n.dht.RoutingTable().ListPeers()
	}
	n.mu.RUnlock()
	var out []PeerInfo
	for _, p := range n.host.Network().Peers() {
		pi := PeerInfo{ID: p, Latency: n.host.Peerstore().LatencyEWMA(p), Routing: slices.Contains(rt, p)}
		for i, c := range n.host.Network().ConnsToPeer(p) {
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr())
			if i == 0 {
				pi.Inbound = c.Stat().Direction == network.DirInbound
			}
		}
		if v, err := n.host.Peerstore().Get(p, "AgentVersion"); err == nil {
			pi.Agent, _ = v.(string)
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// ParsePeerAddr parses a multiaddr that ends in /p2p/<peer ID>.
func ParsePeerAddr(s string) (peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, core.Errorf(core.ErrInvalidKey, "%q is not a multiaddr: %v", s, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return peer.AddrInfo{}, core.Errorf(core.ErrInvalidKey, "%q names no peer; end it with /p2p/<peer ID>", s)
	}
	return *ai, nil
}

// Connect connects to a peer at the addresses given or at the addresses
// the node already knows; with a connection already open it returns at
// once. An address given that no connection to the peer uses afterwards
// is forgotten again (unless the node knew it before), so the node never
// tells other peers an address it did not reach the peer at. PeerInfo's
// Addrs say which addresses the connections use.
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if ai.ID == n.id {
		return core.Errorf(core.ErrInvalidKey, "%s is this node", ai.ID)
	}
	known := n.host.Peerstore().Addrs(ai.ID)
	err := n.host.Connect(ctx, ai)
	var used []ma.Multiaddr
	for _, c := range n.host.Network().ConnsToPeer(ai.ID) {
		used = append(used, c.RemoteMultiaddr())
	}
	for _, a := range ai.Addrs {
		if !slices.ContainsFunc(known, a.Equal) && !slices.ContainsFunc(used, a.Equal) {
			n.host.Peerstore().SetAddr(ai.ID, a, 0)
		}
	}
	if err != nil {
		return fmt.Errorf("cannot connect to %s: %w", ai.ID, err)
	}
	return nil
}

// Disconnect closes every connection to p. The peer may connect again, and
// a kept peer (see KeptPeers) is dialled again.
func (n *Node) Disconnect(p peer.ID) error {
	if n.host.Network().Connectedness(p) != network.Connected {
		return core.Errorf(core.ErrNotFound, "not connected to %s", p)
	}
	return n.host.Network().ClosePeer(p)
}

// AddAddress makes the node remember addr as an address of p, permanently
// (until RemoveAddress or RemovePeer), so it can dial p by ID and tell
// other peers where p is.
func (n *Node) AddAddress(p peer.ID, addr ma.Multiaddr) error {
	if err := p.Validate(); err != nil {
		return core.Errorf(core.ErrInvalidKey, "%q is not a peer ID: %v", p, err)
	}
	if p == n.id {
		return core.Errorf(core.ErrInvalidKey, "%s is this node", p)
	}
	n.host.Peerstore().AddAddr(p, addr, peerstore.PermanentAddrTTL)
	return nil
}

// RemoveAddress makes the node forget addr as an address of p.
func (n *Node) RemoveAddress(p peer.ID, addr ma.Multiaddr) error {
	if !slices.ContainsFunc(n.host.Peerstore().Addrs(p), addr.Equal) {
		return core.Errorf(core.ErrNotFound, "%s is not a known address of %s", addr, p)
	}
	n.host.Peerstore().SetAddr(p, addr, 0)
	return nil
}

// PeerAddrs returns the addresses the node knows for p.
func (n *Node) PeerAddrs(p peer.ID) []ma.Multiaddr { return n.host.Peerstore().Addrs(p) }

// RemovePeer makes the node forget p: it leaves the routing table and the
// kept and remembered peers (see KeptPeers), its connections close and its
// addresses are forgotten. The peer may come back by connecting again.
func (n *Node) RemovePeer(p peer.ID) error {
	n.keep.forget(p)
	n.mu.RLock()
	if n.dht != nil {
		n.dht.RoutingTable().RemovePeer(p)
	}
	n.mu.RUnlock()
	err := n.host.Network().ClosePeer(p)
	n.host.Peerstore().ClearAddrs(p)
	n.host.Peerstore().RemovePeer(p)
	return err
}

// RoutingTable lists the peers in the DHT's routing table.
func (n *Node) RoutingTable() []peer.ID {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.dht == nil {
		return nil
	}
	return n.dht.RoutingTable().ListPeers()
}

// BootstrapResult says how a bootstrap went.
type BootstrapResult struct {
	// Connected is how many bootstrap peers the node is connected to.
	Connected int
	// Failed holds why each bootstrap peer that could not be reached
	// could not.
	Failed []error
	// RoutingTable is the routing table's size after the refresh.
	RoutingTable int
}

// Bootstrap connects to the configured bootstrap peers and refreshes the
// routing table: it looks up the node's own ID and random IDs in each
// bucket, which fills the table with the peers the network knows. It waits
// for the refresh to finish.
func (n *Node) Bootstrap(ctx context.Context) (BootstrapResult, error) {
	d, ctx, release, err := n.use(ctx)
	if err != nil {
		return BootstrapResult{}, err
	}
	defer release()
	var res BootstrapResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ai := range n.bootstrap {
		wg.Go(func() {
			err := n.host.Connect(ctx, ai)
			if err != nil {
				// The keeper redials it, with backoff.
				n.keep.disconnected(ai.ID)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed = append(res.Failed, fmt.Errorf("bootstrap peer %s: %w", ai.ID, err))
				return
			}
			res.Connected++
		})
	}
	wg.Wait()
	if d.RoutingTable().Size() == 0 && len(n.host.Network().Peers()) == 0 {
		if len(n.bootstrap) == 0 {
			return res, errors.New("no peers to bootstrap from: configure bootstrap peers, or connect to a peer first")
		}
		return res, fmt.Errorf("no bootstrap peer could be reached: %w", errors.Join(res.Failed...))
	}
	// kad-dht adds a connected peer to the routing table once it has
	// answered a lookup check, in the background; the refresh needs them
	// now. Each peer is asked at once, not one after another.
	var added sync.WaitGroup
	for _, p := range n.host.Network().Peers() {
		added.Go(func() {
			if n.servesDHT(ctx, p) {
				_, _ = d.RoutingTable().TryAddPeer(p, true, false)
			}
		})
	}
	added.Wait()
	select {
	case err = <-d.ForceRefresh():
	case <-ctx.Done():
		err = ctx.Err()
	}
	res.RoutingTable = d.RoutingTable().Size()
	if err != nil {
		return res, fmt.Errorf("refreshing the routing table: %w", err)
	}
	return res, nil
}

// servesDHT says whether p, a connected peer, answers the node's DHT
// protocol. Its Identify says so, but not always at once: a host answers
// Identify from a snapshot of its protocols that it updates in the
// background, so a node that was just started can tell its first peers
// that it speaks none of the protocols it set up after its host (the DHT's
// among them), and push the full list a moment later. A peer identified
// without the protocol is asked directly, by opening a stream of it.
func (n *Node) servesDHT(ctx context.Context, p peer.ID) bool {
	n.waitIdentified(ctx, p)
	kad := n.kadProtocol()
	if ok, _ := n.host.Peerstore().SupportsProtocols(p, kad); len(ok) > 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, kad)
	if err != nil {
		return false
	}
	_ = s.Reset()
	return true
}

// waitIdentified waits until Identify has run on the connections to p (a
// peer that dialled this node may not be identified yet), or ctx ends.
func (n *Node) waitIdentified(ctx context.Context, p peer.ID) {
	ids, ok := n.host.(interface{ IDService() identify.IDService })
	if !ok {
		return
	}
	for _, c := range n.host.Network().ConnsToPeer(p) {
		select {
		case <-ids.IDService().IdentifyWait(c):
		case <-ctx.Done():
			return
		}
	}
}

// Protocols lists the protocols the node speaks.
type Protocols struct {
	// DHT is the Kademlia protocol, such as /netabase/kad/1.0.0.
	DHT protocol.ID
	// Prefix is the DHT protocol prefix.
	Prefix protocol.ID
	// Host lists every protocol the host handles now (the DHT protocol
	// among them only in server mode), sorted.
	Host []protocol.ID
}

// Protocols returns the protocol names the node uses.
func (n *Node) Protocols() Protocols {
	host := n.host.Mux().Protocols()
	slices.Sort(host)
	return Protocols{DHT: n.kadProtocol(), Prefix: n.prefix, Host: host}
}
