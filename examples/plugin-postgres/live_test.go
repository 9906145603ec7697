package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	nbconfig "github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/internal/control"
	"github.com/netabase/netabase/internal/testkit/pgtest"
)

// dump returns the table's rows as the server keeps them: each row's
// physical place and creating transaction (so that a rewrite of a row with
// the same bytes shows), key and value.
func dump(t *testing.T, srv *pgtest.Server, table string) string {
	t.Helper()
	return srv.Psql(t.Context(), "", "SELECT ctid, xmin, encode(key, 'hex'), encode(value, 'hex') FROM public."+table+" ORDER BY key")
}

// tables lists the tables of schema public.
func tables(t *testing.T, srv *pgtest.Server) string {
	t.Helper()
	return strings.TrimSpace(srv.Psql(t.Context(), "", "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
}

// runCLI runs the netabase CLI to completion.
func runCLI(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	cmd := exec.CommandContext(ctx, cli, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code = -1
		errOut.WriteString(err.Error())
	}
	return code, out.String(), errOut.String()
}

// daemon is a netabase daemon process.
type daemon struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer // stdout and stderr, after the ready line
	exited chan struct{}
}

// certsIn is the environment of a daemon whose admission certificates
// are kept in its data directory dir ($NETABASE_CERT_DIR), not in the
// user's cache directory: each node of these tests runs the suite itself.
func certsIn(dir string) []string {
	return append(os.Environ(), "NETABASE_CERT_DIR="+dir)
}

// startDaemon starts `netabase daemon` on dir with storage and waits until
// it says it is ready; it is stopped when t ends.
func startDaemon(t *testing.T, ctx context.Context, dir, storage string) *daemon {
	t.Helper()
	cmd := exec.Command(cli, "daemon", "--data-dir", dir, "--storage", storage,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	cmd.Env = certsIn(dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, out: &bytes.Buffer{}, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(d.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-d.exited
		}
	})
	ready := make(chan struct{})
	var seen bytes.Buffer
	go func() {
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			if !signalled {
				seen.WriteString(sc.Text() + "\n")
				if sc.Text() == "Ready. Stop with Ctrl-C." {
					signalled = true
					close(ready)
				}
			}
		}
		if !signalled {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatalf("the daemon was not ready in time:\n%s", seen.String())
	}
	select {
	case <-d.exited:
		t.Fatalf("the daemon exited before it was ready:\n%s", seen.String())
	default:
	}
	return d
}

// TestAdmissionLeavesLiveTable fills a live table, then has a daemon admit
// the plugin on it (the conformance suite runs on scratch tables before the
// node opens the live one) and runs `netabase conformance` on its URL: the
// live table is byte for byte as it was, and no scratch table is left.
func TestAdmissionLeavesLiveTable(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	srv.Psql(ctx, "", `CREATE TABLE public.live (key bytea PRIMARY KEY, value bytea NOT NULL);
		INSERT INTO public.live SELECT convert_to('/live/' || i, 'UTF8'), sha256(int4send(i)) FROM generate_series(1, 500) i`)
	before := dump(t, srv, "live")
	if strings.Count(before, "\n") != 500 {
		t.Fatalf("the live table holds %d rows; want 500", strings.Count(before, "\n"))
	}
	u := pluginURL(t, url.Values{"dsn": {srv.DSN("")}, "table": {"live"}})

	dir := t.TempDir()
	startDaemon(t, ctx, dir, u)
	if got := dump(t, srv, "live"); got != before {
		t.Errorf("admission changed the live table:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	if got := tables(t, srv); got != "live" {
		t.Errorf("after admission the schema holds the tables %q; want only live", got)
	}

	code, out, errOut := runCLI(ctx, "conformance", u)
	if code != 0 || !strings.Contains(out, "PASSED") {
		t.Fatalf("netabase conformance exited %d:\n%s%s", code, out, errOut)
	}
	if got := dump(t, srv, "live"); got != before {
		t.Errorf("netabase conformance changed the live table:\nbefore:\n%s\nafter:\n%s", before, got)
	}
	if got := tables(t, srv); got != "live" {
		t.Errorf("after netabase conformance the schema holds the tables %q; want only live", got)
	}
}

// TestDaemonSurvivesServerCrash runs a daemon on the plugin at its
// defaults (every write synced before it is acknowledged), puts records,
// kills the PostgreSQL server: calls fail with an error naming the server
// as down. Once the server is back, the daemon works again and every
// acknowledged write is there.
func TestDaemonSurvivesServerCrash(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	startDaemon(t, ctx, dir, pluginURL(t, url.Values{"dsn": {srv.DSN("")}}))
	c := control.NewClient(filepath.Join(dir, nbconfig.SocketFile))
	defer c.Close()

	acked := map[string]string{}
	put := func(name string) error {
		value := "value of " + name
		res, err := c.Put(ctx, control.PutRequest{Name: name, Value: []byte(value)})
		if err == nil {
			acked[res.Key] = value
		}
		return err
	}
	for i := range 50 {
		if err := put(fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatalf("put before the crash: %v", err)
		}
	}
	if code, out, errOut := runCLI(ctx, "put", "--data-dir", dir, "cli-record", "from the CLI"); code != 0 {
		t.Fatalf("netabase put exited %d:\n%s%s", code, out, errOut)
	}

	srv.Kill()
	err := put("during")
	if err == nil {
		t.Fatal("a put succeeded while the PostgreSQL server was down")
	}
	if msg := err.Error(); !strings.Contains(msg, "PostgreSQL server") || !strings.Contains(msg, "down") {
		t.Errorf("the error of a put while the server is down does not name the server as down: %v", err)
	}
	t.Logf("a put while the server is down: %v", err)
	code, out, errOut := runCLI(ctx, "put", "--data-dir", dir, "cli-during", "x")
	if code == 0 || !strings.Contains(out+errOut, "PostgreSQL server") {
		t.Errorf("netabase put while the server is down exited %d and does not name the server:\n%s%s", code, out, errOut)
	}

	srv.Restart()
	// The plugin's pool drops the connections the crash broke; a call
	// that meets one fails, and the next reconnects.
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		err := put(fmt.Sprintf("after-%d", i))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("puts still fail a minute after the server came back: %v", err)
		}
	}
	for i := range 10 {
		if err := put(fmt.Sprintf("after-more-%d", i)); err != nil {
			t.Fatalf("put after the server came back: %v", err)
		}
	}
	for k, want := range acked {
		rec, err := c.Get(ctx, k)
		if err != nil {
			t.Errorf("get %s after the server came back: %v", k, err)
			continue
		}
		if string(rec.Value) != want {
			t.Errorf("get %s = %q; want %q", k, rec.Value, want)
		}
	}
	code, out, errOut = runCLI(ctx, "get", "--data-dir", dir, "cli-record")
	if code != 0 || !strings.Contains(out, "from the CLI") {
		t.Errorf("netabase get cli-record exited %d:\n%s%s", code, out, errOut)
	}
	t.Logf("%d acknowledged puts, all there after the crash", len(acked))
}

