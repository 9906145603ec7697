package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// line is a message as chat --json prints it.
type line struct {
	Writer string `json:"writer"`
	Key    string `json:"key"`
	Clock  string `json:"clock"`
	Nick   string `json:"nick"`
	Text   string `json:"text"`
	Late   bool   `json:"late"`
}

// proc is a running chat process.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   chan line   // messages printed on stdout
	log   chan string // lines printed on stderr
	done  chan error  // the exit status, once

	mu     sync.Mutex
	stderr strings.Builder // all of stderr, for a failing test's log
}

// TestChat runs three chat processes on loopback: they talk, one stops,
// the others talk on, and the one that stopped comes back to the whole
// history, in order.
func TestChat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program and runs three processes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 80*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := build(ctx, t, dir)
	loopback := []string{"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--json"}
	a := start(t, bin, "alice", append([]string{"--data-dir", filepath.Join(dir, "a"), "--nick", "alice"}, loopback...)...)
	addr := strings.TrimPrefix(a.waitLog(ctx, t, "chat: listening on "), "chat: listening on ")
	a.waitLog(ctx, t, "chat: ready")
	joining := append(loopback, "--bootstrap", addr)
	carolArgs := append([]string{"--data-dir", filepath.Join(dir, "c"), "--nick", "carol"}, joining...)
	b := start(t, bin, "bob", append([]string{"--data-dir", filepath.Join(dir, "b"), "--nick", "bob"}, joining...)...)
	c := start(t, bin, "carol", carolArgs...)
	b.waitLog(ctx, t, "chat: ready")
	c.waitLog(ctx, t, "chat: ready")
	a.waitLog(ctx, t, "chat: joined:")
	a.waitLog(ctx, t, "chat: joined:")

	// Each message is said after its writer saw the one before, so the
	// clocks order them the same way everywhere.
	var said []string
	say := func(p *proc, text string, seenBy ...*proc) {
		t.Helper()
		p.say(t, text)
		said = append(said, text)
		for _, q := range seenBy {
			q.waitMessage(ctx, t, text)
		}
	}
	say(a, "hello from alice", b, c)
	say(b, "hi alice", a, c)
	say(c, "bye for now", a, b)

	c.stop(ctx, t)
	say(a, "while carol was away", b)
	say(b, "she will catch up", a)
	say(a, "welcome back, carol", b)

	c = start(t, bin, "carol again", carolArgs...)
	var got []string
	for len(got) < len(said) {
		m := c.next(ctx, t)
		if m.Late {
			t.Errorf("carol printed %q as late", m.Text)
		}
		got = append(got, m.Text)
	}
	if !slices.Equal(got, said) {
		t.Fatalf("carol came back to\n%q\nwant\n%q", got, said)
	}
	for _, p := range []*proc{a, b, c} {
		p.stop(ctx, t)
	}
}

// build builds the chat program in dir.
func build(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "chat")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building chat: %v\n%s", err, out)
	}
	return bin
}

// start runs the chat binary; the test's cleanup kills it if it still runs.
func start(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: make(chan line, 100), log: make(chan string, 100), done: make(chan error, 1)}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		defer close(p.out)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			var m line
			if err := json.Unmarshal(s.Bytes(), &m); err != nil {
				m = line{Text: "not JSON: " + s.Text()}
			}
			p.out <- m
		}
	})
	readers.Go(func() {
		defer close(p.log)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(s.Text() + "\n")
			p.mu.Unlock()
			p.log <- s.Text()
		}
	})
	go func() {
		readers.Wait() // the pipes must be read to the end before Wait
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		go drain(p.out)
		go drain(p.log)
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s's stderr:\n%s", p.name, p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

func drain[T any](ch <-chan T) {
	for range ch {
	}
}

func (p *proc) say(t *testing.T, text string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, text+"\n"); err != nil {
		t.Fatalf("%s: writing %q: %v", p.name, text, err)
	}
}

// waitLog waits for a line on p's stderr that starts with prefix.
func (p *proc) waitLog(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-p.log:
			if !ok {
				t.Fatalf("%s ended before printing %q", p.name, prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-ctx.Done():
			t.Fatalf("%s did not print %q in time", p.name, prefix)
		}
	}
}

// next returns the next message p prints.
func (p *proc) next(ctx context.Context, t *testing.T) line {
	t.Helper()
	select {
	case m, ok := <-p.out:
		if ok {
			return m
		}
		t.Fatalf("%s ended", p.name)
	case <-ctx.Done():
		t.Fatalf("%s printed no message in time", p.name)
	}
	return line{}
}

// waitMessage waits until p prints the message text.
func (p *proc) waitMessage(ctx context.Context, t *testing.T, text string) {
	t.Helper()
	for p.next(ctx, t).Text != text {
	}
}

// stop closes p's input and waits for it to exit cleanly.
func (p *proc) stop(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := p.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	go drain(p.out)
	go drain(p.log)
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("%s exited with %v", p.name, err)
		}
	case <-ctx.Done():
		t.Fatalf("%s did not exit at the end of its input", p.name)
	}
}
