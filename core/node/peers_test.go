package node_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// nextEvent returns the first event of sub that match accepts, failing the
// test at its deadline.
func nextEvent[E node.Event](t *testing.T, ctx context.Context, sub *node.Subscription, match func(E) bool) E {
	t.Helper()
	for ev := range sub.Events(ctx) {
		if e, ok := ev.(E); ok && (match == nil || match(e)) {
			return e
		}
	}
	var zero E
	t.Fatalf("no %T event before the deadline: %v", zero, ctx.Err())
	return zero
}

func TestBootstrapFromConfig(t *testing.T) {
	seed := nodetest.Start(t, nodetest.Config(t))
	others := startNetwork(t, 3, nil)
	ctx := nodetest.Context(t)
	for _, n := range others {
		if err := n.Connect(ctx, addrInfo(seed)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := nodetest.Config(t)
	seedInfo, err := peer.AddrInfosFromP2pAddrs(seed.Addrs()...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Bootstrap = seedInfo
	n := nodetest.Start(t, cfg)
	res, err := n.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 1 || len(res.Failed) != 0 {
		t.Errorf("bootstrap result %+v, want the one seed connected", res)
	}
	// The refresh found the peers the seed knows, not only the seed.
	if res.RoutingTable < 4 || len(n.RoutingTable()) < 4 {
		t.Errorf("routing table of %d (%d) after bootstrap, want the seed and its 3 peers", res.RoutingTable, len(n.RoutingTable()))
	}
}

// TestBootstrapJustStarted: two nodes bootstrap from each other right after
// they start and connect. A host answers its first Identify from a snapshot
// of its protocols taken before the node set up its DHT, so a peer can be
// told the DHT is not there; Bootstrap asks the peer itself, and each
// pair's refresh has the other in its table. Before, about one pair in
// fifteen failed with "failed to find any peer in table" on a loaded
// machine, so many pairs are tried.
func TestBootstrapJustStarted(t *testing.T) {
	ctx := nodetest.Context(t)
	for i := range 40 {
		a, b := nodetest.Start(t, nodetest.Config(t)), nodetest.Start(t, nodetest.Config(t))
		if err := a.Connect(ctx, addrInfo(b)); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node.Node{a, b} {
			if _, err := n.Bootstrap(ctx); err != nil {
				t.Fatalf("pair %d: %v", i, err)
			}
		}
		for _, n := range []*node.Node{a, b} {
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestBootstrapErrors(t *testing.T) {
	ctx := nodetest.Context(t)
	alone := nodetest.Start(t, nodetest.Config(t))
	if _, err := alone.Bootstrap(ctx); err == nil || !strings.Contains(err.Error(), "no peers to bootstrap from") {
		t.Errorf("bootstrap with nothing configured: %v", err)
	}
	gone := nodetest.Start(t, nodetest.Config(t))
	addr, err := peer.AddrInfoFromP2pAddr(gone.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := nodetest.Config(t)
	cfg.Bootstrap = []peer.AddrInfo{*addr}
	n := nodetest.Start(t, cfg)
	res, err := n.Bootstrap(ctx)
	if err == nil || !strings.Contains(err.Error(), "no bootstrap peer could be reached") || len(res.Failed) != 1 {
		t.Errorf("bootstrap from a stopped peer: %+v, %v", res, err)
	}
}

func TestAddressesAndPeers(t *testing.T) {
	ctx := nodetest.Context(t)
	a, b := nodetest.Start(t, nodetest.Config(t)), nodetest.Start(t, nodetest.Config(t))
	sub := a.Subscribe(0)
	defer sub.Close()
	addr := b.Host().Addrs()[0]
	if err := a.AddAddress(b.ID(), addr); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(a.PeerAddrs(b.ID()), addr.Equal) {
		t.Fatalf("added address missing: %v", a.PeerAddrs(b.ID()))
	}
	// Dial by ID alone, from the remembered address.
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID()}); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, sub, func(e node.PeerConnected) bool { return e.Peer == b.ID() && !e.Inbound })
	peers := a.Peers()
	if len(peers) != 1 || peers[0].ID != b.ID() || !strings.HasPrefix(peers[0].Agent, "netabase/") {
		t.Fatalf("peers %+v", peers)
	}
	if err := a.RemoveAddress(b.ID(), addr); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(a.PeerAddrs(b.ID()), addr.Equal) {
		t.Errorf("removed address still known")
	}
	if err := a.RemoveAddress(b.ID(), addr); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("removing it twice: %v", err)
	}
	nodetest.Eventually(t, ctx, "b in a's routing table", func() bool { return slices.Contains(a.RoutingTable(), b.ID()) })
	if err := a.RemovePeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, sub, func(e node.PeerDisconnected) bool { return e.Peer == b.ID() })
	if slices.Contains(a.RoutingTable(), b.ID()) || len(a.PeerAddrs(b.ID())) != 0 || a.Host().Network().Connectedness(b.ID()) == network.Connected {
		t.Errorf("after RemovePeer: routing %v, addrs %v", a.RoutingTable(), a.PeerAddrs(b.ID()))
	}
	// Forgotten: dialling by ID alone has nowhere to go.
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID()}); err == nil {
		t.Error("connected to a removed peer by ID")
	}
	if err := a.AddAddress(a.ID(), addr); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("adding an address of the node itself: %v", err)
	}
}

