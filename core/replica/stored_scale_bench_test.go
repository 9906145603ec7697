//go:build !js

// pebble does not build for the browser: this benchmark stays out of the
// package's js/wasm build.

package replica

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
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
	"github.com/netabase/netabase/internal/testkit/crashtest"
)

var (
	storedScaleMax = flag.Int("replica.stored-max", 10_000_000, "the largest size BenchmarkStoredIndexScale measures")
	storedScaleMin = flag.Int("replica.stored-min", 0, "the smallest size BenchmarkStoredIndexScale measures")
)

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
		if err == nil && why == "" {
			why, err = x.replay(ctx, d, m.logBase, func(envelope.Timestamp) {})
		}
		if err != nil || why != "" {
			b.Fatalf("reopening the index: %v %s", err, why)
		}
		s.ix = x
	}
	took := time.Since(start)
	s.commit = func() { s.flush(false) }
	s.flush = func(force bool) {
		ops, checkpoint := s.ix.stage([HashSize]byte{}, envelope.Timestamp{}, true, force)
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
		s.ix.settle(checkpoint)
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
				s.flush(true)
			}
		}
	}
	s.flush(true)
	if err := st.close(); err != nil {
		b.Fatal(err)
	}
	// Open it again cleanly, then let a child write to it with fsync and
	// kill it (SIGKILL) once it says it wrote, and open it again.
	st, clean := openStoredScale(b, dir, s)
	if err := st.close(); err != nil {
		b.Fatal(err)
	}
	killAfterWrites(b, dir)
	st, killed := openStoredScale(b, dir, s)
	if got := s.ix.total.records; got != n+killedWrites {
		b.Fatalf("after the child was killed, the index holds %d records; want %d, the child's %d acknowledged included", got, n+killedWrites, killedWrites)
	}
	for range killedWrites { // back to n
		s.ix.remove(s.ix.set.at(s.rng.IntN(s.ix.set.Len())).Key)
		if s.ix.dirtyNodes() >= 256 {
			s.commit()
		}
	}
	s.commit()
	fmt.Fprintf(os.Stderr, "%d records: reopened in %v cleanly, in %v after SIGKILL\n", n, clean.Round(time.Millisecond), killed.Round(time.Millisecond))
	return st, killed
}

// killedWrites is how many records the child of killAfterWrites inserts,
// one batch each.
const killedWrites = 200

// storedChild inserts killedWrites fresh records, one commit each, into
// the stored index in dir, on pebble with fsync, says so to the parent,
// and waits to be killed.
func storedChild(parent *crashtest.Parent, dir string) error {
	ctx := context.Background()
	p, err := pebblestore.Open(ctx, &pebblestore.Options{Path: dir, Sync: true, CacheSize: storedScaleCache})
	if err != nil {
		return err
	}
	d := namespace.Wrap(p, ds.NewKey("/sync/bench"))
	raw, err := d.Get(ctx, metaKey)
	if err != nil {
		return err
	}
	m, err := decodeMeta(raw)
	if err != nil {
		return err
	}
	x, why, err := openStored(ctx, d, m, [HashSize]byte{})
	if err == nil && why == "" {
		why, err = x.replay(ctx, d, m.logBase, func(envelope.Timestamp) {})
	}
	if err != nil || why != "" {
		return fmt.Errorf("opening the index: %v %s", err, why)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	writers := slices.Collect(maps.Keys(x.writers))
	for i := range killedWrites {
		it := Item{Key: fmt.Sprintf("%s/bench/%016x", writers[rng.IntN(len(writers))], rng.Uint64()), Clock: envelope.Timestamp{Wall: 1<<41 + int64(i)}}
		x.put(it, scaleRecordSize, false)
		batch, err := d.Batch(ctx)
		if err != nil {
			return err
		}
		ops, checkpoint := x.stage([HashSize]byte{}, envelope.Timestamp{}, true, false)
		for _, o := range ops {
			if o.val == nil {
				err = batch.Delete(ctx, o.key)
			} else {
				err = batch.Put(ctx, o.key, o.val)
			}
			if err != nil {
				return err
			}
		}
		if err := batch.Commit(ctx); err != nil {
			return err
		}
		x.settle(checkpoint)
	}
	parent.Done()
	select {}
}

// killAfterWrites runs storedChild on dir in a child process and kills it
// with SIGKILL once it has written.
func killAfterWrites(b *testing.B, dir string) {
	c := crashtest.Start(b, "stored", dir)
	line := c.Next(b)
	c.Kill()
	if line != "done" {
		b.Fatalf("the child said %q, not done", line)
	}
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
	storedScaleRSS   int64 // before the first index
)

// BenchmarkStoredIndexScale measures the stored index a replica keeps, on
// pebble (no fsync, a 32 MiB block cache), at 10,000, 1,000,000 and
// 10,000,000 records (those between -replica.stored-min and
// -replica.stored-max) from 64 writers, as
// BenchmarkIndexScale measures the index in memory; each change ends with
// the batch a replica's Insert commits its index's changes in. Before
// the operations it reports, for each size, the resident set's growth
// from the empty index to the filled one, after a garbage collection
// (rss-growth-MiB-<n>), the index's cached nodes (cached-nodes-<n>), and
// the time to open the pebble store and the index again after a child
// process that wrote to them was killed with SIGKILL (reopen-ms-<n>; the
// clean reopen's is on stderr).
func BenchmarkStoredIndexScale(b *testing.B) {
	storedScaleOnce.Do(func() {
		storedScaleRSS = settledRSS(b)
		for _, n := range []int{10_000, 1_000_000, 10_000_000} {
			if n > *storedScaleMax || n < *storedScaleMin {
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
	// The caches are warm now: the resident set's growth from before the
	// first index to all of them, as they are, is a bound on the largest's.
	grown := settledRSS(b) - storedScaleRSS
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cached, held := 0, 0
	for _, s := range storedScales {
		x := &s.ix
		cached += x.set.t.pg().cached() + x.byWriter.pg().cached() + x.tombs.pg().cached()
		held += x.set.t.pg().held + x.byWriter.pg().held + x.tombs.pg().held
	}
	fmt.Fprintf(os.Stderr, "after the operations, the indexes of %v records: RSS grew %.1f MiB from before the first, Go heap in use %.1f MiB, %d nodes cached (%.1f MiB stored form)\n",
		storedScaleSizes, float64(grown)/(1<<20), float64(ms.HeapInuse)/(1<<20), cached, float64(held)/(1<<20))
}
