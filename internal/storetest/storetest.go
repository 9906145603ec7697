// Package storetest holds the tests every on-disk backend runs beyond the
// conformance suite: crash durability with a SIGKILLed child process, and
// refusal of directories that are locked, corrupt, unwritable or another
// engine's, with nothing in them changed. Backend tests call these from
// their own _test.go files.
package storetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
)

// childEnv carries the child process's role and store URL.
const childEnv = "NETABASE_STORETEST_CHILD"

// Open opens rawURL with d, through core, failing the test on error.
func Open(t testing.TB, d core.Driver, rawURL string) core.Backend {
	t.Helper()
	b, err := OpenURL(t.Context(), d, rawURL)
	if err != nil {
		t.Fatalf("opening %s: %v", rawURL, err)
	}
	return b
}

// OpenURL opens rawURL with d, through core.
func OpenURL(ctx context.Context, d core.Driver, rawURL string) (core.Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return core.OpenURL(ctx, d, u)
}

// IsChild reports whether this test process is a child started by Crash or
// Locked. A backend's TestMain calls RunChild when it is:
//
//	func TestMain(m *testing.M) {
//		if storetest.IsChild() {
//			storetest.RunChild(pebblestore.Driver())
//		}
//		os.Exit(m.Run())
//	}
func IsChild() bool { return os.Getenv(childEnv) != "" }

