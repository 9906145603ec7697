//go:build !(js && wasm)

// The crash tests start the test binary again as a child process and kill
// it, which a js/wasm program cannot do; they also need the on-disk backends.

package model_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/internal/testkit/crashtest"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

// The crash tests run a collection's work in a child process (this test
// binary started again, with internal/testkit/crashtest) and kill it with SIGKILL
// in the middle: during a series of PutMany calls, during the index
// rebuild Open does when a struct gains an index, and during the migration
// Open does when the schema version rises. The child's store is wrapped so
// that every write it sends to the engine (a Put, a Delete, a batch or
// transaction commit) first says so on a pipe and waits for the parent's
// go-ahead: the parent counts the writes and kills the child at the one it
// chooses, and the child reports each acknowledged PutMany on the same
// pipe. After the kill the parent opens the store again and checks that
// Collection.Check passes, that the interrupted work was finished, and
// that no acknowledged write was lost.

func TestMain(m *testing.M) {
	crashtest.Main(m, crashChild)
}

// crashItem is the collection's struct before the rebuild and at schema
// version 1.
type crashItem struct {
	ID    uint64 `netabase:"key"`
	Owner string `netabase:"index"`
	Score int64
	Body  string
}

// crashIndexed is crashItem with Score indexed too: opening it at the same
// version rebuilds the indexes.
type crashIndexed struct {
	ID    uint64 `netabase:"key"`
	Owner string `netabase:"index"`
	Score int64  `netabase:"index"`
	Body  string
}

// crashV2 is the struct of schema version 2, which migrateCrash makes from
// a crashItem.
type crashV2 struct {
	ID    uint64 `netabase:"key"`
	Owner string `netabase:"index"`
	Score int64  `netabase:"index"`
	Body  string
	From  uint32
}

func migrateCrash(old crashItem) (crashV2, error) {
	return crashV2{ID: old.ID, Owner: strings.ToUpper(old.Owner), Score: -old.Score, Body: old.Body, From: 1}, nil
}

func openMigrated(ctx context.Context, s *model.Store) (*model.Collection[uint64, crashV2], error) {
	return model.Open[uint64, crashV2](ctx, s, "crash", model.Version(2), model.Migrate(1, migrateCrash))
}

// crashFill is how many values the rebuild and migration scenarios start
// with: more than one chunk of Open's work (1,000 writes a batch).
const crashFill = 1500

func fillItems() []crashItem {
	items := make([]crashItem, crashFill)
	for i := range items {
		items[i] = crashItem{ID: uint64(i) * 7, Owner: fmt.Sprintf("owner-%d", i%37), Score: int64(i*31%crashFill) - crashFill/2, Body: fmt.Sprint("body ", i)}
	}
	return items
}

// putManyBatch is the i-th PutMany of the PutMany scenario: 100 new values,
// and the 100 values of the batch before with their indexed field changed.
func putManyBatch(i int) []crashItem {
	var batch []crashItem
	for j := range 100 {
		batch = append(batch, crashItem{ID: uint64(i*100 + j), Owner: fmt.Sprintf("o-%d", (i+j)%7), Score: int64(j), Body: fmt.Sprint("batch ", i)})
	}
	if i > 0 {
		for j := range 100 {
			batch = append(batch, crashItem{ID: uint64((i-1)*100 + j), Owner: fmt.Sprintf("r-%d", i), Score: int64(j), Body: fmt.Sprint("rewritten by batch ", i)})
		}
	}
	return batch
}

// afterBatches is what the PutMany scenario's collection holds after its
// first n batches.
func afterBatches(n int) map[uint64]crashItem {
	m := make(map[uint64]crashItem)
	for i := range n {
		for _, it := range putManyBatch(i) {
			m[it.ID] = it
		}
	}
	return m
}

// putManyBatches bounds the PutMany scenario, which the parent kills long
// before.
const putManyBatches = 40

