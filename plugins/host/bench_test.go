package host_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/measure"
	"github.com/netabase/netabase/internal/testkit/testplugins"
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
// over bare latency), the three timed one after the other in each round.
// Every comparison but get also reports cpu-ratio (see compare).
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
	pid := pluginPID(b, raw)
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
		in, pl := compare(b, inproc, plugin, pid, put)
		report(b, benchPuts, in, pl)
	})

	b.Run("put-sync", func(b *testing.B) {
		plugin, inproc, raw := openPair(b, pkg, true)
		pid := pluginPID(b, raw)
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
		in, pl := compare(b, inproc, plugin, pid, put)
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
		in, pl := compare(b, inproc, plugin, pid, put)
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
		in, pl := compare(b, inproc, plugin, pid, scan)
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
		// Each round times the in-process gets, the plugin's and as many
		// bare round trips, one after the other, so that the load moves
		// the plugin's gets and their baseline alike.
		sides := []func(i int) error{
			func(i int) error { _, err := inproc.Get(ctx, key("get", i%1000)); return err },
			func(i int) error { _, err := plugin.Get(ctx, key("get", i%1000)); return err },
			func(int) error { return host.Ping(ctx, raw) },
		}
		times := make([][]time.Duration, len(sides))
		if err := measure.Alternate(benchRounds, len(sides), func(_, side int) error {
			start := time.Now()
			for i := range benchGets {
				if err := sides[side](i); err != nil {
					return err
				}
			}
			times[side] = append(times[side], time.Since(start))
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		in, pl, bare := times[0], times[1], times[2]
		per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / benchGets }
		b.ReportMetric(per(median(pl)), "ns/op")
		b.ReportMetric(per(median(in)), "inproc-ns/op")
		b.ReportMetric(per(median(pl)), "plugin-ns/op")
		b.ReportMetric(per(median(bare)), "bare-grpc-ns/op")
		b.ReportMetric(per(median(pl))/per(median(bare)), "x-bare")
	})
}

func pluginPID(b *testing.B, raw ds.Batching) int {
	pid, err := host.PID(raw)
	if err != nil {
		b.Fatal(err)
	}
	return pid
}

// compare times op on the in-process store and on the plugin store,
// benchRounds times each, alternating, and returns the medians. On Linux
// it also reports cpu-ratio: the CPU time the in-process rounds took (of
// the benchmark's process) over the CPU time the plugin rounds took (of
// both processes), summed over the rounds. A loaded machine moves wall
// time much more than CPU time, so it says whether a change made the hop
// cheaper when the load hides that in the throughput; work a side leaves
// running in the background (pebble's compactions) is charged to whatever
// round it runs in.
func compare(b *testing.B, inproc, plugin ds.Batching, pid int, op func(ds.Batching) error) (time.Duration, time.Duration) {
	var (
		in, pl       []time.Duration
		inCPU, plCPU time.Duration
		cpuOK        = true
	)
	sides := []struct {
		s   ds.Batching
		out *[]time.Duration
		cpu *time.Duration
	}{{inproc, &in, &inCPU}, {plugin, &pl, &plCPU}}
	if err := measure.Alternate(benchRounds, len(sides), func(_, i int) error {
		side := sides[i]
		c0, ok := processCPU(os.Getpid(), pid)
		start := time.Now()
		if err := op(side.s); err != nil {
			return err
		}
		*side.out = append(*side.out, time.Since(start))
		c1, ok1 := processCPU(os.Getpid(), pid)
		if cpuOK = cpuOK && ok && ok1; !cpuOK {
			return nil
		}
		*side.cpu += c1[0] - c0[0]
		if side.s == plugin {
			*side.cpu += c1[1] - c0[1]
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	if cpuOK && plCPU > 0 {
		b.ReportMetric(float64(inCPU)/float64(plCPU), "cpu-ratio")
	}
	return median(in), median(pl)
}

// processCPU returns the CPU time each of the processes pids has used so
// far, in nanoseconds, as the sum over its threads of the time the
// scheduler ran them (/proc/<pid>/task/*/schedstat): false where that
// cannot be read. A Go program's threads live as long as it does.
func processCPU(pids ...int) ([]time.Duration, bool) {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		if err != nil || len(tasks) == 0 {
			return nil, false
		}
		for _, t := range tasks {
			stat, err := os.ReadFile(t)
			if err != nil {
				continue // the thread ended
			}
			f := bytes.Fields(stat)
			if len(f) == 0 {
				return nil, false
			}
			n, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return nil, false
			}
			out[i] += time.Duration(n)
		}
	}
	return out, true
}

// report reports records/s of each side and their ratio.
func report(b *testing.B, records int, in, pl time.Duration) {
	rate := func(d time.Duration) float64 { return float64(records) / d.Seconds() }
	b.ReportMetric(float64(pl.Nanoseconds()), "ns/op")
	b.ReportMetric(rate(in), "inproc-records/s")
	b.ReportMetric(rate(pl), "plugin-records/s")
	b.ReportMetric(rate(pl)/rate(in), "ratio")
}

// median is measure.Median of ds.
func median(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(measure.Median(xs))
}
