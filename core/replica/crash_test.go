//go:build !(js && wasm)

// The crash tests start the test binary again as a child process and kill
// it, which a js/wasm program cannot do; they also need pebble, which does
// not build for the browser.

package replica

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/crashtest"
)

// The crash tests run a replica's work in a child process (this test
// binary started again, with internal/testkit/crashtest) on pebble with fsync, and
// kill it with SIGKILL at a chosen write: during a series of Inserts within
// the bounds, during a series past them (each evicts), and during the
// rebuild Open does of a collection stored without an index. Every write the child sends to the
// store (a Put, a Delete, a batch commit) first says so on a pipe and
// waits for the parent's go-ahead, and the child reports each acknowledged
// Insert on the same pipe. After the kill the parent opens the store
// again and checks that the index agrees with the records (its
// fingerprint is the one computed from the records alone), that an index
// written by whole batches was trusted, not rebuilt, and that no
// acknowledged record was lost.

func TestMain(m *testing.M) {
	crashtest.Main(m, func(p *crashtest.Parent, scenario, dir string) error {
		if scenario == "stored" {
			return storedChild(p, dir)
		}
		return crashChild(p, scenario, dir)
	})
}

// crashSettings are the settings of a scenario: wide bounds, or bounds
// every Insert of the evict scenario goes past.
func crashSettings(scenario string) Settings {
	s := Settings{Name: "notes"}
	if scenario == "evict" {
		s.MaxRecordsPerWriter, s.MaxRecords = 40, 100
	}
	s, err := s.Normalize()
	if err != nil {
		panic(err)
	}
	return s
}

// crashWriters are the scenarios' writers.
func crashWriters(t testing.TB) []writer {
	return []writer{newWriter(t, 11), newWriter(t, 12), newWriter(t, 13)}
}

// crashBase dates the scenarios' records: fixed, so that the parent and the
// child seal the same records, and within the tombstone horizon.
var crashBase = time.Now().Add(-time.Hour).Truncate(time.Hour).UnixNano()

// crashBatch is the i-th Insert of the insert and evict scenarios: 20
// records, new keys and new versions of keys of the batch before, one a
// tombstone.
func crashBatch(t testing.TB, ws []writer, i int) []Verified {
	var out []Verified
	for j := range 20 {
		key, value := fmt.Sprintf("k%03d-%02d", i, j), []byte(fmt.Sprint("batch ", i, " ", j))
		if j%4 == 1 && i > 0 {
			key = fmt.Sprintf("k%03d-%02d", i-1, j)
		}
		if j == 7 {
			value = nil
		}
		out = append(out, seal(t, ws[(i+j)%len(ws)], "notes", key, crashBase+int64(i*100+j), value))
	}
	return out
}

const crashBatches = 30

// crashFill is how many records the rebuild scenario's collection holds,
// stored without an index as before replicas kept one.
const crashFill = 2000

func fillWithoutIndex(t testing.TB, d ds.Datastore) {
	ws := crashWriters(t)
	var puts []core.Record
	for i := range crashFill {
		v := seal(t, ws[i%len(ws)], "notes", fmt.Sprintf("old%05d", i*7919%crashFill), crashBase+int64(i), []byte(fmt.Sprint("old ", i)))
		puts = append(puts, core.Record{Key: v.Env.Key, Value: v.Data})
	}
	if err := core.NewRecordStore(d).Write(context.Background(), puts, nil); err != nil {
		t.Fatal(err)
	}
}

func openCrashStore(dir string) (core.Backend, ds.Batching, error) {
	b, err := pebblestore.Open(context.Background(), &pebblestore.Options{Path: dir, Sync: true})
	if err != nil {
		return nil, nil, err
	}
	return b, namespace.Wrap(b, ds.NewKey("/sync/notes")), nil
}

// crashChild runs scenario on the store in dir, in a child process.
func crashChild(p *crashtest.Parent, scenario, dir string) error {
	b, d, err := openCrashStore(dir)
	if err != nil {
		return err
	}
	rebuildChunk = 8 // many writes in the rebuild
	if scenario == "evict" {
		checkpointLog = 50 // a checkpoint every third Insert; the insert scenario writes the log alone
	}
	ctx := context.Background()
	r, err := Open(ctx, crashtest.Gated(d, p.Gate), crashSettings(scenario))
	if err != nil {
		return err
	}
	if scenario != "rebuild" {
		var tb testing.B
		ws := crashWriters(&tb)
		for i := range crashBatches {
			if _, err := r.Insert(ctx, "", crashBatch(&tb, ws, i)); err != nil {
				return err
			}
			p.Ack(i)
		}
	}
	p.Done()
	return b.Close()
}

// expected is what a replica holds after the first n Inserts of scenario,
// from a replica in memory that took the same.
func expected(t *testing.T, scenario string, n int) []Item {
	r := openOn(t, dssync.MutexWrap(ds.NewMapDatastore()), crashSettings(scenario))
	ws := crashWriters(t)
	for i := range n {
		insert(t, r, crashBatch(t, ws, i)...)
	}
	return r.Items()
}

// TestCrashKeepsTheIndexWithTheRecords kills the child at chosen writes
// of each scenario and checks the store after.
func TestCrashKeepsTheIndexWithTheRecords(t *testing.T) {
	for _, scenario := range []string{"insert", "evict", "rebuild"} {
		t.Run(scenario, func(t *testing.T) {
			for _, k := range []int{1, 2, 3, 5, 8, 13, 21, 1 << 30} {
				dir := filepath.Join(t.TempDir(), "db")
				if scenario == "rebuild" {
					b, d, err := openCrashStore(dir)
					if err != nil {
						t.Fatal(err)
					}
					fillWithoutIndex(t, d)
					if err := b.Close(); err != nil {
						t.Fatal(err)
					}
				}
				acks, killed := crashtest.RunUntilWrite(t, scenario, dir, k)
				b, d, err := openCrashStore(dir)
				if err != nil {
					t.Fatal(err)
				}
				r, err := Open(t.Context(), d, crashSettings(scenario))
				if err != nil {
					t.Fatalf("killed at write %d, reopening: %v", k, err)
				}
				if fp, n := fromRecords(t, d); fp != r.Fingerprint() || n != len(r.Items()) {
					t.Fatalf("killed at write %d: the index holds %d items, %x; the records %d, %x", k, len(r.Items()), r.Fingerprint(), n, fp)
				}
				switch scenario {
				case "rebuild":
					if len(r.Items()) != crashFill {
						t.Fatalf("killed at write %d of the rebuild: %d records held, want %d", k, len(r.Items()), crashFill)
					}
					if killed && r.rebuilt == "" {
						t.Fatalf("killed at write %d of the rebuild, the next Open trusted the index", k)
					}
				default:
					if r.rebuilt != "" {
						t.Fatalf("killed at write %d, the next Open rebuilt the index: %s", k, r.rebuilt)
					}
					got := r.Items()
					if !slices.Equal(got, expected(t, scenario, acks)) && !(killed && slices.Equal(got, expected(t, scenario, acks+1))) {
						t.Fatalf("killed at write %d after %d acknowledged Inserts: the replica holds %d items, neither those of %d nor %d Inserts", k, acks, len(got), acks, acks+1)
					}
				}
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				if !killed {
					break
				}
			}
		})
	}
}
