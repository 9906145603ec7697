package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/internal/control"
)

// follower is a netabase sync list --follow running in-process, whose
// standard output can be held: while held, it takes no line, so the
// daemon's stream backs up as behind a slow terminal.
type follower struct {
	out    *lineWriter
	errOut *lineWriter
	done   chan int
	stopF  context.CancelFunc

	mu   sync.Mutex
	held chan struct{} // closed to let output through; nil when not held
}

func (f *follower) Write(p []byte) (int, error) {
	f.mu.Lock()
	held := f.held
	f.mu.Unlock()
	if held != nil {
		<-held
	}
	return f.out.Write(p)
}

// hold stops output until the returned function is called.
func (f *follower) hold() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.held = ch
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.held = nil
		f.mu.Unlock()
		close(ch)
	}
}

// follow runs netabase sync list name --follow with args against the
// daemon of dir, and returns once it has printed what the replica holds.
func follow(t *testing.T, ctx context.Context, dir, name string, args ...string) *follower {
	t.Helper()
	f := &follower{out: &lineWriter{lines: make(chan string, 100)}, errOut: &lineWriter{lines: make(chan string, 10)}, done: make(chan int, 1)}
	ctx, f.stopF = context.WithCancel(ctx)
	e := &env{stdout: f, stderr: f.errOut, registry: all.Registry()}
	go func() {
		f.done <- execute(ctx, e, append([]string{"sync", "list", name, "--follow", "--data-dir", dir}, args...))
	}()
	t.Cleanup(f.stopF)
	select {
	case line := <-f.errOut.lines:
		if line != "Following "+name+"; stop with Ctrl-C." {
			t.Fatalf("sync list --follow began with %q", line)
		}
	case code := <-f.done:
		t.Fatalf("sync list --follow exited with %d: %s", code, f.errOut.String())
	case <-ctx.Done():
		t.Fatal("sync list --follow did not start")
	}
	return f
}

// until polls f's output until ok holds of it; a failure shows the end
// of the output.
func (f *follower) until(t *testing.T, ctx context.Context, what string, ok func(string) bool) string {
	t.Helper()
	tail := func(s string) string { return s[max(0, len(s)-4000):] }
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		out := f.out.String()
		if ok(out) {
			return out
		}
		select {
		case code := <-f.done:
			t.Fatalf("sync list --follow exited with %d before %s; its output ends:\n%s%s", code, what, tail(out), f.errOut.String())
		case <-ctx.Done():
			t.Fatalf("sync list --follow did not print %s; its output ends:\n%s%s", what, tail(out), f.errOut.String())
		case <-tick.C:
		}
	}
}

// stop interrupts f, which must then exit 0.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	f.stopF()
	if code := <-f.done; code != 0 {
		t.Errorf("sync list --follow exited with %d: %s", code, f.errOut.String())
	}
}

// TestSyncFollow: sync list --follow prints what the replica holds, then
// a value written and a removal made while it follows, in order; netabase
// events shows them too, as sync.stored events. A follow ends, with exit
// status 1, when the node leaves the collection.
func TestSyncFollow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://")
	d.cli(t, ctx, "sync", "join", "notes")
	d.cli(t, ctx, "sync", "put", "notes", "shopping", "milk")
	events := streamEvents(t, ctx, d.dir)
	f := follow(t, ctx, d.dir, "notes")
	d.cli(t, ctx, "sync", "put", "notes", "todo", "write the tests")
	d.cli(t, ctx, "sync", "rm", "notes", "shopping")
	out := f.until(t, ctx, "the removal", func(s string) bool { return strings.Contains(s, "<removed>") })
	f.stop(t)
	want := []string{
		"WRITER KEY WRITTEN VALUE",
		"<peer> shopping <time> milk",
		"<peer> todo <time> write the tests",
		"<peer> shopping <time> <removed>",
	}
	lines := strings.Split(strings.TrimSpace(normalise(out)), "\n")
	for i := range lines {
		lines[i] = strings.Join(strings.Fields(lines[i]), " ")
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("sync list --follow printed:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	events.expect(t, ctx,
		`"type":"sync.stored"`, `"key":"todo"`, `"collection":"notes"`, `"deleted":false`,
		`"type":"sync.stored"`, `"key":"shopping"`, `"collection":"notes"`, `"deleted":true`)
	events.stop(t)
	// Leaving the collection ends a follow, which says so.
	f = follow(t, ctx, d.dir, "notes")
	d.cli(t, ctx, "sync", "leave", "notes")
	select {
	case code := <-f.done:
		if want := "following notes ended: the node left collection notes, or is stopping; nothing more follows"; code != 1 || !strings.Contains(f.errOut.String(), want) {
			t.Errorf("a follow of a collection left exited with %d, saying %q; want 1 and %q", code, f.errOut.String(), want)
		}
	case <-ctx.Done():
		t.Fatal("a follow of a collection left did not end")
	}
}

