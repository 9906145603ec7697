//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// TestChatTerminal runs a chat on a pseudo-terminal, as a user would, next
// to a chat in line mode: the history comes before "ready"; a message that
// arrives while a line is typed is shown above it and the line stays as
// it was; the line sent shows once, as the room's line, and reaches the
// other chat; joins name the nick.
func TestChatTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program and runs two processes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := build(ctx, t, dir)
	a := start(t, bin, "alice", "--data-dir", filepath.Join(dir, "a"), "--nick", "alice", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--json")
	addr := strings.TrimPrefix(a.waitLog(ctx, t, "chat: listening on "), "chat: listening on ")
	a.waitLog(ctx, t, "chat: ready")
	a.say(t, "before bob came")
	a.waitMessage(ctx, t, "before bob came")

	b := startTerminal(t, bin, "--data-dir", filepath.Join(dir, "b"), "--nick", "bob", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--bootstrap", addr)
	lines := b.waitScreen(ctx, t, "the prompt after ready", func(lines []string) bool {
		return lines[len(lines)-1] == "bob> " && index(lines, "* ready") >= 0
	})
	if h, r := index(lines, "] alice: before bob came"), index(lines, "* ready, 1 message before this; you are bob"); h < 0 || h > r {
		t.Errorf("the history is not shown before ready:\n%s", strings.Join(lines, "\n"))
	}
	a.waitLog(ctx, t, "chat: joined: bob")

	b.typeKeys(t, "half a ")
	b.waitScreen(ctx, t, "the line being typed", func(lines []string) bool { return lines[len(lines)-1] == "bob> half a " })
	a.say(t, "hi bob")
	// A notice may come between, so the message is looked for above the
	// line being typed, on a line of its own.
	b.waitScreen(ctx, t, "alice's message above the line being typed", func(lines []string) bool {
		return lineMatching(lines, `^\[\d\d:\d\d:\d\d\] alice: hi bob$`) && lines[len(lines)-1] == "bob> half a "
	})
	b.typeKeys(t, "line\r")
	a.waitMessage(ctx, t, "half a line")
	lines = b.waitScreen(ctx, t, "the line sent", func(lines []string) bool {
		return lineMatching(lines, `^\[\d\d:\d\d:\d\d\] bob: half a line$`) && lines[len(lines)-1] == "bob> "
	})
	if n := count(lines, "half a"); n != 1 {
		t.Errorf("the line sent shows %d times:\n%s", n, strings.Join(lines, "\n"))
	}
	b.waitScreen(ctx, t, "alice's join", func(lines []string) bool { return index(lines, "* joined: alice") >= 0 })

	b.typeKeys(t, "\x04") // Ctrl-D: leave
	select {
	case err := <-b.done:
		b.done <- err
		if err != nil {
			t.Errorf("the chat on a terminal exited with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the chat on a terminal did not exit at Ctrl-D")
	}
	a.stop(ctx, t)
}

// lineMatching reports whether one of lines above the last matches the
// regular expression re.
func lineMatching(lines []string, re string) bool {
	r := regexp.MustCompile(re)
	return slices.ContainsFunc(lines[:len(lines)-1], r.MatchString)
}

// index is the index of the first of lines that contains s, or -1.
func index(lines []string, s string) int {
	for i, l := range lines {
		if strings.Contains(l, s) {
			return i
		}
	}
	return -1
}

// count is how many of lines contain s.
func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// terminal is a chat process on a pseudo-terminal, and the screen it drew.
type terminal struct {
	ptm  *os.File
	done chan error

	mu      sync.Mutex
	screen  screen
	changed chan struct{} // a token when the screen changed
}

// startTerminal runs the chat binary on a new pseudo-terminal of 100
// columns; the test's cleanup kills it if it still runs.
func startTerminal(t *testing.T, bin string, args ...string) *terminal {
	t.Helper()
	ptm, pts := openPTY(t)
	term := &terminal{ptm: ptm, done: make(chan error, 1), screen: screen{width: 100}, changed: make(chan struct{}, 1)}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true} // the terminal is its controlling terminal
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			term.mu.Lock()
			term.screen.write(buf[:n])
			term.mu.Unlock()
			select {
			case term.changed <- struct{}{}:
			default:
			}
			if err != nil { // EIO once the process has ended
				return
			}
		}
	}()
	go func() { term.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-term.done
		ptm.Close()
		<-read
		if t.Failed() {
			t.Logf("the terminal's screen:\n%s", strings.Join(term.lines(), "\n"))
		}
	})
	return term
}

