package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/netabase/netabase/core/envelope"
)

// The sizes of BenchmarkIndexScale, the first its baseline.
var scaleSizes = []int{10_000, 100_000, 1_000_000}

// scaleIndex is an index of n records from 64 writers, each record
// 478 bytes (the envelope of a 256-byte value), with random keys and
// clocks, and a source of fresh keys and later clocks.
type scaleIndex struct {
	ix      index
	writers []string
	rng     *rand.Rand
	clock   int64
	// commit writes what changed in a stored index, as a replica's Insert
	// does in the batch of its records; nil for an index in memory. flush
	// does, as a checkpoint when force is set.
	commit func()
	flush  func(force bool)
}

// done commits what changed, for a stored index.
func (s *scaleIndex) done() {
	if s.commit != nil {
		s.commit()
	}
}

const scaleRecordSize = 478

func (s *scaleIndex) fresh(w string) Item {
	s.clock++
	it := Item{Key: fmt.Sprintf("%s/bench/%016x", w, s.rng.Uint64()), Clock: envelope.Timestamp{Wall: s.clock}}
	for i := range it.Hash {
		it.Hash[i] = byte(s.rng.Uint32())
	}
	return it
}

func newScaleIndex(b *testing.B, n int) *scaleIndex {
	s := &scaleIndex{ix: newIndex(), rng: rand.New(rand.NewPCG(uint64(n), 1)), clock: 1 << 40}
	for i := range 64 {
		s.writers = append(s.writers, writerPart(envelope.Key(newWriter(b, int64(i)).id, "bench/k")))
	}
	for range n {
		it := s.fresh(s.writers[s.rng.IntN(len(s.writers))])
		it.Clock.Wall = s.rng.Int64N(1 << 40) // older than every fresh one, in random order
		s.ix.put(it, scaleRecordSize, false)
	}
	return s
}

var (
	scaleOnce    sync.Once
	scaleIndexes []*scaleIndex
)

// BenchmarkIndexScale measures a replica's index in memory at 10,000,
// 100,000 and 1,000,000 records: one iteration does the operation once at
// each size, timing each, so the sizes are measured side by side under one
// load. It reports each size's median (p50-ns-<n>) and its ratio to the
// 10,000 case's (ratio-<n>). The operations: insert one record (within
// the bounds), delete one, insert one past the total bound (which drops
// the oldest record of the set) or past its writer's bound (which drops
// the writer's oldest), and the fingerprint of a range between two random
// bounds. Each keeps the size as it was, outside the timing.
// BenchmarkStoredIndexScale measures the same on the stored index a
// replica keeps.
func BenchmarkIndexScale(b *testing.B) {
	scaleOnce.Do(func() {
		for _, n := range scaleSizes {
			scaleIndexes = append(scaleIndexes, newScaleIndex(b, n))
		}
	})
	runIndexScale(b, scaleSizes, scaleIndexes)
}

func runIndexScale(b *testing.B, sizes []int, indexes []*scaleIndex) {
	wide := Settings{MaxRecordsPerWriter: 1 << 30, MaxBytesPerWriter: 1 << 50, MaxRecords: 1 << 30, MaxBytes: 1 << 50, TombstoneHorizon: time.Hour}
	now := time.Unix(0, 1<<41)
	randomKey := func(s *scaleIndex) string { return s.ix.set.at(s.rng.IntN(s.ix.set.Len())).Key }
	ops := []struct {
		name string
		// op does the operation on s; it times only what timed brackets.
		op func(s *scaleIndex, timed func(func()))
	}{
		{"insert", func(s *scaleIndex, timed func(func())) {
			w := s.writers[s.rng.IntN(len(s.writers))]
			it := s.fresh(w)
			timed(func() {
				s.ix.put(it, scaleRecordSize, false)
				s.ix.evict(now, wide, map[string]bool{w: true})
				s.done()
			})
			s.ix.remove(randomKey(s))
			s.done()
		}},
		{"delete", func(s *scaleIndex, timed func(func())) {
			k := randomKey(s)
			timed(func() {
				s.ix.remove(k)
				s.done()
			})
			s.ix.put(s.fresh(s.writers[s.rng.IntN(len(s.writers))]), scaleRecordSize, false)
			s.done()
		}},
		{"evict-total", func(s *scaleIndex, timed func(func())) {
			w := s.writers[s.rng.IntN(len(s.writers))]
			it := s.fresh(w)
			bound := wide
			bound.MaxRecords = s.ix.total.records
			timed(func() {
				s.ix.put(it, scaleRecordSize, false)
				if len(s.ix.evict(now, bound, map[string]bool{w: true})) != 1 {
					b.Fatal("one record past the bound did not drop one")
				}
				s.done()
			})
		}},
		{"evict-writer", func(s *scaleIndex, timed func(func())) {
			w := s.writers[s.rng.IntN(len(s.writers))]
			it := s.fresh(w)
			bound := wide
			bound.MaxRecordsPerWriter = s.ix.writers[w].records
			timed(func() {
				s.ix.put(it, scaleRecordSize, false)
				if len(s.ix.evict(now, bound, map[string]bool{w: true})) != 1 {
					b.Fatal("one record past the writer's bound did not drop one")
				}
				s.done()
			})
		}},
		{"fingerprint", func(s *scaleIndex, timed func(func())) {
			// Bounds anywhere in the key space, as a peer's are: not
			// items just read, whose nodes would be in the cache.
			bound := func() string {
				return fmt.Sprintf("%s/bench/%016x", s.writers[s.rng.IntN(len(s.writers))], s.rng.Uint64())
			}
			lower, upper := bound(), bound()
			if upper < lower {
				lower, upper = upper, lower
			}
			timed(func() { s.ix.set.rangeFingerprint(lower, Bound{Key: upper}) })
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			samples := make([][]time.Duration, len(indexes))
			for b.Loop() {
				for i, s := range indexes {
					o.op(s, func(f func()) {
						start := time.Now()
						f()
						samples[i] = append(samples[i], time.Since(start))
					})
				}
			}
			reportScale(b, sizes, samples)
			for i, s := range indexes {
				if s.ix.set.Len() != sizes[i] {
					b.Fatalf("%s changed the size from %d to %d", o.name, sizes[i], s.ix.set.Len())
				}
				if err := s.ix.failed(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportScale reports the median of each size's samples and its ratio to
// the first size's.
func reportScale(b *testing.B, sizes []int, samples [][]time.Duration) {
	var base float64
	for i, ss := range samples {
		slices.Sort(ss)
		p50 := float64(ss[len(ss)/2].Nanoseconds())
		if i == 0 {
			base = p50
		}
		b.ReportMetric(p50, fmt.Sprintf("p50-ns-%d", sizes[i]))
		if i > 0 {
			b.ReportMetric(p50/base, fmt.Sprintf("ratio-%d", sizes[i]))
		}
	}
}
