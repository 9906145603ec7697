package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dstest "github.com/ipfs/go-datastore/test"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/conformance/conformancetest"
	"github.com/netabase/netabase/conformance/crashdriver"
	"github.com/netabase/netabase/core"
)

// Disk runs every test an on-disk backend owes beyond its URL table: the
// conformance suite in process with and without sync=true, and once more
// through a crash driver when the backend declares Durable, so that the
// suite's durable case kills a child process holding the store;
// go-datastore's own suite as an outside check; and refusals of a store
// locked by another process, a corrupt store (damaged by corrupt) and
// unusable paths. The caller's TestMain must hand children to
// crashdriver.ServeChild.
func Disk(t *testing.T, d core.Driver, corrupt func(t *testing.T, dir string)) {
	about := d.About()
	open := func(ctx context.Context, rawURL string) (core.Backend, error) { return OpenURL(ctx, d, rawURL) }
	rawURL := func(dir, query string) string {
		return (&url.URL{Scheme: about.Scheme, Path: dir, RawQuery: query}).String()
	}
	t.Run("Conformance", func(t *testing.T) {
		u := &url.URL{Scheme: about.Scheme, Path: "/unused"}
		conformancetest.Run(t, conformance.URLHarness(d, u, about.Info(), t.TempDir()))
	})
	t.Run("ConformanceSync", func(t *testing.T) {
		u := &url.URL{Scheme: about.Scheme, Path: "/unused", RawQuery: "sync=true"}
		conformancetest.Run(t, conformance.URLHarness(d, u, about.Info(), t.TempDir()))
	})
	t.Run("DatastoreSuite", func(t *testing.T) {
		// The suite checks semantics, not durability, and writes thousands
		// of keys: on memory-backed storage LevelDB's fsync per write is free.
		b := Open(t, d, rawURL(filepath.Join(memoryDir(t), "db"), ""))
		defer b.Close()
		dstest.SubtestAll(t, b)
	})
	if about.Capabilities.Durable {
		t.Run("ConformanceCrash", func(t *testing.T) {
			cd := crashdriver.New(d)
			u := &url.URL{Scheme: about.Scheme, Path: "/unused"}
			conformancetest.Run(t, conformance.URLHarness(cd, u, cd.About().Info(), t.TempDir()))
		})
		t.Run("CrashSyncWrites", func(t *testing.T) { crashSyncWrites(t, d, rawURL(filepath.Join(t.TempDir(), "db"), "sync=true")) })
	}
	t.Run("Locked", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "db")
		Locked(t, d, rawURL(dir, ""), dir)
	})
	t.Run("Corrupt", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "db")
		Fill(t, d, rawURL(dir, ""))
		corrupt(t, dir)
		Refused(t, open, rawURL(dir, ""), dir, dir, "damaged")
	})
	t.Run("UnusablePaths", func(t *testing.T) {
		tmp := t.TempDir()
		file := filepath.Join(tmp, "file")
		if err := os.WriteFile(file, []byte("not a store"), 0o600); err != nil {
			t.Fatal(err)
		}
		notEmpty := filepath.Join(tmp, "home")
		if err := os.MkdirAll(filepath.Join(notEmpty, "Documents"), 0o700); err != nil {
			t.Fatal(err)
		}
		unwritable := Unwritable(t)
		for _, tc := range []struct{ path, want string }{
			{file, "not a directory"},
			{filepath.Join(file, "db"), "not a directory"},
			{notEmpty, "not empty"},
			{unwritable, unwritable},
		} {
			Refused(t, open, rawURL(tc.path, ""), tmp, tc.path, tc.want)
		}
	})
}

// CorruptFiles returns a corrupt function for Disk that overwrites every
// file of dir matching pattern with garbage, failing if none matches.
func CorruptFiles(pattern string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s in %s to corrupt: %v", pattern, dir, err)
		}
		for _, f := range files {
			if err := os.WriteFile(f, []byte("this is not what the engine wrote"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// memoryDir returns a temporary directory on memory-backed storage when the
// machine has it (/dev/shm), else an ordinary one. It is removed after t.
func memoryDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "netabase-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// URLCase is one row of a backend's URL table: a URL and the options it
// parses into, or nil when it must be refused with core.ErrInvalidURL.
type URLCase[O comparable] struct {
	URL  string
	Want *O
}

// URLs checks a backend's URL parser against a table.
func URLs[O comparable](t *testing.T, parse func(*url.URL) (*O, error), cases []URLCase[O]) {
	t.Helper()
	for _, tc := range cases {
		u, err := url.Parse(tc.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parse(u)
		if tc.Want == nil {
			if !errors.Is(err, core.ErrInvalidURL) {
				t.Errorf("parsing %s = %+v, %v; want an error matching ErrInvalidURL", tc.URL, got, err)
			}
			continue
		}
		if err != nil || *got != *tc.Want {
			t.Errorf("parsing %s = %+v, %v; want %+v", tc.URL, got, err, *tc.Want)
		}
	}
}

// Bench runs the conformance benchmarks on scratch stores of d made from
// rawURL's options.
func Bench(b *testing.B, d core.Driver, rawURL string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		b.Fatal(err)
	}
	conformancetest.RunBenchmarks(b, conformance.URLHarness(d, u, d.About().Info(), b.TempDir()))
}

// crashSyncWrites checks what sync=true promises, which the suite's durable
// case (writes a Sync covered) does not: every acknowledged write, single
// or batched, survives a SIGKILL of the process holding the store with no
// Sync called.
func crashSyncWrites(t *testing.T, d core.Driver, rawURL string) {
	ctx := t.Context()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cd := crashdriver.New(d)
	b, err := cd.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	const singles, batched = 100, 100
	for i := range singles {
		if err := b.Put(ctx, ds.NewKey(fmt.Sprint("single/", i)), []byte(fmt.Sprint("value ", i))); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := b.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range batched {
		if err := batch.Put(ctx, ds.NewKey(fmt.Sprint("batched/", i)), []byte(fmt.Sprint("value ", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cd.Crash(ctx, b); err != nil {
		t.Fatal(err)
	}
	again, err := cd.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	lost := 0
	for _, group := range []struct {
		prefix string
		n      int
	}{{"single/", singles}, {"batched/", batched}} {
		for i := range group.n {
			v, err := again.Get(ctx, ds.NewKey(fmt.Sprint(group.prefix, i)))
			if err != nil || string(v) != fmt.Sprint("value ", i) {
				lost++
			}
		}
	}
	if lost > 0 {
		t.Fatalf("with sync=true, %d of %d acknowledged writes were lost in a crash", lost, singles+batched)
	}
}
