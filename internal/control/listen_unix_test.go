//go:build unix

package control_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/internal/control"
)

// TestListenPrivate: whatever the umask, the socket is the owner's alone,
// nothing is left beside it, and closing the listener removes it.
func TestListenPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := shortDir(t)
	path := filepath.Join(dir, config.SocketFile)
	l, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket %v, %v; want a socket readable only by its owner", fi.Mode(), err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
		t.Errorf("the directory holds %v, %v; want the socket alone", entries, err)
	}
	if l.Addr().String() != path {
		t.Errorf("listening on %s, want %s", l.Addr(), path)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dialing the socket: %v", err)
	}
	_ = c.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the socket is still there: %v", err)
	}
}
