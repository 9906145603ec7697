package replica

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/backends/pebblestore"
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

// BenchmarkIndexScale measures a replica's in-memory index at 10,000,
// 100,000 and 1,000,000 records: one iteration does the operation once at
// each size, timing each, so the sizes are measured side by side under one
// load. It reports each size's median (p50-ns-<n>) and its ratio to the
// 10,000 case's (ratio-<n>). The operations: insert one record (within
// the bounds), delete one, insert one past the total bound (which drops
// the oldest record of the set) or past its writer's bound (which drops
// the writer's oldest), and the fingerprint of a range between two random
// keys. Each keeps the size as it was, outside the timing.
func BenchmarkIndexScale(b *testing.B) {
	scaleOnce.Do(func() {
		for _, n := range scaleSizes {
			scaleIndexes = append(scaleIndexes, newScaleIndex(b, n))
		}
	})
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
			})
			s.ix.remove(randomKey(s))
		}},
		{"delete", func(s *scaleIndex, timed func(func())) {
			k := randomKey(s)
			timed(func() { s.ix.remove(k) })
			s.ix.put(s.fresh(s.writers[s.rng.IntN(len(s.writers))]), scaleRecordSize, false)
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
			})
		}},
		{"fingerprint", func(s *scaleIndex, timed func(func())) {
			lower, upper := randomKey(s), randomKey(s)
			if upper < lower {
				lower, upper = upper, lower
			}
			timed(func() { s.ix.set.rangeFingerprint(lower, Bound{Key: upper}) })
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			samples := make([][]time.Duration, len(scaleIndexes))
			for b.Loop() {
				for i, s := range scaleIndexes {
					o.op(s, func(f func()) {
						start := time.Now()
						f()
						samples[i] = append(samples[i], time.Since(start))
					})
				}
			}
			reportScale(b, scaleSizes, samples)
			for i, s := range scaleIndexes {
				if s.ix.set.Len() != scaleSizes[i] {
					b.Fatalf("%s changed the size from %d to %d", o.name, scaleSizes[i], s.ix.set.Len())
				}
			}
		})
	}
}

// BenchmarkReplicaScale measures Replica.Insert of one signed record (a
// 256-byte value, a 478-byte envelope), end to end but for the signature's
// check (the records come sealed): the index, the eviction, the write to
// the store and the watchers. Replicas of 10,000, 100,000 and 1,000,000
// records from 64 writers (round robin, each at its bound of n/64 rounded
// up, and n in total) on an in-memory datastore and on pebble (no fsync,
// the default 64 MiB cache) take one record each per iteration, timed
// side by side as in BenchmarkIndexScale; it reports the medians and
// their ratios to the 10,000 case's. insert-past-writer-bound: a fresh
// record of a writer at its bound, which drops the writer's oldest;
// insert-past-total-bound: a fresh record of a 65th writer, which drops
// the oldest of the whole set; delete: a tombstone in place of a random
// record held.
func BenchmarkReplicaScale(b *testing.B) {
	sizes := []int{10_000, 100_000, 1_000_000}
	ws := make([]writer, 65)
	for i := range ws {
		ws[i] = newWriter(b, int64(i))
	}
	value := make([]byte, 256)
	base := time.Now().Add(-time.Hour).UnixNano()
	recs := make([]Verified, sizes[len(sizes)-1])
	for i := range recs {
		recs[i] = seal(b, ws[i%64], "bench", fmt.Sprintf("k%09d", i), base+int64(i), value)
	}
	stores := []struct {
		name string
		open func(b *testing.B) ds.Datastore
	}{
		{"memory", func(*testing.B) ds.Datastore { return dssync.MutexWrap(ds.NewMapDatastore()) }},
		{"pebble", func(b *testing.B) ds.Datastore {
			p, err := pebblestore.Open(b.Context(), &pebblestore.Options{Path: filepath.Join(b.TempDir(), "db")})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Close() })
			return namespace.Wrap(p, ds.NewKey("/sync/bench"))
		}},
	}
	wall := base + int64(len(recs))
	rng := rand.New(rand.NewPCG(1, 1))
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			var rs []*Replica
			for _, n := range sizes {
				r := openOn(b, st.open(b), Settings{Name: "bench", MaxRecordsPerWriter: (n + 63) / 64, MaxRecords: n})
				for lo := 0; lo < n; lo += 1000 {
					insert(b, r, recs[lo:min(lo+1000, n)]...)
				}
				rs = append(rs, r)
			}
			for _, op := range []string{"insert-past-writer-bound", "insert-past-total-bound", "delete"} {
				b.Run(op, func(b *testing.B) {
					samples := make([][]time.Duration, len(rs))
					for b.Loop() {
						for i, r := range rs {
							wall++
							var v Verified
							switch op {
							case "insert-past-writer-bound":
								v = seal(b, ws[0], "bench", fmt.Sprintf("new%016x", rng.Uint64()), wall, value)
							case "insert-past-total-bound":
								v = seal(b, ws[64], "bench", fmt.Sprintf("new%016x", rng.Uint64()), wall, value)
							default:
								r.mu.Lock()
								k := r.set.at(rng.IntN(r.set.Len())).Key
								r.mu.Unlock()
								owner, name, _ := envelope.ParseKey(k)
								w := ws[slices.IndexFunc(ws, func(w writer) bool { return w.id == owner })]
								v = seal(b, w, "bench", strings.TrimPrefix(name, "bench/"), wall, nil)
							}
							start := time.Now()
							if insert(b, r, v) != 1 {
								b.Fatal("the record was not stored")
							}
							samples[i] = append(samples[i], time.Since(start))
						}
					}
					reportScale(b, sizes, samples)
					for i, r := range rs {
						if st := r.Status(); st.Records+st.Tombstones != sizes[i] {
							b.Fatalf("the replica of %d holds %d", sizes[i], st.Records+st.Tombstones)
						}
					}
				})
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
