package metrics_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/measure"
	"github.com/netabase/netabase/internal/metrics"
)

// sides runs each of the functions in run for rounds rounds, rotating
// which goes first, and reports the median ns/op of each (name-ns/op) and
// the median of the rounds' throughput ratios of each against the first
// (name/off; 1 means free). run[i] returns the ns/op of one round.
func sides(b *testing.B, rounds int, names []string, run []func() float64) {
	for b.Loop() {
		ns := make([][]float64, len(run))
		ratios := make([][]float64, len(run))
		for r := range rounds {
			got := make([]float64, len(run))
			for j := range run {
				side := (r + j) % len(run)
				got[side] = run[side]()
			}
			for i := range run {
				ns[i] = append(ns[i], got[i])
				ratios[i] = append(ratios[i], got[0]/got[i])
			}
		}
		for i, name := range names {
			b.ReportMetric(measure.Median(ns[i]), name+"-ns/op")
			if i > 0 {
				b.ReportMetric(measure.Median(ratios[i]), name+"/off")
			}
		}
	}
}

// clock reads the CPU time of the calling thread, where it can, else the
// wall clock.
func clock() time.Duration {
	if d, ok := measure.ThreadCPU(); ok {
		return d
	}
	return time.Duration(time.Now().UnixNano())
}

// discard is a span exporter that drops what it is given: the cost of
// tracing without the collector's.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkObserver measures what the daemon's backend metrics cost:
// core.RecordStore over two backends opened through the registry (so
// wrapped by core.Wrap), one not observed ("off") and one with the
// daemon's metrics.Backend ("metrics"), side by side in the same process.
// See recordStoreSides for the rounds. Run it with -benchtime 1x.
func BenchmarkObserver(b *testing.B) { recordStoreSides(b, "off", "metrics") }

// BenchmarkTracing measures what the daemon's tracing costs the backend:
// as BenchmarkObserver, with three backends: one not traced ("off"), and
// two traced, "traced", whose operations run in a sampled trace, so each
// is a span, batched to an exporter that drops them, as the daemon's OTLP
// exporter batches them; and "untraced", whose operations run outside any
// trace (as a peer's write does), so none is. Run it with -benchtime 1x.
func BenchmarkTracing(b *testing.B) { recordStoreSides(b, "off", "traced", "untraced") }

// recordStoreSides runs RecordStore puts and gets on memory:// and pebble
// stores, one per side named in names. Each of 30 rounds runs every side
// for 5,000 operations, rotating which goes first; the benchmark reports
// the median ns/op of each side and the median of the rounds' throughput
// ratios against the first (1 means free). The time is the CPU time of
// the benchmark's thread (on Linux; elsewhere the wall clock's): the
// operations' own, which the machine's load does not inflate as it does
// wall time (a store's background goroutines, such as pebble's flushes,
// are not counted; no observer or span runs there). Records have 1 KiB
// values; a put overwrites one of 10,000 keys, a get reads one of 10,000
// stored records.
func recordStoreSides(b *testing.B, names ...string) {
	const (
		keys   = 10_000
		rounds = 30
		ops    = 5_000
	)
	value := make([]byte, 1024)
	key := func(i int) string { return fmt.Sprintf("/bench/k%05d", i%keys) }
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	for _, backend := range []string{"memory", "pebble"} {
		for _, op := range []string{"put", "get"} {
			b.Run(backend+"/"+op, func(b *testing.B) {
				// Every operation runs on this goroutine: on a thread of
				// its own, its CPU time is what the operations cost.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				ctx := context.Background()
				open := func(side string) *core.RecordStore {
					url := "memory://"
					if backend == "pebble" {
						url = "pebble://" + filepath.ToSlash(filepath.Join(b.TempDir(), "store"))
					}
					store, err := all.Registry().Open(ctx, url)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { _ = store.Close() })
					switch side {
					case "metrics":
						m, err := metrics.NewBackend(prometheus.NewRegistry())
						if err != nil {
							b.Fatal(err)
						}
						if err := core.Observe(store, m); err != nil {
							b.Fatal(err)
						}
					case "traced", "untraced":
						if err := core.Trace(store, tp); err != nil {
							b.Fatal(err)
						}
					}
					rs := core.NewRecordStore(store)
					for i := range keys {
						if err := rs.Put(ctx, core.Record{Key: key(i), Value: value}); err != nil {
							b.Fatal(err)
						}
					}
					return rs
				}
				var run []func() float64
				for _, name := range names {
					rs := open(name)
					run = append(run, func() float64 {
						ctx := ctx
						if name == "traced" {
							var span trace.Span
							ctx, span = tp.Tracer("bench").Start(ctx, "round")
							defer span.End()
						}
						start := clock()
						for i := range ops {
							var err error
							if op == "put" {
								err = rs.Put(ctx, core.Record{Key: key(i), Value: value})
							} else {
								_, err = rs.Get(ctx, key(i*7919))
							}
							if err != nil {
								b.Fatal(err)
							}
						}
						return float64((clock() - start).Nanoseconds()) / ops
					})
				}
				sides(b, rounds, names, run)
			})
		}
	}
}

