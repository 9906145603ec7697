package node_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// The Sync benchmarks run a synced collection on networks of nodes in one
// process on 127.0.0.1, linked in a sparse random topology (benchLinks),
// with one writer, node 0:
//
//   - BenchmarkSyncLive: 20 nodes; each iteration publishes one record
//     through netabase (Put: seal, store, publish; every receiver verifies
//     and stores it) and one raw gossipsub message of the same size on 20
//     plain libp2p hosts of the same topology (gossipsub's defaults, its
//     message signing on), in alternating order, and measures the time
//     until the 19 other nodes hold the record, or received the message.
//     The netabase nodes store on pebble with sync_writes on (the
//     daemon's defaults), or in memory.
//   - BenchmarkSyncScale: 100 nodes in memory; the writer publishes
//     scaleRecords records back to back, and the benchmark measures the
//     time until every replica has the writer's fingerprint, each record's
//     time until all 99 others hold it, and the bytes each node received
//     per record, gossip and reconciliation apart.
//
// Run them as
//
//	go test ./core/node -run '^$' -bench SyncLive -benchtime 200x -count 3
//	go test ./core/node -run '^$' -bench SyncScale -benchtime 1x
const (
	benchCollection = "bench"
	// benchRoundTimeout bounds the wait for one record to reach every
	// node; a record that takes longer counts as a failure.
	benchRoundTimeout = 10 * time.Second
	// benchTimeout bounds a whole benchmark run.
	benchTimeout = 10 * time.Minute
	// gossipSettle is how long a fresh network is left before it is
	// measured: two gossipsub heartbeats, at which each node grafts its
	// topic peers into its mesh.
	gossipSettle = 2 * time.Second
	scaleNodes   = 100
	scaleRecords = 50
	// scaleTimeout bounds the wait for every record to reach every node.
	scaleTimeout = time.Minute
)

// benchLinks is a connected sparse random graph on n nodes, the same for
// every run: a ring, and one more link from each node to another chosen at
// random, so that a node has about four neighbours.
func benchLinks(n int) [][2]int {
	rng := rand.New(rand.NewPCG(20, 4))
	seen := make(map[[2]int]bool)
	var links [][2]int
	link := func(a, b int) bool {
		l := [2]int{min(a, b), max(a, b)}
		if a == b || seen[l] {
			return false
		}
		seen[l] = true
		links = append(links, l)
		return true
	}
	for i := range n {
		link(i, (i+1)%n)
	}
	for i := range n {
		for !link(i, rng.IntN(n)) {
		}
	}
	return links
}

// arrival is the moment node got the record or message id.
type arrival struct {
	node int
	id   string
	at   time.Time
}

// gather reads arrivals until each of ids has reached count nodes, and
// returns when each reached the last of them. It gives up after timeout,
// with ok false. Arrivals of other ids (late ones of an earlier round) are
// skipped.
func gather(arrivals <-chan arrival, ids []string, count int, timeout time.Duration) (last map[string]time.Time, ok bool) {
	last = make(map[string]time.Time, len(ids))
	got := make(map[string]map[int]bool, len(ids))
	for _, id := range ids {
		got[id] = make(map[int]bool)
	}
	done := 0
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for done < len(ids) {
		select {
		case a := <-arrivals:
			nodes, mine := got[a.id]
			if !mine || nodes[a.node] {
				continue
			}
			nodes[a.node] = true
			if a.at.After(last[a.id]) {
				last[a.id] = a.at
			}
			if len(nodes) == count {
				done++
			}
		case <-timer.C:
			return last, false
		}
	}
	return last, true
}

// benchSync is nodes joined to one synced collection, linked by
// benchLinks, each reporting the records that enter its replica (but node
// 0, the writer).
type benchSync struct {
	nodes    []*node.Node
	cs       []*node.Synced
	arrivals chan arrival
}

func startBenchSync(b *testing.B, ctx context.Context, count int, configure func(i int, c *node.Config)) *benchSync {
	b.Helper()
	s := &benchSync{arrivals: make(chan arrival, 1<<16)}
	s.nodes = startNodes(b, count, func(i int, c *node.Config) {
		c.Mode = "client" // no DHT traffic between the nodes
		if configure != nil {
			configure(i, c)
		}
	})
	for _, l := range benchLinks(count) {
		if err := s.nodes[l[0]].Connect(ctx, addrInfo(s.nodes[l[1]])); err != nil {
			b.Fatal(err)
		}
	}
	watchCtx, stop := context.WithCancel(ctx)
	b.Cleanup(stop) // before the nodes close
	for i, n := range s.nodes {
		c, err := n.JoinSync(ctx, replica.Settings{Name: benchCollection})
		if err != nil {
			b.Fatal(err)
		}
		s.cs = append(s.cs, c)
		if i == 0 {
			continue
		}
		changes := c.Watch(watchCtx)
		go func() {
			for ch := range changes {
				select {
				case s.arrivals <- arrival{i, ch.Key, time.Now()}:
				case <-watchCtx.Done():
				}
			}
		}()
	}
	for _, l := range benchLinks(count) {
		for _, ends := range [][2]int{l, {l[1], l[0]}} {
			c, h, p := s.cs[ends[0]], s.nodes[ends[0]].Host(), s.nodes[ends[1]].ID()
			nodetest.Eventually(b, ctx, "gossip between linked nodes", func() bool {
				return slices.Contains(c.Status().TopicPeers, p) && gossipStream(h, p)
			})
		}
	}
	time.Sleep(gossipSettle)
	return s
}