// TestSyncFollowBurst: a burst of records written while sync list
// --follow cannot keep up (its output is held, far past the daemon's
// buffers) is printed completely: each key once, with its value. The
// daemon's watch misses changes meanwhile; the follow mode says so and
// reads the replica again.
func TestSyncFollowBurst(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://")
	d.cli(t, ctx, "sync", "join", "log")
	f := follow(t, ctx, d.dir, "log", "--json")
	release := f.hold()
	c := control.NewClient(filepath.Join(d.dir, config.SocketFile))
	defer c.Close()
	const n = 5000
	value := strings.Repeat("v", 200)
	for i := range n {
		if _, err := c.SyncPut(ctx, "log", fmt.Sprintf("k%04d", i), []byte(fmt.Sprintf("%s %d", value, i))); err != nil {
			release()
			t.Fatal(err)
		}
	}
	release()
	printed := make(map[string]int)
	missed := uint64(0)
	f.until(t, ctx, fmt.Sprintf("all %d records", n), func(out string) bool {
		clear(printed)
		missed = 0
		for line := range strings.Lines(out) {
			var ch control.SyncChange
			if err := json.Unmarshal([]byte(line), &ch); err != nil {
				t.Fatalf("a bad line %q: %v", line, err)
			}
			switch ch.Type {
			case control.FollowRecord:
				var i int
				if _, err := fmt.Sscanf(ch.Key, "k%04d", &i); err != nil || string(ch.Value) != fmt.Sprintf("%s %d", value, i) || ch.Deleted {
					t.Fatalf("a wrong record: %+v", ch.SyncRecord)
				}
				printed[ch.Key]++
			case control.FollowMissed:
				missed += ch.Count
			}
		}
		return len(printed) == n
	})
	f.stop(t)
	for k, times := range printed {
		if times != 1 {
			t.Errorf("%s printed %d times", k, times)
		}
	}
	if missed == 0 || !strings.Contains(f.errOut.String(), "changes skipped; what differs follows.") {
		t.Errorf("the follow stream missed no changes (%d), so the burst tested nothing; stderr:\n%s", missed, f.errOut.String())
	}
}

// TestSyncStatusConnected: sync status marks a peer the node reconciled
// with as connected while it is, and not once it has stopped.
func TestSyncStatusConnected(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a := startDaemon(t, ctx, "--storage", "memory://")
	b := startDaemon(t, ctx, "--storage", "memory://")
	a.cli(t, ctx, "sync", "join", "notes")
	b.cli(t, ctx, "sync", "join", "notes")
	b.cli(t, ctx, "sync", "put", "notes", "shopping", "milk")
	a.cli(t, ctx, "connect", b.addr)
	waitFor(t, ctx, func() string { return a.cli(t, ctx, "sync", "list", "notes") }, "milk")
	status := func() control.SyncStatus {
		var st control.SyncStatus
		if err := json.Unmarshal([]byte(a.cli(t, ctx, "sync", "status", "notes", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); len(st.Peers) != 1 || !st.Peers[0].Connected {
		t.Errorf("a's status while b is connected: %+v", st.Peers)
	}
	if out := a.cli(t, ctx, "sync", "status", "notes"); !strings.Contains(out, "CONNECTED") || !strings.Contains(normalise(out), "<peer>  yes ") {
		t.Errorf("a's status while b is connected:\n%s", out)
	}
	b.shutdown(t)
	waitFor(t, ctx, func() string {
		if st := status(); len(st.Peers) == 1 && !st.Peers[0].Connected && st.Peers[0].Sessions > 0 {
			return "b is listed, not connected"
		}
		return ""
	}, "b is listed, not connected")
	if out := a.cli(t, ctx, "sync", "status", "notes"); !strings.Contains(normalise(out), "<peer>  no ") {
		t.Errorf("a's status after b stopped:\n%s", out)
	}
}
