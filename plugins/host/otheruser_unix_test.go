//go:build unix

package host_test

import (
	"context"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/internal/testkit/systest"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
)

// TestOtherUser: another user of the machine can neither connect to a
// running plugin's socket nor remove, replace or list it, nor make a socket
// beside it: the host puts the socket in a directory of its own, mode 0700.
// And a program that does reach the socket (one of the host's own user,
// here) gets no answer to a gRPC call without the host's one-time client
// certificate. The other user is nobody, so the test needs root; under
// scripts/test.sh it fails rather than skip without it.
func TestOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv(systest.Env) == "1" {
			t.Fatal("this test runs a process as another user, which needs root; run scripts/test.sh as root (CI does)")
		}
		t.Skip("needs root to run a process as another user; scripts/test.sh, run as root (as in CI), runs it")
	}
	nobody := otherUser(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	d := host.NewDriver(host.Config{})
	b, err := d.Open(ctx, mustParse(t, pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "db")}})))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			b.Close()
		}
	}()
	key := ds.NewKey("/k")
	if err := b.Put(ctx, key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	sock, err := host.SocketAddr(b)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(sock)
	before, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if before.Mode().Type() != fs.ModeSocket {
		t.Fatalf("%s is a %v, not the plugin's socket", sock, before.Mode().Type())
	}
	if fi, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("the socket's directory %s has mode %v, want 0700", dir, fi.Mode().Perm())
	}

	// The test binary, copied where nobody may run it.
	bin, err := os.MkdirTemp("", "netabase-intruder-bin-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(bin)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(bin, "host.test")
	systest.CopySelf(t, exe)
	try := func(cred *syscall.Credential, move bool) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), intruderEnv+"="+sock)
		if move {
			cmd.Env = append(cmd.Env, intruderMoveEnv+"=1")
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the intruder failed: %v\n%s", err, out)
		}
		return string(out)
	}

	// The host's own user reaches the socket, and is refused by TLS.
	want := "dial: ok\ngrpc without TLS: refused (Unavailable)\ngrpc with another certificate: refused (Unavailable)\n"
	if got := try(nil, false); got != want {
		t.Errorf("as the host's user:\n%s\nwant\n%s", got, want)
	}
	// Another user cannot reach it, nor touch it.
	want = "dial: permission denied\nlist: permission denied\nremove: permission denied\nreplace: permission denied\nlisten beside: permission denied\n"
	if got := try(nobody, true); got != want {
		t.Errorf("as uid %d:\n%s\nwant\n%s", nobody.Uid, got, want)
	}

	// The socket is the plugin's still, and the host's connection serves.
	after, err := os.Lstat(sock)
	if err != nil {
		t.Fatalf("the plugin's socket is gone: %v", err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("the plugin's socket %s was replaced", sock)
	}
	if entries, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	} else if len(entries) != 1 {
		var names []string
		for _, e := range entries[:min(len(entries), 5)] {
			names = append(names, e.Name())
		}
		t.Errorf("the socket's directory holds %d files (%v, ...), want the socket only", len(entries), names)
	}
	if v, err := b.Get(ctx, key); err != nil || string(v) != "v" {
		t.Errorf("Get after the attempts: %q, %v", v, err)
	}

	// Closing the store removes the directory.
	closed = true
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the socket's directory %s outlives the plugin: %v", dir, err)
	}
}

// otherUser is the credential of nobody, with no supplementary groups.
func otherUser(t *testing.T) *syscall.Credential {
	t.Helper()
	uid, gid := uint32(65534), uint32(65534)
	if u, err := user.Lookup("nobody"); err == nil {
		if n, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			uid = uint32(n)
		}
		if n, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
			gid = uint32(n)
		}
	}
	return &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
}
