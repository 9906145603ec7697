package node_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// BenchmarkPutSyncWrites measures what sync_writes costs: b.N puts of a
// record through a node (Publish: sealing, the guard, the store; no peers)
// on pebble in a temporary directory, with sync_writes off and on, side by
// side in one run, by 1 and by 16 writers at once. It reports puts/s of each
// and their ratio (on over off).
func BenchmarkPutSyncWrites(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			start := func(sync bool) *node.Node {
				cfg := nodetest.Config(b)
				cfg.Storage = "pebble://" + filepath.Join(cfg.DataDir, "store")
				cfg.NoSyncWrites = !sync
				return nodetest.Start(b, cfg)
			}
			off, on := start(false), start(true)
			value := make([]byte, 100)
			ctx := nodetest.Context(b)
			run := func(n *node.Node, tag string) float64 {
				var wg sync.WaitGroup
				errs := make([]error, writers)
				begin := time.Now()
				for w := range writers {
					wg.Go(func() {
						for i := w; i < b.N; i += writers {
							if _, err := n.Publish(ctx, fmt.Sprintf("%s-%d", tag, i), "bench", 1, value); err != nil {
								errs[w] = err
								return
							}
						}
					})
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				return float64(b.N) / time.Since(begin).Seconds()
			}
			b.ResetTimer()
			offRate, onRate := run(off, "off"), run(on, "on")
			b.ReportMetric(offRate, "off-puts/s")
			b.ReportMetric(onRate, "on-puts/s")
			b.ReportMetric(onRate/offRate, "on/off")
			b.ReportMetric(0, "ns/op") // the two sides have their own rates
		})
	}
}