// publish has the writer put a record under key and adds to all the time
// until every other node held it, and to put the time the writer's Put
// took (sealing, storing and publishing the record).
func (s *benchSync) publish(ctx context.Context, key string, value []byte, all, put *samples) {
	start := time.Now()
	_, err := s.cs[0].Put(ctx, key, value)
	put.add(start, err == nil)
	if err != nil {
		all.add(start, false)
		return
	}
	last, ok := gather(s.arrivals, []string{key}, len(s.nodes)-1, benchRoundTimeout)
	if !ok {
		all.add(start, false)
		return
	}
	all.addDuration(last[key].Sub(start), true)
}

// benchRaw is plain libp2p hosts built like a node's (TCP and QUIC, Noise
// and TLS, yamux; listening on loopback TCP), running gossipsub with its
// defaults, linked by benchLinks and subscribed to one topic; each reports
// the messages it receives (but host 0, the writer).
type benchRaw struct {
	hosts    []host.Host
	topics   []*pubsub.Topic
	arrivals chan arrival
}

func startBenchRaw(b *testing.B, ctx context.Context, count int) *benchRaw {
	b.Helper()
	r := &benchRaw{arrivals: make(chan arrival, 1<<16)}
	psCtx, stop := context.WithCancel(ctx)
	for i := range count {
		h, err := libp2p.New(
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Transport(quic.NewTransport),
			libp2p.Security(noise.ID, noise.New),
			libp2p.Security(tls.ID, tls.New),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
			libp2p.DisableMetrics(),
		)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = h.Close() })
		ps, err := pubsub.NewGossipSub(psCtx, h)
		if err != nil {
			b.Fatal(err)
		}
		topic, err := ps.Join(benchCollection)
		if err != nil {
			b.Fatal(err)
		}
		sub, err := topic.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		r.hosts, r.topics = append(r.hosts, h), append(r.topics, topic)
		go func() {
			for {
				m, err := sub.Next(psCtx)
				if err != nil {
					return
				}
				if i == 0 {
					continue // the writer's own messages
				}
				select {
				case r.arrivals <- arrival{i, string(m.Data), time.Now()}:
				case <-psCtx.Done():
					return
				}
			}
		}()
	}
	b.Cleanup(stop) // before the hosts close
	for _, l := range benchLinks(count) {
		a, p := r.hosts[l[0]], r.hosts[l[1]]
		if err := a.Connect(ctx, peer.AddrInfo{ID: p.ID(), Addrs: p.Addrs()}); err != nil {
			b.Fatal(err)
		}
	}
	for _, l := range benchLinks(count) {
		for _, ends := range [][2]int{l, {l[1], l[0]}} {
			t, h, p := r.topics[ends[0]], r.hosts[ends[0]], r.hosts[ends[1]].ID()
			nodetest.Eventually(b, ctx, "gossip between linked hosts", func() bool {
				return slices.Contains(t.ListPeers(), p) && gossipStream(h, p)
			})
		}
	}
	time.Sleep(gossipSettle)
	return r
}

// publish has the writer publish data and adds to all the time until every
// other host received it.
func (r *benchRaw) publish(ctx context.Context, data []byte, all *samples) {
	start := time.Now()
	if err := r.topics[0].Publish(ctx, data); err != nil {
		all.add(start, false)
		return
	}
	id := string(data)
	last, ok := gather(r.arrivals, []string{id}, len(r.hosts)-1, benchRoundTimeout)
	if !ok {
		all.add(start, false)
		return
	}
	all.addDuration(last[id].Sub(start), true)
}

