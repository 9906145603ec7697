package host_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// hostChildEnv makes the test binary a host that opens the store at the
// URL it names, writes to it, says "open", and waits to be killed.
const hostChildEnv = "NETABASE_HOST_TEST_HOLDER"

func runHostChild(rawURL string) {
	err := func() error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return err
		}
		b, err := core.OpenURL(context.Background(), host.NewDriver(host.Config{}), u)
		if err != nil {
			return err
		}
		if err := b.Put(context.Background(), ds.NewKey("/held"), []byte("v")); err != nil {
			return err
		}
		if err := b.Sync(context.Background(), ds.NewKey("/")); err != nil {
			return err
		}
		fmt.Println("open")
		_, err = io.Copy(io.Discard, os.Stdin)
		return err
	}()
	fmt.Fprintln(os.Stderr, "host child:", err)
	os.Exit(2)
}

// TestHostVanishes kills a host holding a plugin store with SIGKILL and
// checks that the orphaned plugin closes its store and exits, so that the
// store's lock is free for the next host.
func TestHostVanishes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	rawURL := pluginURL(t, testplugins.Pebble, url.Values{"path": {dir}})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// The killed host cannot remove its plugin's socket directory: it
	// makes it in a TMPDIR the test removes.
	cmd.Env = append(os.Environ(), hostChildEnv+"="+rawURL, "TMPDIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "open" {
		t.Fatalf("the host child did not open the store: %q %v", lines.Text(), lines.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// pebble holds a POSIX lock on LOCK while the store is open: wait for
	// the orphaned plugin to let go of it, bounded.
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	freed := make(chan error, 1)
	spec := syscall.Flock_t{Type: syscall.F_WRLCK}
	go func() { freed <- syscall.FcntlFlock(lock.Fd(), syscall.F_SETLKW, &spec) }()
	select {
	case err := <-freed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		// Free the waiting goroutine before failing.
		_ = lock.Close()
		t.Fatal("the plugin of a killed host still holds its store after 30s")
	}
	if err := lock.Close(); err != nil { // releases the lock
		t.Fatal(err)
	}
	b, err := core.OpenURL(t.Context(), host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)}), mustParse(t, rawURL))
	if err != nil {
		t.Fatalf("opening the store after its host was killed: %v", err)
	}
	defer b.Close()
	if v, err := b.Get(t.Context(), ds.NewKey("/held")); err != nil || string(v) != "v" {
		t.Fatalf("the killed host's synced write: %q, %v", v, err)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