// crashChild runs scenario on the store at rawURL, in a child process.
func crashChild(p *crashtest.Parent, scenario, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all.Drivers(), func(d core.Driver) bool { return d.About().Scheme == u.Scheme })
	if i < 0 {
		return fmt.Errorf("no driver for %s", rawURL)
	}
	b, err := core.OpenURL(context.Background(), all.Drivers()[i], u)
	if err != nil {
		return err
	}
	ctx := context.Background()
	s := model.NewLocal(crashtest.Gated(b, p.Gate))
	switch scenario {
	case "putmany":
		c, err := model.Open[uint64, crashItem](ctx, s, "crash")
		if err != nil {
			return err
		}
		for i := range putManyBatches {
			if err := c.PutMany(ctx, putManyBatch(i)); err != nil {
				return err
			}
			p.Ack(i)
		}
	case "reindex":
		if _, err := model.Open[uint64, crashIndexed](ctx, s, "crash"); err != nil {
			return err
		}
	case "migrate":
		if _, err := openMigrated(ctx, s); err != nil {
			return err
		}
	default:
		return fmt.Errorf("no scenario %q", scenario)
	}
	p.Done()
	_ = s.Close()
	return b.Close()
}

// durableDrivers are the in-tree backends that keep data on disk across a
// crash.
func durableDrivers() []core.Driver {
	return slices.DeleteFunc(all.Drivers(), func(d core.Driver) bool { return !d.About().Capabilities.Durable || !d.About().Dir })
}

func storeURL(d core.Driver, dir string) string {
	return (&url.URL{Scheme: d.About().Scheme, Path: dir, RawQuery: "sync=true"}).String()
}

// reopen opens the store at rawURL in this process, as a new program
// would after the crash; it is closed at the end of the test unless closed
// before.
func reopen(t *testing.T, d core.Driver, rawURL string) core.Backend {
	t.Helper()
	b := storetest.Open(t, d, rawURL)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// contents reads every value of c by key, checking the collection first.
func contents[T any](t *testing.T, c *model.Collection[uint64, T], key func(T) uint64) map[uint64]T {
	t.Helper()
	if err := c.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := make(map[uint64]T)
	for v, err := range c.Scan(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		m[key(v)] = v
	}
	return m
}

// TestCrashPutMany kills a child in the middle of a series of PutMany
// calls on a store opened with sync=true, at the commit of the batch after
// the k-th acknowledged one: either before the commit reaches the store or
// racing it. Every acknowledged batch must be there, the one in flight
// entirely or not at all, and the indexes exact.
func TestCrashPutMany(t *testing.T) {
	for _, d := range durableDrivers() {
		t.Run(d.About().Scheme, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				acked int
				race  bool // let the commit go and kill at once
			}{{0, true}, {2, false}, {5, true}} {
				rawURL := storeURL(d, filepath.Join(t.TempDir(), "db"))
				c := crashtest.Start(t, "putmany", rawURL)
				killed := false
				for line := c.Next(t); line != "" && !killed; line = c.Next(t) {
					switch {
					case line == "done":
						t.Fatalf("the child finished %d batches before the kill", c.Acks)
					case line == "write" && c.Acks == tc.acked && c.Writes > 1:
						// The commit of batch tc.acked (the first write
						// is the schema, when Open stores it).
						if tc.race {
							c.Proceed(t)
						}
						c.Kill()
						killed = true
					case line == "write":
						c.Proceed(t)
					}
				}
				// Acknowledgements the child wrote before it died.
				for line := c.Next(t); line != ""; line = c.Next(t) {
				}
				s := model.NewLocal(reopen(t, d, rawURL))
				coll, err := model.Open[uint64, crashItem](t.Context(), s, "crash")
				if err != nil {
					t.Fatal(err)
				}
				got := contents(t, coll, func(it crashItem) uint64 { return it.ID })
				switch {
				case maps.Equal(got, afterBatches(c.Acks)):
				case maps.Equal(got, afterBatches(c.Acks+1)) && tc.race && c.Acks == tc.acked:
					// The commit let through landed; the child died
					// before it acknowledged it.
				default:
					t.Fatalf("killed at the commit after %d acknowledged batches (race %v): the collection holds %d values, neither the %d of the acknowledged batches nor the %d with the next one",
						c.Acks, tc.race, len(got), len(afterBatches(c.Acks)), len(afterBatches(c.Acks+1)))
				}
				if !tc.race && c.Acks != tc.acked {
					t.Fatalf("%d batches were acknowledged, want %d", c.Acks, tc.acked)
				}
			}
		})
	}
}