// RunChild plays the child's role and exits.
func RunChild(d core.Driver) {
	role, rawURL, _ := strings.Cut(os.Getenv(childEnv), " ")
	var err error
	switch role {
	case "crash-sync", "crash-each":
		err = crashChild(d, rawURL, role == "crash-each")
	case "lock":
		err = lockChild(d, rawURL)
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func startChild(t *testing.T, role, rawURL string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role+" "+rawURL)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(Deadline, func() { _ = cmd.Process.Kill() })
	t.Cleanup(func() {
		watchdog.Stop()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, stdin, bufio.NewScanner(stdout)
}

// crashValue is the value the crash child writes under index i.
func crashValue(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("value %08d;", i)), 8)
}

func crashKey(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/crash/%08d", i)) }

// crashChild writes forever, alternating single puts and batches. With
// each, every write is acknowledged as it returns (the URL asks for
// sync=true); otherwise writes are acknowledged in groups after Sync.
func crashChild(d core.Driver, rawURL string, each bool) error {
	ctx := context.Background()
	b, err := OpenURL(ctx, d, rawURL)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	ack := func(i int) error {
		fmt.Fprintf(out, "ack %d\n", i)
		return out.Flush()
	}
	for i := 0; ; {
		if (i/20)%2 == 0 {
			if err := b.Put(ctx, crashKey(i), crashValue(i)); err != nil {
				return err
			}
			i++
			if each {
				if err := ack(i - 1); err != nil {
					return err
				}
			}
		} else {
			batch, err := b.Batch(ctx)
			if err != nil {
				return err
			}
			for range 5 {
				if err := batch.Put(ctx, crashKey(i), crashValue(i)); err != nil {
					return err
				}
				i++
			}
			if err := batch.Commit(ctx); err != nil {
				return err
			}
			if each {
				if err := ack(i - 1); err != nil {
					return err
				}
			}
		}
		if !each && i%10 == 0 {
			if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
				return err
			}
			if err := ack(i - 1); err != nil {
				return err
			}
		}
	}
}

// Crash starts a child that writes to rawURL and acknowledges writes (after
// Sync, or one by one when eachWrite is set and the URL has sync=true), kills
// it with SIGKILL in the middle of its writes, and checks on reopen that
// every acknowledged write is there with its value.
func Crash(t *testing.T, d core.Driver, rawURL string, eachWrite bool) {
	t.Helper()
	role := "crash-sync"
	if eachWrite {
		role = "crash-each"
	}
	cmd, _, lines := startChild(t, role, rawURL)
	const wantAcks = 400
	acked, n := -1, 0
	for n < wantAcks && lines.Scan() {
		i, err := parseAck(lines.Text())
		if err != nil {
			t.Fatal(err)
		}
		acked, n = i, n+1
	}
	if n < wantAcks {
		t.Fatalf("the child stopped after %d acknowledgements: %v", n, lines.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Acknowledgements printed before the kill still count.
	for lines.Scan() {
		i, err := parseAck(lines.Text())
		if err != nil {
			t.Fatal(err)
		}
		acked = i
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, not by SIGKILL", err)
	}

	b := Open(t, d, rawURL)
	defer b.Close()
	var missing []int
	for i := 0; i <= acked; i++ {
		v, err := b.Get(t.Context(), crashKey(i))
		if err != nil || !bytes.Equal(v, crashValue(i)) {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged writes were lost in the crash, the first %d", len(missing), acked+1, missing[0])
	}
	t.Logf("all %d acknowledged writes survived SIGKILL", acked+1)
}

func parseAck(line string) (int, error) {
	s, ok := strings.CutPrefix(line, "ack ")
	if !ok {
		return 0, fmt.Errorf("unexpected line from the child: %q", line)
	}
	return strconv.Atoi(s)
}

func lockChild(d core.Driver, rawURL string) error {
	b, err := OpenURL(context.Background(), d, rawURL)
	if err != nil {
		return err
	}
	fmt.Println("open")
	// Hold the store until the parent closes stdin.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return b.Close()
}

// Locked checks that while another process has the store at rawURL open,
// opening it fails with an error naming dir and saying it is in use, and
// that the data is intact once the other process lets go. (The files are
// not compared: the other process's engine may rewrite its own files in the
// background while it holds the store.)
func Locked(t *testing.T, d core.Driver, rawURL, dir string) {
	t.Helper()
	b := Open(t, d, rawURL)
	if err := b.Put(t.Context(), ds.NewKey("/locked"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	cmd, stdin, lines := startChild(t, "lock", rawURL)
	if !lines.Scan() || lines.Text() != "open" {
		t.Fatalf("the child did not open the store: %q %v", lines.Text(), lines.Err())
	}
	_, err := OpenURL(t.Context(), d, rawURL)
	if err == nil {
		t.Fatalf("opening a store another process holds open succeeded")
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("the error for a locked store does not name the path and the problem: %v", err)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the child failed: %v", err)
	}
	b = Open(t, d, rawURL)
	defer b.Close()
	if _, err := b.Get(t.Context(), ds.NewKey("/locked")); err != nil {
		t.Fatalf("after the other process let go: %v", err)
	}
}

// Refused checks that opening rawURL fails with an error containing every
// one of want, and that nothing under dir changed.
func Refused(t *testing.T, d core.Driver, rawURL, dir string, want ...string) {
	t.Helper()
	before := Snapshot(t, dir)
	b, err := OpenURL(t.Context(), d, rawURL)
	if err == nil {
		_ = b.Close()
		t.Fatalf("opening %s succeeded; want a refusal", rawURL)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("opening %s: the error does not say %q: %v", rawURL, w, err)
		}
	}
	if diff := before.Diff(Snapshot(t, dir)); diff != "" {
		t.Fatalf("a refused open of %s changed files: %s", rawURL, diff)
	}
}

// Fill creates the store at rawURL and writes some data into it.
func Fill(t *testing.T, d core.Driver, rawURL string) {
	t.Helper()
	b := Open(t, d, rawURL)
	for i := range 200 {
		if err := b.Put(t.Context(), crashKey(i), crashValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// Unwritable returns a path under which nothing can be created, even by
// root: a read-only directory for an ordinary user, /sys for root.
func Unwritable(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := filepath.Join(t.TempDir(), "readonly")
		if err := os.Mkdir(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		return filepath.Join(dir, "store")
	}
	p := "/sys/netabase-storetest"
	if err := os.Mkdir(p, 0o700); err == nil {
		_ = os.Remove(p)
		t.Fatalf("running as root and %s is writable: this machine has no unwritable location to test with", p)
	}
	return p
}

// Snap is the content of a directory tree: every file's path and checksum.
type Snap map[string]string

// Snapshot records the content of the tree under dir.
func Snapshot(t testing.TB, dir string) Snap {
	t.Helper()
	s := Snap{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if e.IsDir() {
			s[rel+"/"] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return s
}

// Diff describes how s and o differ, or returns "" when they are equal.
func (s Snap) Diff(o Snap) string {
	var diffs []string
	for p, h := range s {
		switch oh, ok := o[p]; {
		case !ok:
			diffs = append(diffs, "removed "+p)
		case oh != h:
			diffs = append(diffs, "changed "+p)
		}
	}
	for p := range o {
		if _, ok := s[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, ", ")
}

// Deadline bounds a child process: a child still running after it is
// killed, so that a hung child fails the test instead of hanging it.
const Deadline = 2 * time.Minute
