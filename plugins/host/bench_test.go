package host_test

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testplugins"
	"github.com/netabase/netabase/plugins/host"
)

// Benchmark sizes.
const (
	benchValue   = 1 << 10 // bytes per value
	benchBatch   = 100     // puts per batch
	benchBatches = 200     // batches per round
	benchScan    = 10000   // entries a scan reads
	benchGets    = 20000   // gets per round
	benchPuts    = 5000    // single puts per round
	benchSynced  = 200     // single puts per round with sync=true
	benchRounds  = 5       // rounds per side; the median counts
)

// BenchmarkPlugin measures pebble through the plugin host (one gRPC hop,
// AutoMTLS over a Unix socket) against pebble in-process
// (backends/pebblestore), side by side in one run, both through core's
// rules and with the same options. Each comparison runs benchRounds rounds
// per side, alternating, and reports the medians; the framework's own
// iteration count is not used:
//
//	go test ./plugins/host -run '^$' -bench Plugin -benchtime 1x
//
// The plugin is pebbleplugin, which speaks protocol version 3;
// BenchmarkPlugin/v2 runs the same with pebbleplugin capped at version 2
// (testplugins.ProtocolEnv), and BenchmarkPlugin/v1 against
// pebblev1plugin, which speaks version 1 only. put (single puts), batch-put and scan report records/s
// of each side and ratio (plugin throughput over in-process); put and
// batch-put end each round with a Sync on both sides, so that what is
// timed is the writes until durable. Neither side has sync=true, except in
// put-sync, where both have it (every put fsynced before it returns). get
// reports the plugin's point Get against a bare unary gRPC round trip on
// the same connection (go-plugin's health check) as x-bare (plugin latency
// over bare latency).
func BenchmarkPlugin(b *testing.B) {
	b.Run("v3", func(b *testing.B) { benchPlugin(b, testplugins.Pebble) })
	b.Run("v2", func(b *testing.B) {
		b.Setenv(testplugins.ProtocolEnv, "2")
		benchPlugin(b, testplugins.Pebble)
	})
	b.Run("v1", func(b *testing.B) { benchPlugin(b, testplugins.PebbleV1) })
}