// TestCrashReindex kills a child at each write of the index rebuild that
// opening crashItem's collection as crashIndexed starts. Opening the
// collection again, as either struct, must finish the rebuild with every
// value intact.
func TestCrashReindex(t *testing.T) {
	for _, d := range durableDrivers() {
		t.Run(d.About().Scheme, func(t *testing.T) {
			t.Parallel()
			template := fillTemplate(t, d)
			want := make(map[uint64]crashIndexed)
			for _, it := range fillItems() {
				want[it.ID] = crashIndexed(it)
			}
			for k := 1; ; k++ {
				dir := copyStore(t, template)
				if _, killed := crashtest.RunUntilWrite(t, "reindex", storeURL(d, dir), k); !killed {
					if k < 4 {
						t.Fatalf("the rebuild made only %d writes", k-1)
					}
					t.Logf("killed the rebuild at each of its %d writes", k-1)
					break
				}
				// As the old struct, and then the new one.
				b := reopen(t, d, storeURL(d, dir))
				s := model.NewLocal(b)
				old, err := model.Open[uint64, crashItem](t.Context(), s, "crash")
				if err != nil {
					t.Fatalf("killed at write %d: reopening as the old struct: %v", k, err)
				}
				if got := contents(t, old, func(it crashItem) uint64 { return it.ID }); len(got) != crashFill {
					t.Fatalf("killed at write %d: %d values as the old struct, want %d", k, len(got), crashFill)
				}
				_ = s.Close()
				s = model.NewLocal(b)
				c, err := model.Open[uint64, crashIndexed](t.Context(), s, "crash")
				if err != nil {
					t.Fatalf("killed at write %d: reopening: %v", k, err)
				}
				if got := contents(t, c, func(it crashIndexed) uint64 { return it.ID }); !maps.Equal(got, want) {
					t.Fatalf("killed at write %d: the collection holds %d values, not the %d stored", k, len(got), len(want))
				}
				byScore, err := model.IndexOf[int64](c, "Score")
				if err != nil {
					t.Fatal(err)
				}
				if n, err := byScore.Count(t.Context(), 0); err != nil || n != 1 {
					t.Fatalf("killed at write %d: the rebuilt Score index counts %d, %v values of 0; want 1", k, n, err)
				}
				_ = s.Close()
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestCrashMigrate kills a child at each write of the migration that
// opening crashItem's collection at version 2 starts. Opening it again
// must finish the migration: every value rewritten at version 2 (which a
// Store without the migration then reads) and the indexes exact.
func TestCrashMigrate(t *testing.T) {
	for _, d := range durableDrivers() {
		t.Run(d.About().Scheme, func(t *testing.T) {
			t.Parallel()
			template := fillTemplate(t, d)
			want := make(map[uint64]crashV2)
			for _, it := range fillItems() {
				v, _ := migrateCrash(it)
				want[it.ID] = v
			}
			for k := 1; ; k++ {
				dir := copyStore(t, template)
				if _, killed := crashtest.RunUntilWrite(t, "migrate", storeURL(d, dir), k); !killed {
					if k < 4 {
						t.Fatalf("the migration made only %d writes", k-1)
					}
					t.Logf("killed the migration at each of its %d writes", k-1)
					break
				}
				b := reopen(t, d, storeURL(d, dir))
				s := model.NewLocal(b)
				c, err := openMigrated(t.Context(), s)
				if err != nil {
					t.Fatalf("killed at write %d: reopening: %v", k, err)
				}
				if got := contents(t, c, func(v crashV2) uint64 { return v.ID }); !maps.Equal(got, want) {
					t.Fatalf("killed at write %d: the collection holds %d values, not the %d migrated", k, len(got), len(want))
				}
				_ = s.Close()
				// Without the migration, only values rewritten at
				// version 2 read.
				s = model.NewLocal(b)
				plain, err := model.Open[uint64, crashV2](t.Context(), s, "crash", model.Version(2))
				if err != nil {
					t.Fatalf("killed at write %d: reopening without the migration: %v", k, err)
				}
				if got := contents(t, plain, func(v crashV2) uint64 { return v.ID }); !maps.Equal(got, want) {
					t.Fatalf("killed at write %d: without the migration the collection holds %d values, not the %d migrated", k, len(got), len(want))
				}
				_ = s.Close()
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// fillTemplate stores crashFill values of crashItem at version 1 in a new
// store of d and closes it; each kill point starts from a copy.
func fillTemplate(t *testing.T, d core.Driver) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "template")
	b := storetest.Open(t, d, storeURL(d, dir))
	s := model.NewLocal(b)
	c, err := model.Open[uint64, crashItem](t.Context(), s, "crash")
	if err == nil {
		err = c.PutMany(t.Context(), fillItems())
	}
	_ = s.Close()
	if err = errors.Join(err, b.Close()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyStore copies the closed store in dir to a new directory.
func copyStore(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "db")
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}
