package host_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// TestErrorsCrossTheWire checks that the plugin's errors keep their
// meaning on the host's side, on the raw store, before core sees them.
func TestErrorsCrossTheWire(t *testing.T) {
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	u, err := url.Parse(pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "db")}}))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := d.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := raw.Get(ctx, ds.NewKey("/missing")); err != ds.ErrNotFound {
		t.Errorf("Get of a missing key = %v; want ds.ErrNotFound itself (the DHT compares with ==)", err)
	}
	if _, err := raw.GetSize(ctx, ds.NewKey("/missing")); err != ds.ErrNotFound {
		t.Errorf("GetSize of a missing key = %v; want ds.ErrNotFound itself", err)
	}
	if err := raw.Put(ctx, ds.RawKey("/a/../b"), []byte("v")); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("Put of an unclean key: %v; want an error matching core.ErrInvalidKey", err)
	}
	if err := raw.Put(ctx, ds.NewKey("/big"), make([]byte, core.MaxValueSize+1)); !errors.Is(err, core.ErrTooLarge) {
		t.Errorf("Put of a value over the limit: %v; want an error matching core.ErrTooLarge", err)
	}
	full := bytes.Repeat([]byte("0123456789abcdef"), core.MaxValueSize/16)
	if err := raw.Put(ctx, ds.NewKey("/full"), full); err != nil {
		t.Fatalf("Put of a %d-byte value (the limit): %v", len(full), err)
	}
	if got, err := raw.Get(ctx, ds.NewKey("/full")); err != nil || !bytes.Equal(got, full) {
		t.Fatalf("Get of a %d-byte value: %d bytes, %v", len(full), len(got), err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Get(ctx, ds.NewKey("/full")); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Get after Close: %v; want an error matching core.ErrClosed", err)
	}
}

// TestScratch checks that a scratch URL keeps the binary, checksum and
// other options and moves every path option into the scratch directory.
func TestScratch(t *testing.T) {
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	real := filepath.Join(t.TempDir(), "real")
	u, err := url.Parse(pluginURL(t, testplugins.Pebble, url.Values{"path": {real}, "sync": {"true"}}))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	su, destroy, err := d.Scratch(t.Context(), u, root)
	if err != nil {
		t.Fatal(err)
	}
	q := su.Query()
	dir := filepath.Dir(q.Get("path"))
	if su.Path != u.Path || q.Get("sha256") != u.Query().Get("sha256") || q.Get("sync") != "true" || q.Get("path") != filepath.Join(dir, "path") || filepath.Dir(dir) != root {
		t.Fatalf("Scratch(%s, %s) = %s", u, root, su)
	}
	b, err := core.OpenURL(t.Context(), d, su)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), ds.NewKey("/k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(real); !os.IsNotExist(err) {
		t.Errorf("a scratch store touched the URL's own path %s: %v", real, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "path")); err != nil {
		t.Errorf("the scratch store is not in the scratch directory: %v", err)
	}
	if err := destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after destroy the scratch directory %s is still there (%v)", dir, err)
	}
}

// TestInfo checks what Describe reports: the plugin's own name, version
// and capabilities, and the binary's checksum as the build.
func TestInfo(t *testing.T) {
	d := host.NewDriver(host.Config{})
	u, err := url.Parse(pluginURL(t, testplugins.Bbolt, url.Values{"path": {"/var/lib/x.db"}}))
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.Describe(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	want := core.Info{Name: "bbolt", Version: "v0.1.0 (bbolt v1.5.0)", Build: "sha256:" + u.Query().Get("sha256"),
		Capabilities: core.Capabilities{Persistent: true, Durable: true}}
	if info != want {
		t.Errorf("Describe = %+v, want %+v", info, want)
	}
	if _, err := os.Stat("/var/lib/x.db"); !os.IsNotExist(err) {
		t.Errorf("Describe opened the store: %v", err)
	}
}

// TestRestartAfterFailedRestarts replaces the plugin's binary and kills
// the process: restarts fail on the checksum, calls fail fast saying so,
// and once the binary is restored the next restart brings the store back
// with its data.
func TestRestartAfterFailedRestarts(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "plugin")
	orig, err := os.ReadFile(bins[testplugins.Pebble])
	if err != nil {
		t.Fatal(err)
	}
	install := func(b []byte) {
		tmp := bin + ".new"
		if err := os.WriteFile(tmp, b, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil {
			t.Fatal(err)
		}
	}
	install(orig)
	sum, err := host.Checksum(bin)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan host.Event, 1024)
	d := host.NewWatchedDriver(host.Config{
		Logger:  sdktest.TestLogger(t),
		Backoff: host.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	}, func(e host.Event) { events <- e })
	u, err := url.Parse(host.FormatURL(bin, sum, url.Values{"path": {filepath.Join(t.TempDir(), "db")}}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.OpenURL(t.Context(), d, u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	up := await(t, events, host.Up)
	ctx := t.Context()
	// What the node sees: the store's states through core.
	states := make(chan core.BackendState, 1024)
	go func() {
		for st := range b.(core.StateReporter).StateChanges(ctx) {
			states <- st
		}
	}()
	if err := b.Put(ctx, ds.NewKey("/kept"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatal(err)
	}

	install([]byte("#!/bin/sh\necho impostor\n"))
	if err := syscall.Kill(up.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Wait for a restart that failed on the checksum.
	for {
		e := await(t, events, host.Down)
		var ce *host.ChecksumError
		if errors.As(e.Err, &ce) {
			break
		}
	}
	_, err = b.Get(ctx, ds.NewKey("/kept"))
	if !errors.Is(err, host.ErrPluginDown) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Get while the plugin cannot restart: %v; want ErrPluginDown saying why", err)
	}
	install(orig)
	again := await(t, events, host.Up)
	if again.PID == up.PID || again.Attempt < 2 {
		t.Errorf("the host reports %+v after the failed restarts", again)
	}
	if v, err := b.Get(ctx, ds.NewKey("/kept")); err != nil || string(v) != "v" {
		t.Fatalf("after the restart Get = %q, %v", v, err)
	}
	var seen []string
	for st := range states {
		seen = append(seen, st.State.String())
		if st.State == core.StateUp {
			break
		}
		if st.State == core.StateDown && !strings.Contains(st.Detail, fmt.Sprint(up.PID)) && !strings.Contains(st.Detail, "checksum") {
			t.Errorf("down, saying %q; want the process or the checksum named", st.Detail)
		}
	}
	if len(seen) < 3 || seen[0] != "down" || seen[1] != "restarting" {
		t.Errorf("the store reported %q, want down, restarting, ..., up", seen)
	}
}

// await returns the next event with state want, skipping others.
func await(t *testing.T, events <-chan host.Event, want host.State) host.Event {
	t.Helper()
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for {
		select {
		case e := <-events:
			if e.State == want {
				return e
			}
		case <-timeout.C:
			t.Fatalf("no %s event within a minute", want)
		}
	}
}
