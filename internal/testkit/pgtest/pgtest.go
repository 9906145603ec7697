// Package pgtest starts a real PostgreSQL server for a test: Debian's
// postgresql package (version 15), in a temporary directory, listening on a
// unix socket there only, as an unprivileged user when the test runs as root
// (PostgreSQL refuses to run as root). The server runs with fsync on, as a
// production server does, so tests of durability mean what they say.
//
// A test that calls Start skips under plain `go test` when PostgreSQL is not
// installed, and fails under scripts/test.sh (see internal/testkit/systest).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netabase/netabase/internal/testkit/systest"
)

// BinDir is where Debian's postgresql package puts the server's programs.
const BinDir = "/usr/lib/postgresql/15/bin"

// Port numbers the server's socket file (.s.PGSQL.<Port>); the server
// listens on no TCP port.
const Port = 5432

// readyTimeout bounds a start of the server, crash recovery included.
const readyTimeout = 60 * time.Second

// Server is a PostgreSQL server a test started.
type Server struct {
	t        testing.TB
	dir      string // the temporary directory: data/, the socket, the log
	cred     *syscall.Credential
	settings []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start initialises a database cluster in a new temporary directory, starts
// the server on it and waits until it accepts connections. The server is
// stopped and the directory removed when t ends. settings are more server
// settings, "name=value" (such as "wal_writer_delay=10s").
func Start(t testing.TB, settings ...string) *Server {
	t.Helper()
	initdb := filepath.Join(BinDir, "initdb")
	if _, err := os.Stat(initdb); err != nil {
		systest.Need(t, "Debian package postgresql (PostgreSQL 15)", err)
	}
	s := &Server{t: t, settings: settings}
	var err error
	if s.cred, err = unprivileged(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// Not t.TempDir(): its parents are private to root, and the server's
	// user must reach the directory. /tmp keeps the socket's path short.
	if s.dir, err = os.MkdirTemp("", "netabase-pg-"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		_ = os.RemoveAll(s.dir)
	})
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	// fsync off while initialising only: a crash of initdb is of no
	// interest, and the server itself runs with fsync on.
	out, err := s.command(initdb, "-D", s.DataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		t.Fatalf("pgtest: initdb failed: %v\n%s", err, out)
	}
	s.Restart()
	return s
}

// unprivileged returns the credential to run the server with: the postgres
// user (or nobody) when the test runs as root, nil otherwise.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	return cmd
}

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// SocketDir is the directory of the server's unix socket.
func (s *Server) SocketDir() string { return s.dir }

// DSN is a connection string for database db (postgres, the one initdb
// makes, when empty) as the superuser postgres.
func (s *Server) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.dir, Port, db)
}

// Restart starts the server when it is not running (after Kill or Stop) and
// waits until it accepts connections; a server that was killed recovers
// from its write-ahead log first.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	defer logf.Close()
	args := []string{"-D", s.DataDir(),
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + s.dir,
		"-c", "port=" + strconv.Itoa(Port),
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "max_connections=100",
		"-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning",
	}
	for _, kv := range s.settings {
		args = append(args, "-c", kv)
	}
	cmd := s.command(filepath.Join(BinDir, "postgres"), args...)
	// A test process that dies without its cleanups (killed at go test's
	// timeout, say) takes its server with it: SIGQUIT is PostgreSQL's
	// immediate shutdown.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("pgtest: starting postgres: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(readyTimeout)
	sock := filepath.Join(s.dir, fmt.Sprintf(".s.PGSQL.%d", Port))
	for {
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("pgtest: postgres exited while starting:\n%s", s.Log())
		default:
		}
		if ready(sock) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pgtest: postgres did not accept connections within %s:\n%s", readyTimeout, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready reports whether the server at sock completes a startup: it answers
// a startup message for a nonexistent user with an authentication request
// or an error other than "starting up" / "in recovery".
func ready(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	// StartupMessage, protocol 3.0, user=postgres database=postgres.
	var body bytes.Buffer
	body.Write([]byte{0, 3, 0, 0})
	for _, s := range []string{"user", "postgres", "database", "postgres", ""} {
		body.WriteString(s)
		body.WriteByte(0)
	}
	n := body.Len() + 4
	msg := append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body.Bytes()...)
	if _, err := c.Write(msg); err != nil {
		return false
	}
	buf := make([]byte, 512)
	k, err := c.Read(buf)
	if err != nil || k < 1 {
		return false
	}
	switch buf[0] {
	case 'R': // authentication request: the server takes connections
		return true
	case 'E': // an error: 57P03 means it is starting or recovering
		return !bytes.Contains(buf[:k], []byte("57P03"))
	}
	return false
}

// Kill ends the server with SIGKILL, as a crash would (the postmaster and
// every process it started), and waits until they are gone.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop shuts the server down fast (SIGINT: roll back open transactions,
// checkpoint, exit), and kills it if it does not exit within a minute.
func (s *Server) Stop() { s.signal(syscall.SIGINT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGCONT) // in case it was paused
	// Each of the server's processes puts itself in a session of its own,
	// so a crash is a SIGKILL of the postmaster and of each child.
	var children []int
	if sig == syscall.SIGKILL {
		children = childrenOf(pid)
	}
	_ = syscall.Kill(pid, sig)
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-s.done
	}
	// Wait until every child is gone, so that a restart finds none still
	// attached to the old shared memory.
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range append(children, childrenOf(pid)...) {
		for alive(c) && time.Now().Before(deadline) {
			_ = syscall.Kill(c, syscall.SIGKILL)
			time.Sleep(5 * time.Millisecond)
		}
	}
	s.cmd = nil
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := stat(n); ok && ppid == pid {
			out = append(out, n)
		}
	}
	return out
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	_, state, ok := stat(pid)
	return ok && state != "Z"
}

// stat reads a process's parent and state from /proc/<pid>/stat.
func stat(pid int) (ppid int, state string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

// Pause stops the server's postmaster with SIGSTOP: it accepts no new
// connection (a connect waits) until Resume, as a server that hangs.
func (s *Server) Pause() { s.sendPostmaster(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.sendPostmaster(syscall.SIGCONT) }

func (s *Server) sendPostmaster(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = syscall.Kill(s.cmd.Process.Pid, sig)
	}
}

// Log returns the server's log so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return strings.TrimSpace(string(b))
}

// Psql runs sql with psql against database db and returns its output
// (unaligned, tuples only), failing t on an error.
func (s *Server) Psql(ctx context.Context, db, sql string) string {
	s.t.Helper()
	if db == "" {
		db = "postgres"
	}
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", s.dir, "-p", strconv.Itoa(Port), "-U", "postgres", "-d", db, "-c", sql)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("pgtest: psql %q: %v\n%s", sql, err, errOut.String())
	}
	return out.String()
}
