package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
)

// heldDriver is the memory backend under the scheme "held", whose Describe
// (the admission gate's first step) waits until release is closed, so a
// daemon using it stays starting for as long as a test needs.
type heldDriver struct {
	core.Driver
	entered chan struct{} // receives when Describe starts waiting
	release chan struct{}
}

func (d *heldDriver) About() core.About {
	a := d.Driver.About()
	a.Scheme = "held"
	return a
}

func (d *heldDriver) Describe(ctx context.Context, u *url.URL) (core.Info, error) {
	select {
	case d.entered <- struct{}{}:
	default:
	}
	select {
	case <-d.release:
	case <-ctx.Done():
		return core.Info{}, ctx.Err()
	}
	return d.Driver.Describe(ctx, u)
}

// TestClientWhileStarting: a client command sent while the daemon is still
// starting fails at once saying so, with exit status 1; a second daemon is
// refused meanwhile; once the daemon is ready, commands work.
func TestClientWhileStarting(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	held := &heldDriver{Driver: memstore.Driver(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	reg := all.Registry()
	if err := reg.Register(held); err != nil {
		t.Fatal(err)
	}
	d := &daemon{
		dir:    shortDir(t),
		out:    &lineWriter{lines: make(chan string, 100)},
		stderr: &lineWriter{lines: make(chan string, 100)},
		code:   make(chan int, 1),
	}
	dctx, stop := context.WithCancel(ctx)
	d.stop = stop
	e := &env{stdout: d.out, stderr: d.stderr, registry: reg}
	go func() {
		d.code <- execute(dctx, e, []string{"daemon", "--data-dir", d.dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--storage", "held://"})
	}()
	t.Cleanup(func() { d.shutdown(t) })
	select {
	case <-held.entered:
	case code := <-d.code:
		t.Fatalf("the daemon exited with %d:\n%s%s", code, d.out.String(), d.stderr.String())
	case <-ctx.Done():
		t.Fatal("the daemon never checked its backend")
	}

	for _, args := range [][]string{{"peers"}, {"id", "--json"}, {"get", "greeting"}} {
		code, out, errOut := runIn(ctx, nil, append(args, "--data-dir", d.dir, "--timeout", "20s")...)
		if want := "netabase: the daemon is starting: checking the storage backend"; code != 1 || out != "" || !strings.HasPrefix(errOut, want) {
			t.Errorf("netabase %s while the daemon starts: exit %d, stdout %q, stderr %q; want exit 1 and %q",
				strings.Join(args, " "), code, out, errOut, want)
		}
	}
	code, _, errOut := runIn(ctx, nil, "daemon", "--data-dir", d.dir, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	if code != 1 || !strings.Contains(errOut, "already running") {
		t.Errorf("a second daemon while the first starts: exit %d, %s", code, errOut)
	}

	// With --wait a client waits for the daemon to be ready.
	waited := make(chan string, 1)
	go func() {
		code, out, errOut := runIn(ctx, nil, "id", "--json", "--wait", "30s", "--data-dir", d.dir)
		waited <- fmt.Sprintf("exit %d %s%s", code, out, errOut)
	}()
	time.Sleep(300 * time.Millisecond)
	close(held.release)
	if got := <-waited; !strings.HasPrefix(got, "exit 0 {") {
		t.Errorf("id --wait while the daemon starts: %s", got)
	}
	waitReady(t, ctx, d.out.lines, d.code, d.out.String)
	if out := d.cli(t, ctx, "peers", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("peers when ready: %q", out)
	}
}

// TestClientWaitsForNoDaemon: --wait gives up when no daemon comes, saying
// how long it waited.
func TestClientWaitsForNoDaemon(t *testing.T) {
	start := time.Now()
	code, _, errOut := runIn(t.Context(), nil, "peers", "--wait", "300ms", "--data-dir", shortDir(t))
	if took := time.Since(start); code != 1 || took < 300*time.Millisecond || !strings.Contains(errOut, "waited 300ms for the daemon: no netabase daemon is running") {
		t.Errorf("exit %d after %v, %q", code, took, errOut)
	}
}