// TestDisconnect, between clients: no DHT traffic dials the peer again.
func TestDisconnect(t *testing.T) {
	ctx := nodetest.Context(t)
	client := func() *node.Node {
		cfg := nodetest.Config(t)
		cfg.Mode = node.ModeClient
		return nodetest.Start(t, cfg)
	}
	a, b := client(), client()
	sub := a.Subscribe(0)
	defer sub.Close()
	if err := a.Connect(ctx, addrInfo(b)); err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(b.ID()); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, sub, func(e node.PeerDisconnected) bool { return e.Peer == b.ID() })
	if a.Host().Network().Connectedness(b.ID()) == network.Connected {
		t.Error("still connected after Disconnect")
	}
	if err := a.Disconnect(b.ID()); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("disconnecting twice: %v", err)
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: a.ID()}); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("connecting to itself: %v", err)
	}
}

func TestParsePeerAddr(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGRUVh7TmVTNNfckbuMsL4tH2Bu1fvWBFBFNsG3gXvs7q", ""},
		{"/ip4/127.0.0.1/tcp/1", "names no peer"},
		{"not a multiaddr", "is not a multiaddr"},
	} {
		_, err := node.ParsePeerAddr(tc.in)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParsePeerAddr(%q): %v, want %q", tc.in, err, tc.err)
		}
	}
}

// TestModes: a mode change takes effect at once, keeps the node's data,
// tells other peers (a client leaves their routing tables) and is an event.
func TestModes(t *testing.T) {
	nodes := startNetwork(t, 4, nil)
	ctx := nodetest.Context(t)
	a := nodes[1]
	if m := a.Mode(); m.Configured != node.ModeServer || m.Effective != node.ModeServer {
		t.Fatalf("mode %+v", m)
	}
	rec, err := a.Publish(ctx, "kept", "text", 1, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	sub := a.Subscribe(0)
	defer sub.Close()
	m, err := a.SetMode(ctx, node.ModeClient)
	if err != nil || m.Configured != node.ModeClient || m.Effective != node.ModeClient {
		t.Fatalf("SetMode(client): %+v, %v", m, err)
	}
	ev := nextEvent[node.ModeChanged](t, ctx, sub, nil)
	if ev.Effective != node.ModeClient {
		t.Errorf("event %+v", ev)
	}
	if slices.Contains(a.Protocols().Host, a.Protocols().DHT) {
		t.Errorf("a client still handles %s", a.Protocols().DHT)
	}
	// Peers drop the client when Identify tells them it stopped serving,
	// or at the latest when they next query it (a lookup on four nodes
	// queries every peer in the table).
	for _, other := range []*node.Node{nodes[0], nodes[2], nodes[3]} {
		nodetest.Eventually(t, ctx, "the client to leave the routing tables", func() bool {
			if !slices.Contains(other.RoutingTable(), a.ID()) {
				return true
			}
			_, _, _ = other.FindProviders(ctx, "probe", 0)
			return !slices.Contains(other.RoutingTable(), a.ID())
		})
	}
	// A client still uses the network, and its records are still there.
	if got, err := a.GetRecord(ctx, rec.Key); err != nil || got.Source != node.SourceLocal {
		t.Errorf("client get: %+v, %v", got, err)
	}
	if got, err := nodes[3].GetRecord(ctx, rec.Key); err != nil {
		t.Errorf("another node's get of the client's record: %+v, %v", got, err)
	}
	if _, err := a.Publish(ctx, "from-client", "text", 1, []byte("w")); err != nil {
		t.Errorf("client publish: %v", err)
	}
	if m, err := a.SetMode(ctx, node.ModeAuto); err != nil || m.Configured != node.ModeAuto || m.Effective != node.ModeServer {
		// Auto serves while reachability is unknown, as on loopback.
		t.Errorf("SetMode(auto): %+v, %v", m, err)
	}
	nextEvent(t, ctx, sub, func(e node.ModeChanged) bool { return e.Configured == node.ModeAuto && e.Effective == node.ModeServer })
	for _, other := range []*node.Node{nodes[0], nodes[2], nodes[3]} {
		nodetest.Eventually(t, ctx, "the server to rejoin the routing tables", func() bool {
			if slices.Contains(other.RoutingTable(), a.ID()) {
				return true
			}
			_, _ = other.Bootstrap(ctx)
			return slices.Contains(other.RoutingTable(), a.ID())
		})
	}
	if _, err := a.SetMode(ctx, "sometimes"); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("SetMode(sometimes): %v", err)
	}
}

func TestClientModeFromConfig(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Mode = node.ModeClient
	n := nodetest.Start(t, cfg)
	if m := n.Mode(); m.Configured != node.ModeClient || m.Effective != node.ModeClient {
		t.Errorf("mode %+v", m)
	}
	p := n.Protocols()
	if p.DHT != "/netabase/kad/1.0.0" || p.Prefix != "/netabase" || slices.Contains(p.Host, p.DHT) {
		t.Errorf("protocols %+v", p)
	}
}
