package node_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

func TestMain(m *testing.M) {
	// Admit the in-memory backend once, before tests start nodes in
	// parallel that would each run the suite.
	os.Exit(nodetest.Main(m, "memory://"))
}

// addrInfo is how other nodes reach n.
func addrInfo(n *node.Node) peer.AddrInfo {
	return peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}
}

// connectDHT connects a to b and waits until each holds the other in its
// routing table, which is all two nodes need to publish to and fetch from
// each other. It does not bootstrap: every lookup of Bootstrap's refresh
// starts from the routing table and fails with "failed to find any peer in
// table" when it is empty at that moment, and kad-dht adds a connected
// peer to it, and evicts one, in the background (after Identify and a
// FIND_NODE check; after a failed query), so between two fresh nodes under
// load the refresh can lose that race. Waiting for the tables themselves
// to hold the peers does not depend on timing.
func connectDHT(t *testing.T, ctx context.Context, a, b *node.Node) {
	t.Helper()
	if err := a.Connect(ctx, addrInfo(b)); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, ctx, "each node in the other's routing table", func() bool {
		return slices.Contains(a.RoutingTable(), b.ID()) && slices.Contains(b.RoutingTable(), a.ID())
	})
}

// startNetwork starts count nodes, connects each to the first, and bootstraps
// them all, so that every routing table holds the network.
func startNetwork(t testing.TB, count int, configure func(i int, c *node.Config)) []*node.Node {
	t.Helper()
	nodes := startNodes(t, count, configure)
	ctx := nodetest.Context(t)
	for _, n := range nodes[1:] {
		if err := n.Connect(ctx, addrInfo(nodes[0])); err != nil {
			t.Fatal(err)
		}
	}
	// A Bootstrap whose node's routing table is still empty fails with
	// "failed to find any peer in table": wait until each node holds the
	// first, and the first every node, as a connection puts them there.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, n := range nodes[1:] {
		for !slices.Contains(n.RoutingTable(), nodes[0].ID()) || !slices.Contains(nodes[0].RoutingTable(), n.ID()) {
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for the routing tables of the first node and %s: %v", n.ID(), ctx.Err())
			case <-tick.C:
			}
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, count)
	for i, n := range nodes {
		wg.Go(func() { _, errs[i] = n.Bootstrap(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("bootstrapping node %d: %v", i, err)
		}
	}
	return nodes
}

// startNodes starts count nodes at once, not connected, each closed at the
// end of the test.
func startNodes(t testing.TB, count int, configure func(i int, c *node.Config)) []*node.Node {
	t.Helper()
	nodes := make([]*node.Node, count)
	var wg sync.WaitGroup
	errs := make([]error, count)
	for i := range nodes {
		cfg := nodetest.Config(t)
		if configure != nil {
			configure(i, &cfg)
		}
		wg.Go(func() {
			n, err := node.New(nodetest.Context(t), cfg)
			nodes[i], errs[i] = n, err
		})
	}
	wg.Wait()
	for i, n := range nodes {
		if errs[i] != nil {
			t.Fatalf("starting node %d: %v", i, errs[i])
		}
		t.Cleanup(func() {
			if err := n.Close(); err != nil {
				t.Errorf("closing node %d: %v", i, err)
			}
		})
	}
	return nodes
}
