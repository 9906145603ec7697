package metrics_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/measure"
	"github.com/netabase/netabase/internal/metrics"
)

// BenchmarkObserver measures what the daemon's backend metrics cost:
// core.RecordStore over two backends opened through the registry (so
// wrapped by core.Wrap), one without an observer ("off") and one with the
// daemon's metrics.Backend ("on"), side by side in the same process. Each
// of 10 rounds runs both sides for 20,000 operations, alternating which
// goes first; the benchmark reports the median ns/op of each side and the
// median of the rounds' ratios, on/off throughput (1 means free). Records
// have 1 KiB values; a put overwrites one of 10,000 keys, a get reads one
// of 10,000 stored records. Run it with -benchtime 1x.
func BenchmarkObserver(b *testing.B) {
	const (
		keys   = 10_000
		rounds = 10
		ops    = 20_000
	)
	value := make([]byte, 1024)
	key := func(i int) string { return fmt.Sprintf("/bench/k%05d", i%keys) }
	for _, backend := range []string{"memory", "pebble"} {
		for _, op := range []string{"put", "get"} {
			b.Run(backend+"/"+op, func(b *testing.B) {
				ctx := context.Background()
				open := func(observed bool) *core.RecordStore {
					url := "memory://"
					if backend == "pebble" {
						url = "pebble://" + filepath.ToSlash(filepath.Join(b.TempDir(), "store"))
					}
					store, err := all.Registry().Open(ctx, url)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { _ = store.Close() })
					if observed {
						m, err := metrics.NewBackend(prometheus.NewRegistry())
						if err != nil {
							b.Fatal(err)
						}
						if err := core.Observe(store, m); err != nil {
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
				sides := [2]*core.RecordStore{open(false), open(true)}
				run := func(rs *core.RecordStore) float64 {
					start := time.Now()
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
					return float64(time.Since(start).Nanoseconds()) / ops
				}
				for b.Loop() {
					var off, on, ratios []float64
					for r := range rounds {
						var ns [2]float64
						for j := range 2 {
							side := (r + j) % 2 // alternate which side goes first
							ns[side] = run(sides[side])
						}
						off, on = append(off, ns[0]), append(on, ns[1])
						ratios = append(ratios, ns[0]/ns[1])
					}
					b.ReportMetric(measure.Median(off), "off-ns/op")
					b.ReportMetric(measure.Median(on), "on-ns/op")
					b.ReportMetric(measure.Median(ratios), "on/off")
				}
			})
		}
	}
}
