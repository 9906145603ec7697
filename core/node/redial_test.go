package node_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// redialBound is how soon a closed connection to a kept peer must be open
// again and carry a write: seconds, where the DHT's refresh took minutes.
const redialBound = 10 * time.Second

// TestRedialCollectionPeer: a connection between two peers of a synced
// collection, closed, is dialled again, and a write made after it closed
// reaches the other peer within seconds; neither node is a bootstrap peer
// of the other, and neither runs the DHT.
func TestRedialCollectionPeer(t *testing.T) {
	ctx := nodetest.Context(t)
	a, b := startClient(t), startClient(t)
	ca, err := a.JoinSync(ctx, replica.Settings{Name: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.JoinSync(ctx, replica.Settings{Name: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(ctx, addrInfo(b)); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, ctx, "each node keeping the other for chat", func() bool {
		return keptFor(a, b, "chat") && keptFor(b, a, "chat")
	})
	if err := a.Host().Network().ClosePeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Put(ctx, "after", []byte("the connection closed")); err != nil {
		t.Fatal(err)
	}
	arrived, cancel := context.WithTimeout(ctx, redialBound)
	defer cancel()
	nodetest.Eventually(t, arrived, "the write on b", func() bool {
		rec, err := cb.Get(ctx, a.ID(), "after")
		return err == nil && string(rec.Value) == "the connection closed"
	})
	for _, n := range []*node.Node{a, b} {
		other := a
		if n == a {
			other = b
		}
		if !n.Host().ConnManager().IsProtected(other.ID(), "") {
			t.Errorf("%s does not protect its peer %s from the connection manager", n.ID(), other.ID())
		}
	}

	// After leaving, the peer is no longer kept.
	if err := b.LeaveSync("chat"); err != nil {
		t.Fatal(err)
	}
	if keptFor(b, a, "chat") || b.Host().ConnManager().IsProtected(a.ID(), "") {
		t.Errorf("b still keeps a after leaving chat: %+v", b.KeptPeers())
	}
}

// TestKeptPerCollectionBound: of the peers that join a collection, the
// node keeps KeptPerCollection.
func TestKeptPerCollectionBound(t *testing.T) {
	ctx := nodetest.Context(t)
	nodes := startNodes(t, node.KeptPerCollection+2, func(_ int, c *node.Config) { c.Mode = node.ModeClient })
	hub, others := nodes[0], nodes[1:]
	for _, n := range nodes {
		if _, err := n.JoinSync(ctx, replica.Settings{Name: "chat"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range others {
		if err := n.Connect(ctx, addrInfo(hub)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := hub.SyncedCollection("chat")
	if err != nil {
		t.Fatal(err)
	}
	// The hub keeps each peer as its join reaches it: wait for the bound,
	// failing when it is passed.
	nodetest.Eventually(t, ctx, "every peer in the hub's topic, and the bound kept", func() bool {
		kept := 0
		for _, n := range others {
			if keptFor(hub, n, "chat") {
				kept++
			}
		}
		if kept > node.KeptPerCollection {
			t.Fatalf("the hub keeps %d of the %d peers of chat, want %d: %+v", kept, len(others), node.KeptPerCollection, hub.KeptPeers())
		}
		return kept == node.KeptPerCollection && len(c.Status().TopicPeers) == len(others)
	})
}

// TestRedialBootstrapPeer: a node keeps its bootstrap peer connected.
func TestRedialBootstrapPeer(t *testing.T) {
	ctx := nodetest.Context(t)
	boot := startClient(t)
	cfg := nodetest.Config(t)
	cfg.Mode = node.ModeClient
	cfg.Bootstrap = multiaddrs(boot)
	n := nodetest.Start(t, cfg)
	// Both sides must hold the connection before one closes it.
	nodetest.Eventually(t, ctx, "the connection to the bootstrap peer", func() bool {
		return n.Host().Network().Connectedness(boot.ID()) == network.Connected &&
			boot.Host().Network().Connectedness(n.ID()) == network.Connected
	})
	if got := n.KeptPeers(); len(got) != 1 || got[0].ID != boot.ID() || !slices.Equal(got[0].Why, []string{"bootstrap"}) {
		t.Errorf("kept peers %+v, want the bootstrap peer", got)
	}
	sub := n.Subscribe(0)
	defer sub.Close()
	if err := boot.Host().Network().ClosePeer(n.ID()); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, sub, func(e node.PeerDisconnected) bool { return e.Peer == boot.ID() })
	again, cancel := context.WithTimeout(ctx, redialBound)
	defer cancel()
	nextEvent(t, again, sub, func(e node.PeerConnected) bool { return e.Peer == boot.ID() && !e.Inbound })
}

// dialCounter is a gater that counts the dials of one peer, and refuses
// them while it is blocked.
type dialCounter struct {
	gater
	peer  peer.ID
	dials atomic.Int32
}

func (g *dialCounter) InterceptPeerDial(p peer.ID) bool {
	if p == g.peer {
		g.dials.Add(1)
	}
	return g.gater.InterceptPeerDial(p)
}

// TestRedialUnreachedBootstrapPeer: a bootstrap peer that the bootstrap at
// start could not reach is dialled again by the node's keeper, without
// another bootstrap, and is connected once it can be reached.
func TestRedialUnreachedBootstrapPeer(t *testing.T) {
	ctx := nodetest.Context(t)
	boot := startClient(t)
	g := &dialCounter{peer: boot.ID()}
	g.set(boot.ID(), true)
	cfg := nodetest.Config(t)
	cfg.Mode = node.ModeClient
	cfg.Bootstrap = multiaddrs(boot)
	cfg.ConnectionGater = g
	n := nodetest.Start(t, cfg)
	// The bootstrap at start's dial, then the keeper's.
	nodetest.Eventually(t, ctx, "a second dial of the unreachable bootstrap peer", func() bool { return g.dials.Load() >= 2 })
	g.set(boot.ID(), false)
	again, cancel := context.WithTimeout(ctx, redialBound)
	defer cancel()
	nodetest.Eventually(t, again, "the connection to the bootstrap peer", func() bool {
		return n.Host().Network().Connectedness(boot.ID()) == network.Connected
	})
}

// TestRestartRemembersPeers: a node restarted while its only bootstrap
// peer is down connects to a peer it knew before the restart, found in its
// store, and keeps it connected as a peer of the collection they share.
func TestRestartRemembersPeers(t *testing.T) {
	ctx := nodetest.Context(t)
	boot := startClient(t)
	former := startClient(t)
	if _, err := former.JoinSync(ctx, replica.Settings{Name: "chat"}); err != nil {
		t.Fatal(err)
	}
	// A persistent in-memory engine that outlives the node.
	e := &loggedEngine{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	cfg := nodetest.Config(t)
	cfg.Mode = node.ModeClient
	cfg.Storage, cfg.Registry, cfg.Suite, cfg.CertDir = "logged://", loggedRegistry(t, e, core.Capabilities{Persistent: true}), passSuite{}, t.TempDir()
	cfg.Bootstrap = multiaddrs(boot)
	n, err := node.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.JoinSync(ctx, replica.Settings{Name: "chat"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Connect(ctx, addrInfo(former)); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, ctx, "the former peer in the remembered list", func() bool {
		v, err := e.Get(ctx, ds.NewKey(node.NodeNamespace+"/peers"))
		return err == nil && strings.Contains(string(v), former.ID().String()) && strings.Contains(string(v), `"topics"`)
	})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := boot.Close(); err != nil {
		t.Fatal(err)
	}

	n, err = node.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	nodetest.Eventually(t, ctx, "a connection to the former peer", func() bool {
		return n.Host().Network().Connectedness(former.ID()) == network.Connected
	})
	// The collection joined again keeps it; the bootstrap peer is still
	// kept, and dialled, while it is down.
	if _, err := n.JoinSync(ctx, replica.Settings{Name: "chat"}); err != nil {
		t.Fatal(err)
	}
	if !keptFor(n, former, "chat") {
		t.Errorf("kept peers %+v, want the former peer for chat", n.KeptPeers())
	}
	if !keptFor(n, boot, "bootstrap") {
		t.Errorf("kept peers %+v, want the bootstrap peer", n.KeptPeers())
	}
}

// TestRememberedPeersUnreadable: a node whose remembered list cannot be
// read starts without it.
func TestRememberedPeersUnreadable(t *testing.T) {
	e := &loggedEngine{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	if err := e.Put(t.Context(), ds.NewKey(node.NodeNamespace+"/peers"), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	cfg := nodetest.Config(t)
	cfg.Storage, cfg.Registry, cfg.Suite, cfg.CertDir = "logged://", loggedRegistry(t, e, core.Capabilities{Persistent: true}), passSuite{}, t.TempDir()
	n := nodetest.Start(t, cfg)
	if got := n.KeptPeers(); len(got) != 0 {
		t.Errorf("kept peers %+v from an unreadable list", got)
	}
}

func startClient(t *testing.T) *node.Node {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.Mode = node.ModeClient
	return nodetest.Start(t, cfg)
}

// multiaddrs is n's addresses, as a bootstrap list.
func multiaddrs(n *node.Node) []peer.AddrInfo {
	out, _ := peer.AddrInfosFromP2pAddrs(n.Addrs()...)
	return out
}

// keptFor tells whether n keeps p, for the reason why.
func keptFor(n, p *node.Node, why string) bool {
	for _, kp := range n.KeptPeers() {
		if kp.ID == p.ID() {
			return slices.Contains(kp.Why, why)
		}
	}
	return false
}
