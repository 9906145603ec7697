package node_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// TestInteropIPFS: with the /ipfs prefix, a netabase node and a stock
// kad-dht node (default options, in-memory store) find each other's
// provider records; a netabase record is refused, saying why.
func TestInteropIPFS(t *testing.T) {
	ctx := nodetest.Context(t)
	cfg := nodetest.Config(t)
	cfg.ProtocolPrefix = node.PrefixIPFS
	n := nodetest.Start(t, cfg)

	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	stock, err := dht.New(h, dht.Mode(dht.ModeServer))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stock.Close()
		_ = h.Close()
	})
	if err := n.Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	// kad-dht adds a connected peer to the table in the background; a
	// Bootstrap before that fails with "failed to find any peer in table"
	// (see connectDHT).
	nodetest.Eventually(t, ctx, "the netabase node's routing table to hold the stock node", func() bool {
		return slices.Contains(n.RoutingTable(), h.ID())
	})
	if _, err := n.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if p := n.Protocols(); p.DHT != "/ipfs/kad/1.0.0" {
		t.Fatalf("protocols %+v", p)
	}
	// Both routing tables hold the other.
	nodetest.Eventually(t, ctx, "the stock node's routing table to hold the netabase node", func() bool {
		return slices.Contains(stock.RoutingTable().ListPeers(), n.ID())
	})

	mh, _ := multihash.Sum([]byte("stock's block"), multihash.SHA2_256, -1)
	stockKey := cid.NewCidV1(cid.Raw, mh)
	if err := stock.Provide(ctx, stockKey, true); err != nil {
		t.Fatal(err)
	}
	_, found, err := n.FindProviders(ctx, stockKey.String(), 0)
	if err != nil || !slices.ContainsFunc(found, func(ai peer.AddrInfo) bool { return ai.ID == h.ID() }) {
		t.Errorf("netabase found providers %v, %v; want the stock node", found, err)
	}

	res, err := n.StartProviding(ctx, "netabase's block")
	if err != nil || res.Sent != 1 {
		t.Fatalf("provide: %+v, %v", res, err)
	}
	nodetest.Eventually(t, ctx, "the stock node to find the netabase node as provider", func() bool {
		provs, err := stock.FindProviders(ctx, res.CID)
		return err == nil && slices.ContainsFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == n.ID() })
	})

	if _, err := n.Publish(ctx, "x", "text", 1, []byte("v")); !errors.Is(err, node.ErrNetabaseOnIPFS) || !strings.Contains(err.Error(), "accept only pk and ipns records") {
		t.Errorf("publishing on /ipfs: %v", err)
	}
	if _, err := n.GetRecord(ctx, "/netabase/"+n.ID().String()+"/x"); !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("getting a netabase record on /ipfs: %v", err)
	}
}

// appValidator accepts values that start with "ok" and prefers the longer.
type appValidator struct{}

func (appValidator) Validate(_ string, v []byte) error {
	if !strings.HasPrefix(string(v), "ok") {
		return errors.New("values start with ok")
	}
	return nil
}

func (appValidator) Select(_ string, vs [][]byte) (int, error) {
	best := 0
	for i, v := range vs {
		if len(v) > len(vs[best]) {
			best = i
		}
	}
	return best, nil
}

// TestUserNamespace: an application's own namespace, with its validator.
func TestUserNamespace(t *testing.T) {
	ctx := nodetest.Context(t)
	nodes := startNetwork(t, 3, func(_ int, c *node.Config) {
		c.Validators = map[string]record.Validator{"app": appValidator{}}
	})
	res, err := nodes[0].PutRecord(ctx, "/app/thing", []byte("ok, longer"))
	if err != nil || res.Accepted != 2 {
		t.Fatalf("put: %+v, %v", res, err)
	}
	got, err := nodes[2].GetRecord(ctx, "/app/thing")
	if err != nil || string(got.Value) != "ok, longer" || got.Envelope != nil {
		t.Errorf("get: %+v, %v", got, err)
	}
	if _, err := nodes[1].PutRecord(ctx, "/app/thing", []byte("bad")); !errors.Is(err, core.ErrRejected) {
		t.Errorf("invalid value: %v", err)
	}
	// The selector keeps the longer value: a shorter one is refused.
	if _, err := nodes[1].PutRecord(ctx, "/app/thing", []byte("ok")); !errors.Is(err, core.ErrRejected) {
		t.Errorf("worse value: %v", err)
	}
	if _, err := nodes[1].PutRecord(ctx, "/other/thing", []byte("ok")); !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("unknown namespace: %v", err)
	}
	if _, err := nodes[1].PutRecord(ctx, "no-namespace", []byte("ok")); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("no namespace: %v", err)
	}
}

