// Package storetest holds the tests every on-disk backend runs beyond the
// conformance suite: refusal of directories that are locked, corrupt,
// unwritable or another engine's, with nothing in them changed. Backend
// tests call these from their own _test.go files.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/conformance/crashdriver"
	"github.com/netabase/netabase/core"
)

// Open opens rawURL with d, through core, failing the test on error.
func Open(t testing.TB, d core.Driver, rawURL string) core.Backend {
	t.Helper()
	b, err := OpenURL(t.Context(), d, rawURL)
	if err != nil {
		t.Fatalf("opening %s: %v", rawURL, err)
	}
	return b
}

// OpenURL opens rawURL with d, through core.
func OpenURL(ctx context.Context, d core.Driver, rawURL string) (core.Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return core.OpenURL(ctx, d, u)
}

// Locked checks that while another process has the store at rawURL open,
// opening it fails with an error naming dir and saying it is in use, and
// that the data is intact once the other process lets go. (The files are
// not compared: the other process's engine may rewrite its own files in the
// background while it holds the store.)
func Locked(t *testing.T, d core.Driver, rawURL, dir string) {
	t.Helper()
	b := Open(t, d, rawURL)
	if err := b.Put(t.Context(), ds.NewKey("/locked"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	other, err := OpenURL(t.Context(), crashdriver.New(d), rawURL)
	if err != nil {
		t.Fatalf("opening the store in a child process: %v", err)
	}
	_, err = OpenURL(t.Context(), d, rawURL)
	if err == nil {
		t.Fatalf("opening a store another process holds open succeeded")
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("the error for a locked store does not name the path and the problem: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Fatalf("closing the store in the child process: %v", err)
	}
	b = Open(t, d, rawURL)
	defer b.Close()
	if _, err := b.Get(t.Context(), ds.NewKey("/locked")); err != nil {
		t.Fatalf("after the other process let go: %v", err)
	}
}

// Refused checks that open (a driver alone, with [OpenURL], or a registry
// that knows the other engines a directory may hold, with its Open) fails
// for rawURL with an error containing every one of want, and that nothing
// under dir changed.
func Refused(t *testing.T, open func(context.Context, string) (core.Backend, error), rawURL, dir string, want ...string) {
	t.Helper()
	before := Snapshot(t, dir)
	b, err := open(t.Context(), rawURL)
	if err == nil {
		_ = b.Close()
		t.Fatalf("opening %s succeeded; want a refusal", rawURL)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("opening %s: the error does not say %q: %v", rawURL, w, err)
		}
	}
	if diff := before.Diff(Snapshot(t, dir)); diff != "" {
		t.Fatalf("a refused open of %s changed files: %s", rawURL, diff)
	}
}

// Fill creates the store at rawURL and writes some data into it.
func Fill(t *testing.T, d core.Driver, rawURL string) {
	t.Helper()
	b := Open(t, d, rawURL)
	for i := range 200 {
		k := ds.NewKey(fmt.Sprintf("/fill/%08d", i))
		if err := b.Put(t.Context(), k, bytes.Repeat([]byte(k.String()), 8)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// Unwritable returns a path under which nothing can be created, even by
// root: a read-only directory for an ordinary user, /sys for root.
func Unwritable(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := filepath.Join(t.TempDir(), "readonly")
		if err := os.Mkdir(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		return filepath.Join(dir, "store")
	}
	p := "/sys/netabase-storetest"
	if err := os.Mkdir(p, 0o700); err == nil {
		_ = os.Remove(p)
		t.Fatalf("running as root and %s is writable: this machine has no unwritable location to test with", p)
	}
	return p
}

// Snap is the content of a directory tree: every file's path and checksum.
type Snap map[string]string

// Snapshot records the content of the tree under dir.
func Snapshot(t testing.TB, dir string) Snap {
	t.Helper()
	s := Snap{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if e.IsDir() {
			s[rel+"/"] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return s
}

// Diff describes how s and o differ, or returns "" when they are equal.
func (s Snap) Diff(o Snap) string {
	var diffs []string
	for p, h := range s {
		switch oh, ok := o[p]; {
		case !ok:
			diffs = append(diffs, "removed "+p)
		case oh != h:
			diffs = append(diffs, "changed "+p)
		}
	}
	for p := range o {
		if _, ok := s[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, ", ")
}
