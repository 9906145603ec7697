package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/core/config"
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
	for _, name := range []string{config.FileName, config.IdentityFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("the refused first start left %s (%v)", name, err)
		}
	}
}
