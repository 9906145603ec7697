//go:build !(js && wasm)

// These benchmarks need bench_test.go's pebble-backed helpers, which do not
// build for js/wasm.

package model_test

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

var rangeSizes = flag.String("range.n", "10000,100000", "collection sizes for BenchmarkRange, comma-separated")

// noSeek hides a backend's seek, so that core emulates it by reading the
// entries before a range's start: the cost of a range before ranges
// seeked.
type noSeek struct{ ds.Batching }

// BenchmarkRange reads 100 values through Range and Index.Range from
// collections of each size in -range.n, on each persistent in-tree backend:
// the last 100 (descending, no bound), 100 from the middle of the keys
// (ascending from Lo), the 100 before the middle (descending to Hi), and
// 100 from the middle of an index. Each runs through the backend's seek
// ("seek") and with the seek hidden ("scan"); get-100 is 100 Gets of the
// same values, the cost of reading 100 values.
func BenchmarkRange(b *testing.B) {
	var sizes []int
	for _, s := range strings.Split(*rangeSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 200 {
			b.Fatalf("-range.n: %q is not a size of at least 200", s)
		}
		sizes = append(sizes, n)
	}
	for _, d := range all.Drivers() {
		if !d.About().Dir {
			continue
		}
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/n=%d", d.About().Scheme, n), func(b *testing.B) {
				benchRanges(b, d, n)
			})
		}
	}
}

func benchRanges(b *testing.B, d core.Driver, n int) {
	ctx := b.Context()
	u := d.About().Scheme + "://" + b.TempDir()
	fill := storetest.Open(b, d, u)
	filler := open[uint64, benchItem](b, fill, "bench")
	items := make([]benchItem, 0, 1000)
	for i := range n {
		// Keys 0..n-1; Score a permutation of them, so the index is
		// in another order than the keys.
		items = append(items, benchItem{
			ID:    uint64(i),
			Owner: fmt.Sprintf("owner-%04d", i%benchOwners),
			Score: int64(i) * 7919 % int64(n),
			Title: fmt.Sprintf("item %d", i),
			Body:  strings.Repeat("x", 100),
		})
		if len(items) == cap(items) || i == n-1 {
			if err := filler.PutMany(ctx, items); err != nil {
				b.Fatal(err)
			}
			items = items[:0]
		}
	}
	if err := fill.Close(); err != nil {
		b.Fatal(err)
	}
	backend := storetest.Open(b, d, u)
	b.Cleanup(func() { _ = backend.Close() })

	mid := uint64(n / 2)
	type reader struct {
		c       *model.Collection[uint64, benchItem]
		byScore *model.Index[int64, benchItem]
	}
	// The side without the seek runs first: reading every entry before
	// the start, it also warms the caches for the side with it and gives
	// the engine time to finish the compactions reopening started.
	sides := []struct {
		name string
		r    reader
	}{{"scan", reader{}}, {"seek", reader{}}}
	for i, be := range []ds.Batching{noSeek{backend}, backend} {
		c := open[uint64, benchItem](b, be, "bench")
		byScore, err := model.IndexOf[int64](c, "Score")
		if err != nil {
			b.Fatal(err)
		}
		sides[i].r = reader{c, byScore}
	}
	for _, op := range []struct {
		name string
		read func(reader) (int, error)
	}{
		{"last-100", func(r reader) (int, error) {
			return countValues(r.c.Range(ctx, model.Range[uint64]{Reverse: true, Limit: 100}))
		}},
		{"middle-100", func(r reader) (int, error) {
			return countValues(r.c.Range(ctx, model.Range[uint64]{Limit: 100}.From(mid)))
		}},
		{"before-middle-100", func(r reader) (int, error) {
			return countValues(r.c.Range(ctx, model.Range[uint64]{Reverse: true, Limit: 100}.To(mid)))
		}},
		{"index-middle-100", func(r reader) (int, error) {
			return countValues(r.byScore.Range(ctx, model.Range[int64]{Limit: 100}.From(int64(mid))))
		}},
	} {
		for _, side := range sides {
			b.Run(op.name+"/"+side.name, func(b *testing.B) {
				if _, err := op.read(side.r); err != nil { // warms the caches, untimed
					b.Fatal(err)
				}
				for b.Loop() {
					if got, err := op.read(side.r); err != nil || got != 100 {
						b.Fatalf("read %d values, %v; want 100", got, err)
					}
				}
			})
		}
	}
	c := open[uint64, benchItem](b, backend, "bench")
	b.Run("get-100", func(b *testing.B) {
		for b.Loop() {
			for k := mid; k < mid+100; k++ {
				if _, err := c.Get(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func countValues[T any](seq func(func(T, error) bool)) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