// openPTY opens a pseudo-terminal's two sides (Linux's /dev/ptmx).
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptm.Close() })
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal("unlocking the pseudo-terminal:", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal("naming the pseudo-terminal:", err)
	}
	pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal("sizing the pseudo-terminal:", err)
	}
	return ptm, pts
}

// typeKeys types keys on the terminal.
func (term *terminal) typeKeys(t *testing.T, keys string) {
	t.Helper()
	if _, err := term.ptm.WriteString(keys); err != nil {
		t.Fatalf("typing %q: %v", keys, err)
	}
}

// lines is the screen, without the empty lines below the cursor's.
func (term *terminal) lines() []string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.screen.lines()
}

// waitScreen waits until the screen's lines satisfy ok, and returns them.
func (term *terminal) waitScreen(ctx context.Context, t *testing.T, what string, ok func([]string) bool) []string {
	t.Helper()
	for {
		if lines := term.lines(); ok(lines) {
			return lines
		}
		select {
		case <-term.changed:
		case err := <-term.done:
			term.done <- err
			if lines := term.lines(); ok(lines) {
				return lines
			}
			t.Fatalf("the chat ended (%v) before the screen showed %s", err, what)
		case <-ctx.Done():
			t.Fatalf("the screen did not show %s in time", what)
		}
	}
}

// screen is what a terminal shows: the few controls golang.org/x/term
// writes (carriage return, line feed, cursor moves, clearing) applied to
// an unbounded grid of lines, which never scrolls.
type screen struct {
	width    int
	rows     [][]rune
	row, col int
	pending  []byte // an incomplete escape sequence or character
}

func (s *screen) write(p []byte) {
	b := append(s.pending, p...)
	s.pending = nil
	for len(b) > 0 {
		switch c := b[0]; {
		case c == '\r':
			s.col = 0
		case c == '\n':
			s.row++
		case c == 0x1b:
			n := s.escape(b)
			if n == 0 {
				s.pending = bytes.Clone(b)
				return
			}
			b = b[n:]
			continue
		case c < 0x20:
			// A bell or another control: nothing to show.
		default:
			if !utf8.FullRune(b) {
				s.pending = bytes.Clone(b)
				return
			}
			r, n := utf8.DecodeRune(b)
			s.put(r)
			b = b[n:]
			continue
		}
		b = b[1:]
	}
}

// escape applies the escape sequence that begins b and returns its
// length, or 0 when b ends before it does.
func (s *screen) escape(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	if b[1] != '[' {
		return 2
	}
	for i := 2; i < len(b); i++ {
		if b[i] < 0x40 || b[i] > 0x7e {
			continue
		}
		n := 1
		if arg, err := strconv.Atoi(string(b[2:i])); err == nil {
			n = arg
		}
		switch b[i] {
		case 'A':
			s.row = max(0, s.row-n)
		case 'B':
			s.row += n
		case 'C':
			s.col = min(s.width-1, s.col+n)
		case 'D':
			s.col = max(0, s.col-n)
		case 'K':
			if s.row < len(s.rows) && s.col < len(s.rows[s.row]) {
				s.rows[s.row] = s.rows[s.row][:s.col]
			}
		case 'J':
			s.rows = nil
		case 'H':
			s.row, s.col = 0, 0
		}
		return i + 1
	}
	return 0
}

func (s *screen) put(r rune) {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	line := s.rows[s.row]
	for len(line) <= s.col {
		line = append(line, ' ')
	}
	line[s.col] = r
	s.rows[s.row] = line
	s.col = min(s.width-1, s.col+1)
}

func (s *screen) lines() []string {
	out := make([]string, s.row+1)
	for i := range out {
		if i < len(s.rows) {
			out[i] = string(s.rows[i])
		}
	}
	return out
}
