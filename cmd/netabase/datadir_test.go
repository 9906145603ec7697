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

// TestDataDirBusy: while another netabase holds the data directory, daemon
// and init refuse it saying so, and create nothing there.
func TestDataDirBusy(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dir := shortDir(t)
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "another netabase is initialising or running in the data directory " + dir
	for _, args := range [][]string{
		{"daemon", "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"},
		{"init", "--storage", "memory://"},
	} {
		code, _, errOut := runIn(ctx, nil, append(args, "--data-dir", dir)...)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("%s on a held data directory: exit %d, %s; want exit 1 and %q", args[0], code, errOut, want)
		}
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("%s on a held data directory left %v (%v)", args[0], entries, err)
		}
	}
	unlock()
	if code, _, errOut := runIn(ctx, nil, "init", "--data-dir", dir, "--storage", "memory://"); code != 0 {
		t.Errorf("init once the data directory is free: exit %d, %s", code, errOut)
	}
}

// TestConfigAppears: a configuration file that appears while a node is
// being created (another netabase created it) is reported as such.
func TestConfigAppears(t *testing.T) {
	dir := shortDir(t)
	if _, err := initNode(dir, config.Default(dir), nil); err != nil {
		t.Fatal(err)
	}
	_, err := initNode(dir, config.Default(dir), nil)
	if want := "another netabase is initialising or running in the data directory " + dir; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("second initNode: %v; want %q", err, want)
	}
}

// TestTwoDaemonsAtOnce starts two daemon processes on one fresh data
// directory at the same moment: one runs, the other says another netabase
// has the data directory, and the first keeps its socket.
func TestTwoDaemonsAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := filepath.Join(shortDir(t), "node")
	args := []string{"daemon", "--data-dir", dir, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}
	a, b := startProcess(t, args...), startProcess(t, args...)
	// Wait until one is ready and the other has exited.
	ready, exited := map[*process]bool{}, map[*process]int{}
	for len(ready)+len(exited) < 2 {
		select {
		case line := <-a.stdout.lines:
			if line == "Ready. Stop with Ctrl-C." {
				ready[a] = true
			}
		case line := <-b.stdout.lines:
			if line == "Ready. Stop with Ctrl-C." {
				ready[b] = true
			}
		case code := <-a.exited:
			a.stopped, exited[a] = true, code
		case code := <-b.exited:
			b.stopped, exited[b] = true, code
		case <-ctx.Done():
			t.Fatalf("the daemons did not settle in time:\n%s\n%s", a.output(), b.output())
		}
	}
	if len(ready) != 1 || len(exited) != 1 {
		t.Fatalf("want one daemon ready and one refused:\n%s\n%s", a.output(), b.output())
	}
	for p, code := range exited {
		if want := "another netabase is initialising or running in the data directory " + dir; code != 1 || !strings.Contains(p.stderr.String(), want) {
			t.Errorf("the daemon that lost: exit %d\n%s\nwant %q", code, p.output(), want)
		}
	}
	runProcess(t, ctx, "id", "--data-dir", dir)
}
