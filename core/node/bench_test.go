package node_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// alternate runs the two trials of iteration i, netabase's first on even
// iterations and stock's first on odd ones, so that neither always runs
// in the wake of the other's background work.
func alternate(i int, netabase, stock func()) {
	if i%2 == 0 {
		netabase()
		stock()
		return
	}
	stock()
	netabase()
}

// benchNodes is the size of the benchmark networks.
const benchNodes = 20

// stockNode is a go-libp2p-kad-dht node with its defaults: the /ipfs
// protocol, the pk and ipns validators, an in-memory datastore.
type stockNode struct {
	h host.Host
	d *dht.IpfsDHT
}

// stockNetwork starts count stock nodes in server mode on loopback, in the
// topology startNetwork gives netabase nodes: each connects to the first,
// then every node adds its connected peers to its routing table and
// refreshes it.
func stockNetwork(b *testing.B, count int) []stockNode {
	b.Helper()
	ctx := nodetest.Context(b)
	nodes := make([]stockNode, count)
	for i := range nodes {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
		if err != nil {
			b.Fatal(err)
		}
		d, err := dht.New(h, dht.Mode(dht.ModeServer))
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = stockNode{h, d}
		b.Cleanup(func() {
			_ = d.Close()
			_ = h.Close()
		})
	}
	for _, n := range nodes[1:] {
		if err := n.h.Connect(ctx, peer.AddrInfo{ID: nodes[0].h.ID(), Addrs: nodes[0].h.Addrs()}); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			for _, p := range n.h.Network().Peers() {
				_, _ = n.d.RoutingTable().TryAddPeer(p, true, false)
			}
			<-n.d.ForceRefresh()
		})
	}
	wg.Wait()
	return nodes
}

// samples collects the latencies and outcomes of one operation.
type samples struct {
	d  []time.Duration
	ok int
}

func (s *samples) add(start time.Time, ok bool) { s.addDuration(time.Since(start), ok) }

func (s *samples) addDuration(d time.Duration, ok bool) {
	s.d = append(s.d, d)
	if ok {
		s.ok++
	}
}

func (s *samples) pct(p float64) time.Duration {
	d := slices.Clone(s.d)
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func (s *samples) report(b *testing.B, name string) {
	b.ReportMetric(float64(s.pct(0.50).Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(s.pct(0.95).Microseconds())/1000, name+"-p95-ms")
	b.ReportMetric(100*float64(s.ok)/float64(len(s.d)), name+"-success-%")
}

// The DHT20 benchmarks compare netabase with stock go-libp2p-kad-dht on two
// 20-node loopback networks of the same topology, started afresh for each
// run, and each iteration runs one trial on each network, in alternating
// order:
//
//   - BenchmarkDHT20Records: put a record on one node, then get it from
//     another (a netabase record is a signed envelope on the default pebble
//     backend; a stock record is a /pk record, the only kind stock nodes take
//     without a custom validator, in their in-memory datastore);
//   - BenchmarkDHT20Providers: provide a key on one node, then find its
//     first provider from another.
//
// Run them as
//
//	go test ./core/node -run '^$' -bench DHT20 -benchtime 200x -count 5
func benchNetworks(b *testing.B) ([]*node.Node, []stockNode) {
	b.Helper()
	nb := startNetwork(b, benchNodes, func(_ int, c *node.Config) {
		c.Storage = "pebble://" + filepath.Join(c.DataDir, "store")
	})
	return nb, stockNetwork(b, benchNodes)
}

func BenchmarkDHT20Records(b *testing.B) {
	nb, stock := benchNetworks(b)
	value := bytes.Repeat([]byte("v"), 100)
	ctx := nodetest.Context(b)
	b.ResetTimer()
	var nbPut, nbGet, stPut, stGet samples
	for i := range b.N {
		from, to := i%benchNodes, (i+7)%benchNodes
		netabaseTrial := func() {
			name := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
			start := time.Now()
			res, err := nb[from].Publish(ctx, name, "bench", 1, value)
			nbPut.add(start, err == nil && res.Accepted > 0)
			start = time.Now()
			got, err := nb[to].GetRecord(ctx, res.Key)
			nbGet.add(start, err == nil && got.Envelope != nil && bytes.Equal(got.Envelope.Value, value))
		}
		stockTrial := func() {
			// A fresh key pair gives a fresh /pk record (made before the
			// clock starts, though the envelope's signing is part of
			// netabase's put).
			_, pub, _ := crypto.GenerateEd25519Key(nil)
			id, _ := peer.IDFromPublicKey(pub)
			pk, _ := crypto.MarshalPublicKey(pub)
			key := "/pk/" + string(id)
			start := time.Now()
			err := stock[from].d.PutValue(ctx, key, pk)
			stPut.add(start, err == nil)
			start = time.Now()
			v, err := stock[to].d.GetValue(ctx, key)
			stGet.add(start, err == nil && bytes.Equal(v, pk))
		}
		alternate(i, netabaseTrial, stockTrial)
	}
	nbPut.report(b, "netabase-put")
	nbGet.report(b, "netabase-get")
	stPut.report(b, "stock-put")
	stGet.report(b, "stock-get")
	b.ReportMetric(float64(nbPut.pct(0.5))/float64(stPut.pct(0.5)), "put-p50-ratio")
	b.ReportMetric(float64(nbGet.pct(0.5))/float64(stGet.pct(0.5)), "get-p50-ratio")
}

func BenchmarkDHT20Providers(b *testing.B) {
	nb, stock := benchNetworks(b)
	ctx := nodetest.Context(b)
	b.ResetTimer()
	var nbProv, nbFind, stProv, stFind samples
	for i := range b.N {
		from, to := i%benchNodes, (i+7)%benchNodes
		key := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
		netabaseTrial := func() {
			start := time.Now()
			res, err := nb[from].StartProviding(ctx, key)
			nbProv.add(start, err == nil && res.Sent > 0)
			start = time.Now()
			_, found, err := nb[to].FindProviders(ctx, key, 1)
			nbFind.add(start, err == nil && len(found) == 1 && found[0].ID == nb[from].ID())
		}
		stockTrial := func() {
			mh, _ := multihash.Sum([]byte(key), multihash.SHA2_256, -1)
			c := cid.NewCidV1(cid.Raw, mh)
			start := time.Now()
			err := stock[from].d.Provide(ctx, c, true)
			stProv.add(start, err == nil)
			start = time.Now()
			var first []peer.AddrInfo
			for ai := range stock[to].d.FindProvidersAsync(ctx, c, 1) {
				first = append(first, ai)
			}
			stFind.add(start, len(first) == 1 && first[0].ID == stock[from].h.ID())
		}
		alternate(i, netabaseTrial, stockTrial)
	}
	nbProv.report(b, "netabase-provide")
	nbFind.report(b, "netabase-find")
	stProv.report(b, "stock-provide")
	stFind.report(b, "stock-find")
	b.ReportMetric(float64(nbProv.pct(0.5))/float64(stProv.pct(0.5)), "provide-p50-ratio")
	b.ReportMetric(float64(nbFind.pct(0.5))/float64(stFind.pct(0.5)), "find-p50-ratio")
}
