//go:build !(js && wasm)

// These benchmarks run on pebble, which does not build for js/wasm.

package model_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/internal/measure"
)

// benchItem has two indexes, as the benchmark targets ask.
type benchItem struct {
	ID    uint64 `netabase:"key"`
	Owner string `netabase:"index"`
	Score int64  `netabase:"index"`
	Title string
	Body  string
}

const (
	benchOwners = 1000 // distinct Owner values: 100 values each at 100,000
	benchRounds = 5
)

// benchFixture is the values of a run and exactly the bytes the typed
// collection stores them as, under the same keys, for the raw side.
type benchFixture struct {
	items []benchItem
	keys  []ds.Key
	vals  [][]byte
	index [][]ds.Key // the index entry keys of each item
}

func newBenchFixture(b *testing.B, n, body int) *benchFixture {
	r := rand.New(rand.NewPCG(7, 7))
	f := &benchFixture{}
	for i := range n {
		f.items = append(f.items, benchItem{
			ID:    r.Uint64(),
			Owner: fmt.Sprintf("owner-%04d", r.IntN(benchOwners)),
			Score: r.Int64N(1e6) - 5e5,
			Title: fmt.Sprintf("item %d", i),
			Body:  strings.Repeat("x", body/2+r.IntN(body)),
		})
	}
	m := dssync.MutexWrap(ds.NewMapDatastore())
	c := open[uint64, benchItem](b, m, "bench")
	if err := c.PutMany(b.Context(), f.items); err != nil {
		b.Fatal(err)
	}
	res, err := m.Query(b.Context(), dsq.Query{Prefix: "/model/bench/i", KeysOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		b.Fatal(err)
	}
	byKey := make(map[string][]ds.Key)
	for _, e := range entries {
		kseg := e.Key[strings.LastIndexByte(e.Key, '/')+1:]
		byKey[kseg] = append(byKey[kseg], ds.NewKey(e.Key))
	}
	for _, it := range f.items {
		kseg := strings.TrimPrefix(c.RecordName(it.ID), "bench/")
		k := ds.NewKey("/model/bench/v/" + kseg)
		v, err := m.Get(b.Context(), k)
		if err != nil {
			b.Fatal(err)
		}
		f.keys, f.vals, f.index = append(f.keys, k), append(f.vals, v), append(f.index, byKey[kseg])
	}
	return f
}

func openPebble(b *testing.B, dir string) core.Backend {
	p, err := pebblestore.Open(b.Context(), &pebblestore.Options{Path: dir})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// timed opens a fresh pebble store; fills it, when fill is not nil, then
// closes and reopens it so that it is read in a settled state rather than
// mid-compaction; calls setup; and times run.
func timed(b *testing.B, fill, setup, run func(context.Context, core.Backend) error) cost {
	ctx := b.Context()
	dir := filepath.Join(b.TempDir(), "db")
	p := openPebble(b, dir)
	if fill != nil {
		if err := fill(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
		p = openPebble(b, dir)
	}
	defer p.Close()
	if setup != nil {
		if err := setup(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	start, startCPU := time.Now(), cpuTime()
	if err := run(ctx, p); err != nil {
		b.Fatal(err)
	}
	return cost{time.Since(start), cpuTime() - startCPU}
}

// cost is what a run took: wall-clock time, and the CPU time of the whole
// process (user and system), which a shared machine's other load does not
// inflate.
type cost struct{ wall, cpu time.Duration }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// compare runs raw, floor (when not nil) and typed alternately
// benchRounds times and reports the medians per operation: raw-ns/op,
// floor-ns/op and typed-ns/op in wall-clock time; ratio, typed throughput
// over raw throughput (1 means equal), and floor-ratio, typed over floor;
// and cpu-ratio and cpu-floor-ratio, the same in process CPU time.
func compare(b *testing.B, ops int, raw, floor, typed func() cost) {
	var rawC, floorC, typedC []cost
	for range benchRounds {
		rawC = append(rawC, raw())
		if floor != nil {
			floorC = append(floorC, floor())
		}
		typedC = append(typedC, typed())
	}
	per := func(cs []cost, cpu bool) float64 {
		xs := make([]float64, len(cs))
		for i, c := range cs {
			d := c.wall
			if cpu {
				d = c.cpu
			}
			xs[i] = float64(d.Nanoseconds()) / float64(ops)
		}
		return measure.Median(xs)
	}
	r, t := per(rawC, false), per(typedC, false)
	b.ReportMetric(t, "ns/op")
	b.ReportMetric(r, "raw-ns/op")
	b.ReportMetric(t, "typed-ns/op")
	b.ReportMetric(r/t, "ratio")
	b.ReportMetric(per(rawC, true)/per(typedC, true), "cpu-ratio")
	if floor != nil {
		fl := per(floorC, false)
		b.ReportMetric(fl, "floor-ns/op")
		b.ReportMetric(fl/t, "floor-ratio")
		b.ReportMetric(per(floorC, true)/per(typedC, true), "cpu-floor-ratio")
	}
}

// BenchmarkTyped compares typed collections with the pebble backend
// underneath, in one process, each side in a fresh store per round:
//
//   - put: inserting 20,000 values one Put at a time into a collection
//     with two indexes, against raw Puts of the same stored bytes under
//     the same keys;
//   - get: 20,000 Gets in random order of values stored as above, against
//     raw Gets of the same keys (the raw side does not decode);
//   - find: at 100,000 values, finding the ~100 values of one Owner through
//     its index, against scanning every value and filtering (ratio here is
//     how many times faster the index is).
//
// The framework's iteration count is not used:
//
//	go test ./core/model -run '^$' -bench Typed -benchtime 1x
func BenchmarkTyped(b *testing.B) {
	const n = 20000
	for _, size := range []struct {
		name string
		body int
	}{{"100B", 100}, {"1KiB", 1024}} {
		f := newBenchFixture(b, n, size.body)
		var c *model.Collection[uint64, benchItem]
		openTyped := func(ctx context.Context, p core.Backend) (err error) {
			c, err = model.Open[uint64, benchItem](ctx, model.NewLocal(p), "bench")
			return err
		}
		rawPut := func(ctx context.Context, p core.Backend) error {
			for i := range f.keys {
				if err := p.Put(ctx, f.keys[i], f.vals[i]); err != nil {
					return err
				}
			}
			return nil
		}
		// floorPut does the storage work of a typed insert and nothing
		// else: a read of the old value, and one batch of the value and
		// its index entries.
		floorPut := func(ctx context.Context, p core.Backend) error {
			for i := range f.keys {
				if _, err := p.Get(ctx, f.keys[i]); err == nil {
					return fmt.Errorf("%s exists", f.keys[i])
				}
				bt, err := p.Batch(ctx)
				if err != nil {
					return err
				}
				for _, k := range f.index[i] {
					if err := bt.Put(ctx, k, []byte{}); err != nil {
						return err
					}
				}
				if err := bt.Put(ctx, f.keys[i], f.vals[i]); err != nil {
					return err
				}
				if err := bt.Commit(ctx); err != nil {
					return err
				}
			}
			return nil
		}
		typedPut := func(ctx context.Context, _ core.Backend) error {
			for _, it := range f.items {
				if err := c.Put(ctx, it); err != nil {
					return err
				}
			}
			return nil
		}
		const chunk = 1000
		rawBatches := func(ctx context.Context, p core.Backend) error {
			for lo := 0; lo < n; lo += chunk {
				bt, err := p.Batch(ctx)
				if err != nil {
					return err
				}
				for i := lo; i < lo+chunk; i++ {
					if err := bt.Put(ctx, f.keys[i], f.vals[i]); err != nil {
						return err
					}
				}
				if err := bt.Commit(ctx); err != nil {
					return err
				}
			}
			return nil
		}
		typedBatches := func(ctx context.Context, _ core.Backend) error {
			for items := range slices.Chunk(f.items, chunk) {
				if err := c.PutMany(ctx, items); err != nil {
					return err
				}
			}
			return nil
		}
		order := rand.New(rand.NewPCG(8, 8)).Perm(n)
		rawGet := func(ctx context.Context, p core.Backend) error {
			for _, i := range order {
				if _, err := p.Get(ctx, f.keys[i]); err != nil {
					return err
				}
			}
			return nil
		}
		typedGet := func(ctx context.Context, _ core.Backend) error {
			for _, i := range order {
				if _, err := c.Get(ctx, f.items[i].ID); err != nil {
					return err
				}
			}
			return nil
		}
		typedFill := func(ctx context.Context, p core.Backend) error {
			if err := openTyped(ctx, p); err != nil {
				return err
			}
			return typedBatches(ctx, p)
		}

		b.Run("put/"+size.name, func(b *testing.B) {
			compare(b, n,
				func() cost { return timed(b, nil, nil, rawPut) },
				func() cost { return timed(b, nil, nil, floorPut) },
				func() cost { return timed(b, nil, openTyped, typedPut) })
		})
		b.Run("putmany/"+size.name, func(b *testing.B) {
			compare(b, n,
				func() cost { return timed(b, nil, nil, rawBatches) },
				nil,
				func() cost { return timed(b, nil, openTyped, typedBatches) })
		})
		b.Run("get/"+size.name, func(b *testing.B) {
			compare(b, n,
				func() cost { return timed(b, rawBatches, nil, rawGet) },
				func() cost { return timed(b, typedFill, nil, rawGet) },
				func() cost { return timed(b, typedFill, openTyped, typedGet) })
		})
	}

	b.Run("find-100k", func(b *testing.B) {
		big := newBenchFixture(b, 100000, 100)
		ctx := b.Context()
		dir := filepath.Join(b.TempDir(), "db")
		p := openPebble(b, dir)
		c, err := model.Open[uint64, benchItem](ctx, model.NewLocal(p), "bench")
		if err != nil {
			b.Fatal(err)
		}
		for chunk := range slices.Chunk(big.items, 1000) {
			if err := c.PutMany(ctx, chunk); err != nil {
				b.Fatal(err)
			}
		}
		// Close and reopen, so that both sides read the store in the same
		// settled state rather than mid-compaction.
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
		p = openPebble(b, dir)
		defer p.Close()
		if c, err = model.Open[uint64, benchItem](ctx, model.NewLocal(p), "bench"); err != nil {
			b.Fatal(err)
		}
		byOwner, err := model.IndexOf[string](c, "Owner")
		if err != nil {
			b.Fatal(err)
		}
		owners := []string{"owner-0000", "owner-0123", "owner-0500", "owner-0999"}
		want := make(map[string]int)
		for _, it := range big.items {
			want[it.Owner]++
		}
		var scanNs, findNs []float64
		for round := range benchRounds {
			owner := owners[round%len(owners)]
			start := time.Now()
			got := 0
			for v, err := range c.Scan(ctx) {
				if err != nil {
					b.Fatal(err)
				}
				if v.Owner == owner {
					got++
				}
			}
			scanNs = append(scanNs, float64(time.Since(start).Nanoseconds()))
			if got != want[owner] {
				b.Fatalf("scan found %d values of %s, want %d", got, owner, want[owner])
			}
			const finds = 20
			start = time.Now()
			for range finds {
				got = 0
				for _, err := range byOwner.Find(ctx, owner) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
			}
			findNs = append(findNs, float64(time.Since(start).Nanoseconds())/finds)
			if got != want[owner] {
				b.Fatalf("find found %d values of %s, want %d", got, owner, want[owner])
			}
		}
		s, fd := measure.Median(scanNs), measure.Median(findNs)
		b.ReportMetric(fd, "ns/op")
		b.ReportMetric(s, "scan-ns/op")
		b.ReportMetric(fd, "find-ns/op")
		b.ReportMetric(s/fd, "ratio")
	})
}