// BenchmarkDHT measures what the daemon's metrics cost the node's DHT
// operations: two networks of three nodes on loopback in one process, one
// without metrics ("off") and one with the daemon's ("metrics": go-libp2p's
// host metrics in a Prometheus registry, the backend's metrics.Backend and
// the node's collector, scraped once a round), side by side. In each of 15
// rounds, each network's second node publishes 100 records (Publish: sign,
// store, send to the closest peers) and its third node gets them (GetRecord:
// the local copy, then a lookup of the peers), rotating which network goes
// first. kad-dht's own OpenTelemetry metrics are process-wide (the global
// meter provider), so neither side has them. Run it with -benchtime 1x.
func BenchmarkDHT(b *testing.B) {
	const (
		rounds = 15
		ops    = 100
	)
	ctx := b.Context()
	certDir := b.TempDir() // one admission of memory:// for all six nodes
	network := func(measured bool) ([]*node.Node, *prometheus.Registry) {
		var reg *prometheus.Registry
		if measured {
			reg = metrics.NewRegistry()
		}
		nodes := make([]*node.Node, 3)
		for i := range nodes {
			cfg := node.Config{
				DataDir: b.TempDir(), CertDir: certDir, Registry: all.Registry(), Suite: conformance.Suite(""),
				Storage: "memory://",
				Listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
				Mode:    node.ModeServer,
				// The rounds publish more, and faster, than a peer may by default.
				Quota: &node.Quota{MaxProviderAddrs: node.DefaultQuota().MaxProviderAddrs},
			}
			if measured {
				cfg.Metrics = reg
			}
			n, err := node.New(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = n.Close() })
			nodes[i] = n
		}
		if measured {
			m, err := metrics.NewBackend(reg)
			if err != nil {
				b.Fatal(err)
			}
			for _, n := range nodes {
				if err := core.Observe(n.Datastore(), m); err != nil {
					b.Fatal(err)
				}
			}
			if err := reg.Register(metrics.NewNode(nodes[1])); err != nil {
				b.Fatal(err)
			}
		}
		for _, n := range nodes[1:] {
			if err := n.Connect(ctx, peer.AddrInfo{ID: nodes[0].ID(), Addrs: nodes[0].Host().Addrs()}); err != nil {
				b.Fatal(err)
			}
		}
		// Every node must hold the others in its routing table before a
		// lookup can reach them.
		deadline := time.Now().Add(30 * time.Second)
		for _, n := range nodes {
			for _, o := range nodes {
				for o != n && !slices.Contains(n.RoutingTable(), o.ID()) {
					if time.Now().After(deadline) {
						b.Fatalf("node %s does not hold %s in its routing table after 30s", n.ID(), o.ID())
					}
					if _, err := n.Bootstrap(ctx); err != nil {
						b.Fatal(err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
		return nodes, reg
	}
	nets := [2][]*node.Node{}
	regs := [2]*prometheus.Registry{}
	nets[0], regs[0] = network(false)
	nets[1], regs[1] = network(true)
	for _, op := range []string{"publish", "get"} {
		b.Run(op, func(b *testing.B) {
			round := 0
			var run []func() float64
			for side := range nets {
				nodes, reg := nets[side], regs[side]
				run = append(run, func() float64 {
					round++
					name := func(i int) string { return fmt.Sprintf("bench-%d-%d", round, i) }
					keys := make([]string, ops)
					start := time.Now()
					for i := range ops {
						res, err := nodes[1].Publish(ctx, name(i), "bench", 1, []byte("value"))
						if err != nil || res.Accepted == 0 {
							b.Fatalf("publish: %+v, %v", res, err)
						}
						keys[i] = res.Key
					}
					took := time.Since(start)
					if op == "get" {
						start = time.Now()
						for _, k := range keys {
							if _, err := nodes[2].GetRecord(ctx, k); err != nil {
								b.Fatalf("get %s: %v", k, err)
							}
						}
						took = time.Since(start)
					}
					if reg != nil {
						if _, err := reg.Gather(); err != nil {
							b.Fatal(err)
						}
					}
					return float64(took.Nanoseconds()) / ops
				})
			}
			sides(b, rounds, []string{"off", "metrics"}, run)
		})
	}
}
