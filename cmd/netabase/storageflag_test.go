package main

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
)

// TestDaemonStorageFlag: --storage at first start goes into the new
// configuration, as with init; at later starts a different --storage is
// used for that run, said on stderr, and the configuration is kept.
func TestDaemonStorageFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := shortDir(t)
	store := "leveldb://" + filepath.Join(dir, "ldb")
	d := startDaemonIn(t, ctx, dir, "--storage", store)
	d.cli(t, ctx, "put", "kept", "across restarts")
	d.shutdown(t)
	c, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil || c.Storage != store {
		t.Fatalf("the new configuration has storage %q (%v); want %q", c.Storage, err, store)
	}

	d = startDaemonIn(t, ctx, dir)
	if got := d.cli(t, ctx, "get", "kept"); got != "across restarts" {
		t.Errorf("after a plain restart the record is %q", got)
	}
	d.shutdown(t)

	d = startDaemonIn(t, ctx, dir, "--storage", "memory://")
	d.shutdown(t)
	want := "using --storage memory:// for this run; the configuration " + filepath.Join(dir, config.FileName) + " says " + store
	if !strings.Contains(d.stderr.String(), want) {
		t.Errorf("an overriding --storage; stderr:\n%s\nwant %s", d.stderr.String(), want)
	}
	if c, err := config.Load(filepath.Join(dir, config.FileName)); err != nil || c.Storage != store {
		t.Errorf("the override rewrote the configuration: storage %q, %v", c.Storage, err)
	}
}

// TestDaemonBadStorageFirstStart: a storage URL its backend refuses stops
// a first start before anything is created or checked.
func TestDaemonBadStorageFirstStart(t *testing.T) {
	dir := filepath.Join(shortDir(t), "n")
	code, out, errOut := runIn(t.Context(), nil, "daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--storage", "pebble://relative")
	if code != 2 || !strings.Contains(errOut, "--storage: invalid storage URL") {
		t.Errorf("exit %d, %s", code, errOut)
	}
	if strings.Contains(out, "checking") {
		t.Errorf("the daemon said it was checking a URL it could not parse:\n%s", out)
	}
	for _, name := range []string{config.FileName, node.IdentityFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("the refused first start left %s (%v)", name, err)
		}
	}
}

// TestDaemonFailedFirstStartLeavesNoNode: a first start that fails (its
// --storage a store another daemon has open, or its --listen an address
// of no interface) leaves no node behind: no configuration, identity key,
// certificate or store, and no data directory it created; so the corrected
// command starts the node with the storage it gives. A data directory that
// existed, empty or holding other files, is left as it was, and so is an
// identity key that was there.
func TestDaemonFailedFirstStartLeavesNoNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	other := startDaemon(t, ctx) // pebble in its data directory, held open
	inUse := "pebble://" + filepath.Join(other.dir, "store")
	listing := func(dir string) map[string]string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			got[e.Name()] = string(b)
		}
		return got
	}
	// A first start that fails on its storage, or (args) later.
	fail := func(dir string, args ...string) string {
		t.Helper()
		if args == nil {
			args = []string{"--storage", inUse, "--listen", "/ip4/127.0.0.1/tcp/0"}
		}
		code, out, errOut := runIn(ctx, nil, append([]string{"daemon", "--data-dir", dir, "--no-mdns"}, args...)...)
		if code != 1 || strings.Contains(out, "Ready") {
			t.Fatalf("a first start that fails: exit %d\n%s%s", code, out, errOut)
		}
		return errOut
	}

	// A data directory this start creates is gone again.
	dir := filepath.Join(shortDir(t), "n")
	if errOut := fail(dir); !strings.Contains(errOut, "the first start did not complete, so the node it was creating in "+dir+" is removed (config.toml, identity.key,") {
		t.Errorf("the failed first start did not say it removed the node:\n%s", errOut)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the failed first start left its data directory (%v): %v", err, slices.Sorted(maps.Keys(listing(dir))))
	}
	// The corrected command just works, and its --storage is the node's.
	d := startDaemonIn(t, ctx, dir, "--storage", "memory://")
	d.shutdown(t)
	if strings.Contains(d.stderr.String(), "for this run") {
		t.Errorf("the corrected first start took its --storage for this run only:\n%s", d.stderr.String())
	}
	if c, err := config.Load(filepath.Join(dir, config.FileName)); err != nil || c.Storage != "memory://" {
		t.Errorf("the node's configuration has storage %q (%v); want memory://", c.Storage, err)
	}

	// Data directories that existed: one empty, where a start on an
	// address no interface has fails once its store is open in the data
	// directory; one with a file of the user's and an identity key
	// restored from a backup.
	empty, held := shortDir(t), shortDir(t)
	if err := os.WriteFile(filepath.Join(held, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := node.LoadIdentity(held, true); err != nil {
		t.Fatal(err)
	}
	for dir, args := range map[string][]string{empty: {"--listen", "/ip4/203.0.113.1/tcp/0"}, held: nil} {
		before := listing(dir)
		fail(dir, args...)
		if after := listing(dir); !maps.Equal(after, before) {
			t.Errorf("the failed first start changed %s: it held %v, now %v", dir, slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
		}
	}
}

// TestFailedFirstStartRemovesWhatItCreated: a failed first start removes
// what it wrote (the configuration, the identity key, and what appeared
// while it started the node) and keeps what another hand put in the data
// directory meanwhile, though it was not there when the start began.
func TestFailedFirstStartRemovesWhatItCreated(t *testing.T) {
	dir := shortDir(t)
	fresh, err := newFreshNode(dir, false)
	if err != nil || fresh == nil {
		t.Fatalf("newFreshNode of an empty directory: %v, %v", fresh, err)
	}
	if _, err := initNode(dir, config.Default(dir), fresh); err != nil {
		t.Fatal(err)
	}
	// Another hand writes a certificate cache and a store of its own.
	for _, name := range []string{core.CertificateFile, "other"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not the start's"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	errStart := errors.New("the node did not start")
	err = fresh.around([]string{core.CertificateFile, "store", "absent"}, func() error {
		if err := os.Mkdir(filepath.Join(dir, "store"), 0o700); err != nil {
			t.Fatal(err)
		}
		return errStart
	})
	if !errors.Is(err, errStart) {
		t.Fatalf("around returned %v, want the step's error", err)
	}
	var stderr strings.Builder
	fresh.remove(&env{stderr: &stderr})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{core.CertificateFile, "other"}; !slices.Equal(left, want) {
		t.Errorf("after the failed start the data directory holds %v, want %v", left, want)
	}
	if want := "is removed (config.toml, identity.key, store)"; !strings.Contains(stderr.String(), want) {
		t.Errorf("the failed start said %q, want %q", stderr.String(), want)
	}
}
