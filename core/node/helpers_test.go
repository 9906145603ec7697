package node_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
)

// certDir is shared by every node of the package's tests, so the admission
// gate runs the conformance suite once per backend, not once per node.
var certDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "netabase-node-certs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	certDir = dir
	// Admit the in-memory backend once, before tests start nodes in
	// parallel that would each run the suite.
	if err := admit("memory://"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// admit runs the admission gate on url with the shared certificate cache,
// so that nodes started afterwards on the same backend find it admitted.
func admit(url string) error {
	gate := &core.Gate{Registry: all.Registry(), Suite: conformance.Suite(""), CertDir: certDir}
	b, _, err := gate.Admit(context.Background(), url)
	if err != nil {
		return err
	}
	return b.Close()
}

// testTimeout bounds one test's network operations.
const testTimeout = 60 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// nodeConfig is a loopback node on an in-memory store, in server mode,
// without mDNS.
func nodeConfig(t testing.TB) node.Config {
	t.Helper()
	return node.Config{
		DataDir: t.TempDir(), CertDir: certDir, Registry: all.Registry(), Suite: conformance.Suite(""),
		Storage: "memory://",
		Listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Mode:    node.ModeServer,
	}
}

func startNode(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.New(testContext(t), cfg)
	if err != nil {
		t.Fatalf("starting a node: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("closing node %s: %v", n.ID(), err)
		}
	})
	return n
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
	eventually(t, ctx, "each node in the other's routing table", func() bool {
		return slices.Contains(a.RoutingTable(), b.ID()) && slices.Contains(b.RoutingTable(), a.ID())
	})
}

// startNetwork starts count nodes, connects each to the first, and bootstraps
// them all, so that every routing table holds the network.
func startNetwork(t testing.TB, count int, configure func(i int, c *node.Config)) []*node.Node {
	t.Helper()
	nodes := startNodes(t, count, configure)
	ctx := testContext(t)
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
		cfg := nodeConfig(t)
		if configure != nil {
			configure(i, &cfg)
		}
		wg.Go(func() {
			n, err := node.New(testContext(t), cfg)
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
