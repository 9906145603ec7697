//go:build !js

// pebble does not build for the browser: this benchmark stays out of the
// package's js/wasm build.

package replica

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
)

// resumeNew is how many records BenchmarkResume's resume finds.
const resumeNew = 100

// BenchmarkResume measures what a resumed event stream (the gateway's
// Last-Event-ID) reads: the records stored in the last minute, resumeNew
// of them, in a collection of n records stored an hour before, for n =
// 10,000 and 100,000, on pebble with a fixed cache (32 MiB). The two
// sizes are measured in turn in each iteration, so that both see the
// same load, and "ratio" is the time at 100,000 over the time at 10,000.
// "arrived" reads the arrival order from the cursor (Arrived); "scan" is
// the way before it, every item's record read and its receive time
// compared (slow: -bench BenchmarkResume/arrived leaves it out). Run:
//
//	go test ./core/replica -run '^$' -bench BenchmarkResume/arrived -benchtime 300x -count 3
//	go test ./core/replica -run '^$' -bench BenchmarkResume -benchtime 20x
func BenchmarkResume(b *testing.B) {
	ctx := context.Background()
	w := newWriter(b, 9)
	sizes := []int{10_000, 100_000}
	reps := make([]*Replica, len(sizes))
	for i, n := range sizes {
		p, err := pebblestore.Open(ctx, &pebblestore.Options{Path: filepath.Join(b.TempDir(), "db"), CacheSize: 32 << 20})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = p.Close() })
		st, err := Settings{Name: "bench", MaxRecordsPerWriter: 1 << 20, MaxBytesPerWriter: 1 << 32}.Normalize()
		if err != nil {
			b.Fatal(err)
		}
		r, err := OpenIn(ctx, p, st)
		if err != nil {
			b.Fatal(err)
		}
		value := make([]byte, 100)
		old := time.Now().Add(-time.Hour)
		r.now = func() time.Time { return old }
		var batch []Verified
		for j := range n + resumeNew {
			if j == n {
				r.now = time.Now
			}
			batch = append(batch, seal(b, w, "bench", fmt.Sprintf("k%08d", j), r.now().UnixNano(), value))
			if len(batch) == 1000 || j == n-1 || j == n+resumeNew-1 {
				if _, err := r.Insert(ctx, "", batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		reps[i] = r
	}
	since := time.Now().Add(-time.Minute)
	arrived := func(b *testing.B, r *Replica) int {
		got := 0
		for _, err := range r.Arrived(ctx, since) {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		return got
	}
	scan := func(b *testing.B, r *Replica) int {
		got := 0
		for _, it := range r.Items() {
			rec, err := r.Stored(ctx, it.Key)
			if errors.Is(err, core.ErrNotFound) {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			if !rec.Received.Before(since) {
				got++
			}
		}
		return got
	}
	for _, way := range []struct {
		name   string
		resume func(*testing.B, *Replica) int
	}{{"arrived", arrived}, {"scan", scan}} {
		b.Run(way.name, func(b *testing.B) {
			took := make([]time.Duration, len(reps))
			for _, r := range reps { // warm the caches alike
				way.resume(b, r)
			}
			for b.Loop() {
				for i, r := range reps {
					start := time.Now()
					if got := way.resume(b, r); got != resumeNew {
						b.Fatalf("resumed with %d records, want %d", got, resumeNew)
					}
					took[i] += time.Since(start)
				}
			}
			for i, n := range sizes {
				b.ReportMetric(float64(took[i].Nanoseconds())/float64(b.N), fmt.Sprintf("ns/resume@%d", n))
			}
			b.ReportMetric(float64(took[1])/float64(took[0]), "ratio")
		})
	}
}
