package control_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netabase/netabase/internal/control"
	"github.com/netabase/netabase/internal/testkit/systest"
)

// lockedBuffer is a log destination safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestOtherUserRefused: a process of another user that reaches the socket
// is refused by the peer credentials check, and the refusal is logged.
// The socket here is deliberately open to all (mode 0777 in a 0755
// directory), so the refusal comes from the check and not from a mode.
func TestOtherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	const nobody = 65534
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary is copied where the other user may run it.
	helper := filepath.Join(dir, "helper")
	systest.CopySelf(t, helper)
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	api := control.NewServer(dir, slog.New(slog.NewTextHandler(&log, nil)))
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- api.Serve(sctx, l) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	dial := func(cred *syscall.Credential) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, helper)
		cmd.Env = append(os.Environ(), dialEnv+"="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v: %s", err, out)
		}
		return string(out)
	}
	// The daemon's own user is answered (the daemon is starting: 503).
	if out := dial(nil); !strings.HasPrefix(out, "dialed\nHTTP/1.1 503") {
		t.Errorf("the daemon's user: %q, want an answer", out)
	}
	if strings.Contains(log.String(), "refused") {
		t.Errorf("the daemon's user was refused: %s", log.String())
	}
	// Another user connects, and is closed on unanswered.
	if out := dial(&syscall.Credential{Uid: nobody, Gid: nobody}); out != "dialed\nclosed\n" {
		t.Errorf("another user: %q, want a connection closed unanswered", out)
	}
	if got := log.String(); !strings.Contains(got, "refused a connection from another user") || !strings.Contains(got, "uid=65534") || !strings.Contains(got, "daemon_uid=0") {
		t.Errorf("the log says %q; want the refusal of uid 65534", got)
	}
}