// TestServerDownAtStart: a daemon whose storage names a server that is
// down, a database that does not exist, or a server that hangs (accepts
// no connection), refuses to start, within the
// start timeout, with an error that names the server; it creates nothing
// on the server.
func TestServerDownAtStart(t *testing.T) {
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, dsn, want string
		hung            bool
	}{
		{name: "down", dsn: fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", srv.SocketDir(), pgtest.Port+1), want: "is down"},
		{name: "no database", dsn: srv.DSN("nosuchdb"), want: "no such database"},
		{name: "hung", dsn: srv.DSN(""), want: "within 2s: it is down", hung: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "node")
			u := pluginURL(t, url.Values{"dsn": {tc.dsn}, "connect_timeout": {"2s"}})
			if tc.hung {
				srv.Pause()
				defer srv.Resume()
			}
			start := time.Now()
			cmd := exec.CommandContext(ctx, cli, "daemon", "--data-dir", dir, "--storage", u,
				"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
			cmd.Env = certsIn(dir)
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err == nil {
				t.Fatalf("the daemon started on a %s server:\n%s", tc.name, out)
			}
			if !strings.Contains(string(out), "PostgreSQL server") || !strings.Contains(string(out), tc.want) {
				t.Errorf("the daemon's error does not say %q of the PostgreSQL server:\n%s", tc.want, out)
			}
			if took > 30*time.Second {
				t.Errorf("the daemon took %s to refuse the storage; the start timeout is 30s", took)
			}
			t.Logf("refused in %s:\n%s", took.Round(time.Millisecond), out)
		})
	}
	if got := tables(t, srv); got != "" {
		t.Errorf("the refused starts left tables: %q", got)
	}
}
