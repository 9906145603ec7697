//go:build !js

// pebble does not build for the browser: this benchmark stays out of the
// package's js/wasm build.

package replica

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core/envelope"
)

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
// record held. It reports too how long opening each replica again takes
// (on stderr): reading the index's summary, not the records.
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
				d := st.open(b)
				settings := Settings{Name: "bench", MaxRecordsPerWriter: (n + 63) / 64, MaxRecords: n}
				r := openOn(b, d, settings)
				for lo := 0; lo < n; lo += 1000 {
					insert(b, r, recs[lo:min(lo+1000, n)]...)
				}
				// Open it again on the same store: it reads the index's
				// summary, not the records.
				start := time.Now()
				r = openOn(b, d, settings)
				fmt.Fprintf(os.Stderr, "%s: a replica of %d records reopened in %v\n", st.name, n, time.Since(start).Round(time.Microsecond))
				if r.rebuilt != "" {
					b.Fatalf("reopened, the index was rebuilt: %s", r.rebuilt)
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
