//go:build !js

// pebble does not build for the browser: this benchmark stays out of the
// package's js/wasm build.

package replica

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core/envelope"
)

var storedScaleMax = flag.Int("replica.stored-max", 10_000_000, "the largest size BenchmarkStoredIndexScale measures")

// storedScaleCache is the block cache of BenchmarkStoredIndexScale's
// pebble stores, fixed.
const storedScaleCache = 32 << 20

// storedScale is one size of BenchmarkStoredIndexScale: its index, and
// its store to close.
type storedScale struct {
	s     *scaleIndex
	close func() error
}

// openStoredScale opens the pebble store in dir and the index kept in it
// (an empty one when the store holds none), and returns how long that
// took.
func openStoredScale(b *testing.B, dir string, s *scaleIndex) (storedScale, time.Duration) {
	ctx := context.Background()
	start := time.Now()
	p, err := pebblestore.Open(ctx, &pebblestore.Options{Path: dir, CacheSize: storedScaleCache})
	if err != nil {
		b.Fatal(err)
	}
	d := namespace.Wrap(p, ds.NewKey("/sync/bench"))
	s.ix = newStoredIndex(d)
	if raw, err := d.Get(ctx, metaKey); err == nil {
		m, err := decodeMeta(raw)
		if err != nil {
			b.Fatal(err)
		}
		x, why, err := openStored(ctx, d, m, [HashSize]byte{})
		if err != nil || why != "" {
			b.Fatalf("reopening the index: %v %s", err, why)
		}
		s.ix = x
	}
	took := time.Since(start)
	s.commit = func() {
		ops := s.ix.stage([HashSize]byte{}, envelope.Timestamp{}, true)
		batch, err := d.Batch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range ops {
			if o.val == nil {
				err = batch.Delete(ctx, o.key)
			} else {
				err = batch.Put(ctx, o.key, o.val)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		s.ix.settle()
	}
	return storedScale{s, p.Close}, took
}

// newStoredScale fills a stored index with n records from 64 writers as
// newScaleIndex does, but in key order (each writer's keys spread evenly
// over the key space, older than every fresh one), committing every 4,096.
func newStoredScale(b *testing.B, n int) (storedScale, time.Duration) {
	dir := filepath.Join(b.TempDir(), "db")
	s := &scaleIndex{rng: rand.New(rand.NewPCG(uint64(n), 1)), clock: 1 << 40}
	for i := range 64 {
		s.writers = append(s.writers, writerPart(envelope.Key(newWriter(b, int64(i)).id, "bench/k")))
	}
	slices.Sort(s.writers)
	st, _ := openStoredScale(b, dir, s)
	for i, w := range s.writers {
		count := n / 64
		if i < n%64 {
			count++
		}
		step := math.MaxUint64 / uint64(count+1)
		for j := range count {
			it := Item{Key: fmt.Sprintf("%s/bench/%016x", w, uint64(j+1)*step), Clock: envelope.Timestamp{Wall: int64(j + 1)}}
			for k := range it.Hash {
				it.Hash[k] = byte(s.rng.Uint32())
			}
			s.ix.put(it, scaleRecordSize, false)
			if s.ix.dirtyNodes() >= 256 {
				s.commit()
			}
		}
	}
	s.commit()
	if err := st.close(); err != nil {
		b.Fatal(err)
	}
	return openStoredScale(b, dir, s)
}

// rssBytes is the process's resident set size.
func rssBytes(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status to read the RSS from: %v", err)
	}
	for line := range bytes.Lines(raw) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func settledRSS(b *testing.B) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rssBytes(b)
}

var (
	storedScaleOnce  sync.Once
	storedScaleSizes []int
	storedScales     []*scaleIndex
	storedScaleStats []string
)

// BenchmarkStoredIndexScale measures the stored index a replica keeps, on
// pebble (no fsync, a 32 MiB block cache), at 10,000, 1,000,000 and
// 10,000,000 records (at most -replica.stored-max) from 64 writers, as
// BenchmarkIndexScale measures the index in memory; each change ends with
// the batch a replica's Insert commits its index's changes in. Before
// the operations it reports, for each size, the resident set's growth
// from the empty index to the filled one, after a garbage collection
// (rss-growth-MiB-<n>), the index's cached nodes (cached-nodes-<n>), and
// the time to open the pebble store and the index again (reopen-ms-<n>).
func BenchmarkStoredIndexScale(b *testing.B) {
	storedScaleOnce.Do(func() {
		for _, n := range []int{10_000, 1_000_000, 10_000_000} {
			if n > *storedScaleMax {
				continue
			}
			before := settledRSS(b)
			start := time.Now()
			st, reopen := newStoredScale(b, n)
			fill := time.Since(start)
			b.Cleanup(func() { _ = st.close() })
			grown := settledRSS(b) - before
			x := &st.s.ix
			storedScaleSizes = append(storedScaleSizes, n)
			storedScales = append(storedScales, st.s)
			storedScaleStats = append(storedScaleStats, fmt.Sprintf("%d records: filled in %v, RSS grew %.1f MiB, %d+%d+%d nodes cached, reopened in %v",
				n, fill.Round(time.Second), float64(grown)/(1<<20), x.set.t.pg().cached(), x.byWriter.pg().cached(), x.tombs.pg().cached(), reopen.Round(time.Millisecond)))
			b.ReportMetric(float64(grown)/(1<<20), fmt.Sprintf("rss-growth-MiB-%d", n))
			b.ReportMetric(float64(reopen.Microseconds())/1000, fmt.Sprintf("reopen-ms-%d", n))
		}
	})
	for _, s := range storedScaleStats {
		fmt.Fprintln(os.Stderr, s)
	}
	runIndexScale(b, storedScaleSizes, storedScales)
}