func BenchmarkSyncLive(b *testing.B) {
	for _, storage := range []string{"pebble", "memory"} {
		b.Run("storage="+storage, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(b.Context(), benchTimeout)
			defer cancel()
			if storage == "pebble" {
				// Admitted once here, not by 20 nodes starting at once.
				if err := nodetest.Admit("pebble://" + b.TempDir()); err != nil {
					b.Fatal(err)
				}
			}
			nb := startBenchSync(b, ctx, benchNodes, func(_ int, c *node.Config) {
				if storage == "pebble" {
					c.Storage = "pebble://" + filepath.Join(c.DataDir, "store")
				}
			})
			raw := startBenchRaw(b, ctx, benchNodes)
			// The raw messages are records of the same size as netabase's,
			// sealed beforehand by another key.
			priv, _, err := crypto.GenerateEd25519Key(nil)
			if err != nil {
				b.Fatal(err)
			}
			value := bytes.Repeat([]byte("v"), 100)
			trial := func(i int, nbs, puts, raws *samples) {
				key := fmt.Sprintf("r%06d", i)
				data := sealRecord(b, priv, benchCollection, key, value)
				alternate(i,
					func() { nb.publish(ctx, key, value, nbs, puts) },
					func() { raw.publish(ctx, data, raws) })
			}
			var warm samples
			for i := range 10 {
				trial(-1-i, &warm, &warm, &warm)
			}
			b.ResetTimer()
			var nbs, puts, raws samples
			for i := range b.N {
				trial(i, &nbs, &puts, &raws)
			}
			b.StopTimer()
			nbs.report(b, "netabase")
			puts.report(b, "netabase-put")
			raws.report(b, "raw")
			b.ReportMetric(float64(nbs.pct(0.5))/float64(raws.pct(0.5)), "p50-ratio")
			b.ReportMetric(float64(nbs.pct(0.95))/float64(raws.pct(0.95)), "p95-ratio")
			b.ReportMetric(0, "ns/op") // the two sides have their own latencies
		})
	}
}

// traffic is what a node has received: gossip (every gossipsub protocol),
// reconciliation sessions, and every stream of any protocol.
type traffic struct{ gossip, recon, all int64 }

func trafficOf(bw *metrics.BandwidthCounter, c *node.Synced) traffic {
	var t traffic
	for proto, st := range bw.GetBandwidthByProtocol() {
		if strings.HasPrefix(string(proto), "/meshsub/") {
			t.gossip += st.TotalIn
		}
	}
	for _, p := range c.Status().Peers {
		t.recon += p.Total.BytesReceived
	}
	t.all = bw.GetBandwidthTotals().TotalIn
	return t
}

func BenchmarkSyncScale(b *testing.B) {
	ctx, cancel := context.WithTimeout(b.Context(), benchTimeout)
	defer cancel()
	bws := make([]*metrics.BandwidthCounter, scaleNodes)
	for i := range bws {
		bws[i] = metrics.NewBandwidthCounter()
	}
	s := startBenchSync(b, ctx, scaleNodes, func(i int, c *node.Config) {
		c.BandwidthReporter = bws[i]
	})
	before := make([]traffic, scaleNodes)
	for i := range before {
		before[i] = trafficOf(bws[i], s.cs[i])
	}
	value := bytes.Repeat([]byte("v"), 100)
	keys := make([]string, scaleRecords)
	starts := make(map[string]time.Time, scaleRecords)
	b.ResetTimer()
	for j := range b.N {
		for i := range keys {
			keys[i] = fmt.Sprintf("b%d-r%03d", j, i)
			starts[keys[i]] = time.Now()
			if _, err := s.cs[0].Put(ctx, keys[i], value); err != nil {
				b.Fatal(err)
			}
		}
		published := time.Since(starts[keys[0]])
		last, ok := gather(s.arrivals, keys, scaleNodes-1, scaleTimeout)
		if !ok {
			b.Fatalf("%d records did not reach all %d nodes in %v", len(keys), scaleNodes, scaleTimeout)
		}
		fp := s.cs[0].Replica().Fingerprint()
		nodetest.Eventually(b, ctx, "every replica converging", func() bool {
			for _, c := range s.cs[1:] {
				if c.Replica().Fingerprint() != fp {
					return false
				}
			}
			return true
		})
		converged := time.Since(starts[keys[0]])
		var each samples
		for _, k := range keys {
			each.addDuration(last[k].Sub(starts[k]), true)
		}
		b.ReportMetric(float64(published.Microseconds())/1000, "publish-ms")
		b.ReportMetric(float64(converged.Microseconds())/1000, "converge-ms")
		each.report(b, "record")
	}
	b.StopTimer()
	// The bandwidth counters' totals lag by up to a second, and gossipsub
	// keeps announcing messages for three heartbeats.
	time.Sleep(4 * time.Second)
	var sum, top traffic
	for i := range scaleNodes {
		if i == 0 {
			continue
		}
		t := trafficOf(bws[i], s.cs[i])
		d := traffic{t.gossip - before[i].gossip, t.recon - before[i].recon, t.all - before[i].all}
		sum.gossip, sum.recon, sum.all = sum.gossip+d.gossip, sum.recon+d.recon, sum.all+d.all
		top.gossip, top.recon, top.all = max(top.gossip, d.gossip), max(top.recon, d.recon), max(top.all, d.all)
	}
	records := float64(b.N * scaleRecords)
	receivers := float64(scaleNodes - 1)
	b.ReportMetric(float64(sum.gossip)/receivers/records, "gossip-B/record/node")
	b.ReportMetric(float64(top.gossip)/records, "gossip-max-B/record/node")
	b.ReportMetric(float64(sum.recon)/receivers/records, "recon-B/record/node")
	b.ReportMetric(float64(sum.all)/receivers/records, "all-B/record/node")
	b.ReportMetric(0, "ns/op")
}
