package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netabase/netabase/internal/control"
	"github.com/netabase/netabase/internal/testkit/tmpfs"
)

// TestDaemonRestartOnFullDisk: a daemon started on a full disk says the
// disk is full and exits non-zero within seconds, without a flood of log.
func TestDaemonRestartOnFullDisk(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	mnt := tmpfs.Mount(t, "8m")
	dir := filepath.Join(mnt, "node")
	args := []string{"daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}
	first := startProcess(t, args...)
	waitReady(t, ctx, first.stdout.lines, first.exited, first.output)
	first.stop(t)
	fill(t, filepath.Join(mnt, "ballast"))

	start := time.Now()
	again := startProcess(t, args...)
	again.stopped = true // it is to stop by itself
	select {
	case code := <-again.exited:
		out := again.output()
		if code == 0 || !strings.Contains(out, "disk") || !strings.Contains(out, "is full") || !strings.Contains(out, "free space") {
			t.Errorf("on a full disk the daemon exited with %d, saying:\n%s\nwant non-zero, saying the disk is full and what to do", code, out)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("it took %v to exit", took)
		}
		if len(out) > 16<<10 {
			t.Errorf("it wrote %d bytes of output", len(out))
		}
	case <-time.After(30 * time.Second):
		_ = again.cmd.Process.Kill()
		<-again.exited
		t.Fatalf("the daemon did not exit on a full disk within 30s:\n%s", again.output())
	}
}

// fill writes path until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// TestDaemonStopsWhileStarting: SIGINT stops a daemon that is still
// checking its backend.
func TestDaemonStopsWhileStarting(t *testing.T) {
	t.Setenv(certDirEnv, t.TempDir()) // no certificate: the suite runs
	p := startProcess(t, "daemon", "--data-dir", shortDir(t), "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	p.stopped = true // stopped here
	for line := range p.stdout.lines {
		if strings.HasPrefix(line, "Admission:  checking") {
			break
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("the daemon did not stop within 10s of SIGINT:\n%s", p.output())
	}
}

// TestSyncOnFullDisk: a write to a synced collection fails on a full disk;
// the collection does not pass for an empty one then: listing it and its
// status exit 1 saying the disk is full, and stats says it is unavailable;
// the status of every collection shows it unavailable, with the error, and
// the other collection as usual, and exits 1.
func TestSyncOnFullDisk(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	mnt := tmpfs.Mount(t, "16m")
	d := startDaemonIn(t, ctx, filepath.Join(mnt, "node"))
	d.cli(t, ctx, "sync", "join", "chat")
	d.cli(t, ctx, "sync", "put", "chat", "greeting", "hello")
	d.cli(t, ctx, "sync", "join", "other")
	fill(t, filepath.Join(mnt, "ballast"))
	run := func(args ...string) (int, string, string) {
		return runIn(ctx, nil, append(args, "--data-dir", d.dir)...)
	}
	if code, out, errOut := run("sync", "put", "chat", "large", strings.Repeat("x", 256<<10)); code != 1 || !strings.Contains(errOut, "is full") {
		t.Fatalf("a put on a full disk: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"sync", "list", "chat"}, {"sync", "status", "chat"}} {
		if code, out, errOut := run(args...); code != 1 || !strings.Contains(errOut, "is full") {
			t.Errorf("netabase %s on a full disk: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	code, out, errOut := run("sync", "status")
	if code != 1 || !strings.Contains(errOut, "collection chat: ") || !strings.Contains(errOut, "is full") ||
		!regexp.MustCompile(`(?m)^chat\n  unavailable  .*is full`).MatchString(out) || !regexp.MustCompile(`(?m)^other\n  writers `).MatchString(out) {
		t.Errorf("netabase sync status on a full disk: exit %d\n%s%s\nwant exit 1, chat unavailable with its error, other as usual", code, out, errOut)
	}
	code, out, errOut = run("sync", "status", "--json")
	var all []control.SyncStatus
	if err := json.Unmarshal([]byte(out), &all); code != 1 || err != nil || len(all) != 2 || all[0].Name != "chat" || !strings.Contains(all[0].Error, "is full") ||
		all[1].Name != "other" || all[1].Error != "" || all[1].Peers == nil || !strings.Contains(errOut, "is full") {
		t.Errorf("netabase sync status --json on a full disk: exit %d, %v\n%s%s\nwant exit 1, chat with its error, other as usual", code, err, out, errOut)
	}
	if code, out, errOut := run("stats"); code != 0 || !strings.Contains(out, "chat: unavailable: ") || !strings.Contains(out, "is full") {
		t.Errorf("stats on a full disk: exit %d\n%s%s", code, out, errOut)
	}
}