// openPair opens pebble through the plugin pkg and in-process, with sync
// as given on both sides.
func openPair(b *testing.B, pkg string, sync bool) (plugin, inproc core.Backend, raw ds.Batching) {
	ctx := b.Context()
	d := host.NewDriver(host.Config{})
	u, err := url.Parse(pluginURL(b, pkg, url.Values{"path": {filepath.Join(b.TempDir(), "plugin")}, "sync": {fmt.Sprint(sync)}}))
	if err != nil {
		b.Fatal(err)
	}
	raw, err = d.Open(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	info, err := d.Describe(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	plugin, err = core.Wrap(raw, info)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { plugin.Close() })
	inproc, err = pebblestore.Open(ctx, &pebblestore.Options{Path: filepath.Join(b.TempDir(), "inproc"), Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { inproc.Close() })
	return plugin, inproc, raw
}

func benchPlugin(b *testing.B, pkg string) {
	ctx := b.Context()
	plugin, inproc, raw := openPair(b, pkg, false)
	value := make([]byte, benchValue)
	for i := range value {
		value[i] = byte(rand.Uint32())
	}
	key := func(prefix string, i int) ds.Key { return ds.NewKey(fmt.Sprintf("/%s/%09d", prefix, i)) }

	b.Run("put", func(b *testing.B) {
		round := 0
		put := func(s ds.Batching) error {
			round++
			for i := range benchPuts {
				if err := s.Put(ctx, key("single", round*benchPuts+i), value); err != nil {
					return err
				}
			}
			return s.Sync(ctx, ds.NewKey("/single"))
		}
		in, pl := compare(b, inproc, plugin, put)
		report(b, benchPuts, in, pl)
	})

	b.Run("put-sync", func(b *testing.B) {
		plugin, inproc, _ := openPair(b, pkg, true)
		round := 0
		put := func(s ds.Batching) error {
			round++
			for i := range benchSynced {
				if err := s.Put(ctx, key("synced", round*benchSynced+i), value); err != nil {
					return err
				}
			}
			return nil
		}
		in, pl := compare(b, inproc, plugin, put)
		report(b, benchSynced, in, pl)
	})

	b.Run("batch-put", func(b *testing.B) {
		round := 0
		put := func(s ds.Batching) error {
			round++
			for j := range benchBatches {
				bt, err := s.Batch(ctx)
				if err != nil {
					return err
				}
				for k := range benchBatch {
					if err := bt.Put(ctx, key("put", (round*benchBatches+j)*benchBatch+k), value); err != nil {
						return err
					}
				}
				if err := bt.Commit(ctx); err != nil {
					return err
				}
			}
			return s.Sync(ctx, ds.NewKey("/put"))
		}
		in, pl := compare(b, inproc, plugin, put)
		report(b, benchBatches*benchBatch, in, pl)
	})

	b.Run("scan", func(b *testing.B) {
		for _, s := range []ds.Batching{inproc, plugin} {
			bt, err := s.Batch(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for i := range benchScan {
				if err := bt.Put(ctx, key("scan", i), value); err != nil {
					b.Fatal(err)
				}
			}
			if err := bt.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		scan := func(s ds.Batching) error {
			res, err := s.Query(ctx, dsq.Query{Prefix: "/scan"})
			if err != nil {
				return err
			}
			defer res.Close()
			n := 0
			for r := range res.Next() {
				if r.Error != nil {
					return r.Error
				}
				if len(r.Value) != benchValue {
					return fmt.Errorf("a value of %d bytes", len(r.Value))
				}
				n++
			}
			if n != benchScan {
				return fmt.Errorf("the scan read %d entries, want %d", n, benchScan)
			}
			return nil
		}
		in, pl := compare(b, inproc, plugin, scan)
		report(b, benchScan, in, pl)
	})

	b.Run("get", func(b *testing.B) {
		for i := range 1000 {
			if err := plugin.Put(ctx, key("get", i), value); err != nil {
				b.Fatal(err)
			}
			if err := inproc.Put(ctx, key("get", i), value); err != nil {
				b.Fatal(err)
			}
		}
		get := func(s ds.Batching) error {
			for i := range benchGets {
				if _, err := s.Get(ctx, key("get", i%1000)); err != nil {
					return err
				}
			}
			return nil
		}
		in, pl := compare(b, inproc, plugin, get)
		var bare []time.Duration
		for range benchRounds {
			start := time.Now()
			for range benchGets {
				if err := host.Ping(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
			bare = append(bare, time.Since(start))
		}
		per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / benchGets }
		b.ReportMetric(per(pl), "ns/op")
		b.ReportMetric(per(in), "inproc-ns/op")
		b.ReportMetric(per(pl), "plugin-ns/op")
		b.ReportMetric(per(median(bare)), "bare-grpc-ns/op")
		b.ReportMetric(per(pl)/per(median(bare)), "x-bare")
	})
}

// compare times op on the in-process store and on the plugin store,
// benchRounds times each, alternating, and returns the medians.
func compare(b *testing.B, inproc, plugin ds.Batching, op func(ds.Batching) error) (time.Duration, time.Duration) {
	var in, pl []time.Duration
	for range benchRounds {
		for _, side := range []struct {
			s   ds.Batching
			out *[]time.Duration
		}{{inproc, &in}, {plugin, &pl}} {
			start := time.Now()
			if err := op(side.s); err != nil {
				b.Fatal(err)
			}
			*side.out = append(*side.out, time.Since(start))
		}
	}
	return median(in), median(pl)
}

// report reports records/s of each side and their ratio.
func report(b *testing.B, records int, in, pl time.Duration) {
	rate := func(d time.Duration) float64 { return float64(records) / d.Seconds() }
	b.ReportMetric(float64(pl.Nanoseconds()), "ns/op")
	b.ReportMetric(rate(in), "inproc-records/s")
	b.ReportMetric(rate(pl), "plugin-records/s")
	b.ReportMetric(rate(pl)/rate(in), "ratio")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