// TestRepublish: the node re-sends its records and provider records, by
// itself every republish interval, so a peer that joined later holds them.
func TestRepublish(t *testing.T) {
	ctx := nodetest.Context(t)
	cfg := nodetest.Config(t)
	cfg.RepublishInterval = time.Second
	a := nodetest.Start(t, cfg)
	// Alone, a publishes to nobody.
	rec, err := a.Publish(ctx, "r", "text", 1, []byte("v"))
	if err != nil || rec.Peers != 0 {
		t.Fatalf("publish alone: %+v, %v", rec, err)
	}
	if res, err := a.StartProviding(ctx, "k"); err != nil || res.Peers != 0 {
		t.Fatalf("provide alone: %+v, %v", res, err)
	}
	b := nodetest.Start(t, nodetest.Config(t))
	sub := b.Subscribe(0)
	defer sub.Close()
	if err := b.Connect(ctx, addrInfo(a)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node.Node{a, b} {
		if _, err := n.Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Within an interval or two, b receives both without anyone asking.
	nextEvent(t, ctx, sub, func(e node.RecordReceived) bool { return e.Key == rec.Key && e.Via == node.ViaPut })
	nextEvent(t, ctx, sub, func(e node.ProviderAdded) bool { return e.Provider == a.ID() })
	if _, err := b.Records().Get(ctx, rec.Key); err != nil {
		t.Errorf("b does not store the republished record: %v", err)
	}

	res, err := a.Republish(ctx)
	if err != nil || res.Records != 1 || res.Providers != 1 {
		t.Errorf("Republish: %+v, %v", res, err)
	}
}

// TestMDNS: two nodes on one machine find each other with mDNS and connect.
func TestMDNS(t *testing.T) {
	if err := multicastWorks(); err != nil {
		msg := fmt.Sprintf("MULTICAST IS UNAVAILABLE HERE, SO mDNS DISCOVERY IS NOT TESTED: %v", err)
		fmt.Fprintln(os.Stderr, "WARNING: TestMDNS: "+msg)
		t.Skip(msg)
	}
	ctx := nodetest.Context(t)
	mdnsNode := func() *node.Node {
		cfg := nodetest.Config(t)
		cfg.MDNS = true
		return nodetest.Start(t, cfg)
	}
	a := mdnsNode()
	sub := a.Subscribe(0)
	defer sub.Close()
	b := mdnsNode()
	// Each finds the other; whichever dials first, a sees b discovered and
	// connected, in either order.
	var discovered, connected bool
	for ev := range sub.Events(ctx) {
		switch ev := ev.(type) {
		case node.PeerDiscovered:
			if ev.Peer == b.ID() {
				discovered = true
				if ev.Source != "mdns" || len(ev.Addrs) == 0 {
					t.Errorf("discovery event %+v", ev)
				}
			}
		case node.PeerConnected:
			connected = connected || ev.Peer == b.ID()
		}
		if discovered && connected {
			return
		}
	}
	t.Fatalf("before the deadline: discovered %v, connected %v", discovered, connected)
}

// multicastWorks sends one datagram to a multicast group on this machine
// and says whether it came back.
func multicastWorks() error {
	group := &net.UDPAddr{IP: net.IPv4(239, 255, 77, 77), Port: 0}
	var ifi *net.Interface
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 && i.Flags&net.FlagLoopback == 0 {
			ifi = &i
			break
		}
	}
	if ifi == nil {
		return errors.New("no network interface is up with multicast")
	}
	l, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: group.IP, Port: 0})
	if err != nil {
		return err
	}
	defer l.Close()
	group.Port = l.LocalAddr().(*net.UDPAddr).Port
	c, err := net.DialUDP("udp4", nil, group)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("netabase")); err != nil {
		return err
	}
	_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 16)
	n, _, err := l.ReadFromUDP(buf)
	if err != nil {
		return fmt.Errorf("a datagram sent to %s on %s did not come back: %w", group, ifi.Name, err)
	}
	if string(buf[:n]) != "netabase" {
		return errors.New("the multicast datagram came back changed")
	}
	return nil
}
