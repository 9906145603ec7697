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
// of them, in a collection of n records stored an hour before, on pebble
// with a fixed cache. "arrived" reads the arrival order from the cursor
// (Arrived); "scan" is the way before it, every item's record read and
// its receive time compared, as the baseline. Run:
//
//	go test ./core/replica -run '^$' -bench BenchmarkResume -benchtime 20x
func BenchmarkResume(b *testing.B) {
	ctx := context.Background()
	w := newWriter(b, 9)
	for _, n := range []int{10_000, 100_000} {
		p, err := pebblestore.Open(ctx, &pebblestore.Options{Path: filepath.Join(b.TempDir(), "db"), CacheSize: 32 << 20})
		if err != nil {
			b.Fatal(err)
		}
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
		for i := range n + resumeNew {
			if i == n {
				r.now = time.Now
			}
			batch = append(batch, seal(b, w, "bench", fmt.Sprintf("k%08d", i), r.now().UnixNano(), value))
			if len(batch) == 1000 || i == n-1 || i == n+resumeNew-1 {
				if _, err := r.Insert(ctx, "", batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		since := time.Now().Add(-time.Minute)
		b.Run(fmt.Sprintf("arrived/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				got := 0
				for _, err := range r.Arrived(ctx, since) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != resumeNew {
					b.Fatalf("resumed with %d records, want %d", got, resumeNew)
				}
			}
		})
		b.Run(fmt.Sprintf("scan/n=%d", n), func(b *testing.B) {
			for b.Loop() {
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
				if got != resumeNew {
					b.Fatalf("resumed with %d records, want %d", got, resumeNew)
				}
			}
		})
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
