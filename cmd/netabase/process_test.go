package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netabase/netabase/core/config"
)

// process is a netabase command line running as its own process: this
// test binary, told by the environment to be the CLI (see TestMain).
type process struct {
	cmd     *exec.Cmd
	stdout  *lineWriter
	stderr  *lineWriter
	exited  chan int
	stopped bool
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{
		cmd:    exec.Command(os.Args[0], args...),
		stdout: &lineWriter{lines: make(chan string, 100)},
		stderr: &lineWriter{lines: make(chan string, 100)},
		exited: make(chan int, 1),
	}
	p.cmd.Env = append(os.Environ(), asCLI+"=1")
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		p.exited <- code
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *process) output() string { return p.stdout.String() + p.stderr.String() }

// stop interrupts the process and waits for it, killing it if it does not
// stop within 20 seconds.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case code := <-p.exited:
		if code != 0 {
			t.Errorf("%s exited with %d:\n%s", p.cmd.Args[1:], code, p.output())
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s did not stop on SIGINT within 20s", p.cmd.Args[1:])
	}
}

// runProcess runs the CLI as a process to completion and returns its
// standard output, failing the test unless it exits 0.
func runProcess(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCLI+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("netabase %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestTwoDaemonProcesses runs two netabase daemon processes, with their
// default storage (pebble in the data directory), the second joining
// through the first, and drives put, get, provide and findprovs through
// CLI processes.
func TestTwoDaemonProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dirA, dirB := shortDir(t), shortDir(t)
	daemonArgs := func(dir string) []string {
		return []string{"daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}
	}
	a := startProcess(t, daemonArgs(dirA)...)
	addrA := waitReady(t, ctx, a.stdout.lines, a.exited, a.output)
	b := startProcess(t, append(daemonArgs(dirB), "--bootstrap", addrA)...)
	waitReady(t, ctx, b.stdout.lines, b.exited, b.output)

	// b bootstraps at start in the background; these are waited for, and
	// put a and b in each other's routing tables.
	runProcess(t, ctx, "bootstrap", "--data-dir", dirB)
	runProcess(t, ctx, "bootstrap", "--data-dir", dirA)
	// What KEY=$(netabase put ...) captures: the key alone.
	put := runProcess(t, ctx, "put", "--data-dir", dirA, "note", "written by a")
	key, rest, _ := strings.Cut(put, "\n")
	if !strings.HasPrefix(key, "/netabase/12D3KooW") || rest != "" {
		t.Fatalf("put printed:\n%s", put)
	}
	if got := runProcess(t, ctx, "get", "--data-dir", dirB, key); got != "written by a" {
		t.Errorf("b got %q", got)
	}
	provide := runProcess(t, ctx, "provide", "--data-dir", dirA, "a's dataset")
	cid, _, _ := strings.Cut(provide, "\n")
	found := runProcess(t, ctx, "findprovs", "--data-dir", dirB, "a's dataset")
	idA := strings.TrimSuffix(strings.TrimPrefix(addrA[strings.LastIndex(addrA, "/p2p/"):], "/p2p/"), "\n")
	if lines := strings.Split(strings.TrimSpace(found), "\n"); len(lines) != 2 || lines[0] != cid || !strings.HasPrefix(lines[1], idA+" /ip4/127.0.0.1/tcp/") {
		t.Errorf("findprovs printed:\n%s\nwant %s and a's ID %s", found, cid, idA)
	}
	a.stop(t)
	b.stop(t)
	for _, p := range []*process{a, b} {
		if !strings.HasSuffix(p.stdout.String(), "Stopped.\n") {
			t.Errorf("a daemon's output ends:\n%s", p.output())
		}
	}
}

// TestDaemonSIGTERM: a daemon told to stop by SIGTERM, as service managers
// do, stops as cleanly as on Ctrl-C: exit status 0, its socket removed.
func TestDaemonSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := shortDir(t)
	p := startProcess(t, "daemon", "--data-dir", dir, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	waitReady(t, ctx, p.stdout.lines, p.exited, p.output)
	p.stopped = true // stopped here, not by the cleanup's SIGINT
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-p.exited:
		if code != 0 || !strings.HasSuffix(p.stdout.String(), "Stopping...\nStopped.\n") {
			t.Errorf("after SIGTERM: exit %d\n%s", code, p.output())
		}
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("the daemon did not stop on SIGTERM:\n%s", p.output())
	}
	if _, err := os.Stat(filepath.Join(dir, config.SocketFile)); !os.IsNotExist(err) {
		t.Errorf("the socket outlived the daemon: %v", err)
	}
}
