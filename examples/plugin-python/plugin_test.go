// Package pluginpython tests the Python storage plugin in this folder,
// netabase-sqlite.py, the way a node uses it: through netabase's plugin host
// and the netabase CLI, pinned by its checksum. The tests need Debian's
// python3 with python3-grpcio, python3-protobuf and python3-cryptography
// (and python3-grpc-tools for the stubs check): under a plain go test they
// skip without them; under scripts/test.sh, which installs them, they fail.
package pluginpython

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/systest"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

const python = "/usr/bin/python3"

// script is the plugin, by absolute path.
var script = func() string {
	p, err := filepath.Abs("netabase-sqlite.py")
	if err != nil {
		panic(err)
	}
	return p
}()

// holderEnv makes the test binary a host that opens the store at the URL
// it names, writes to it, says "open", and waits to be killed.
const holderEnv = "NETABASE_PYPLUGIN_TEST_HOLDER"

func TestMain(m *testing.M) {
	if u := os.Getenv(holderEnv); u != "" {
		hold(u)
	}
	// The plugin makes its socket directory under TMPDIR, and one killed
	// on purpose leaves it behind: keep them all in one directory, removed
	// at the end.
	tmp, err := os.MkdirTemp("", "netabase-pyplugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", tmp)
	code := m.Run()
	_ = os.RemoveAll(tmp)
	os.Exit(code)
}

// needPython skips or fails t (see internal/testkit/systest) when Debian's python3
// lacks what the plugin imports.
func needPython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import grpc, google.protobuf, cryptography").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s cannot import grpc, google.protobuf and cryptography: %v: %s", python, err, bytes.TrimSpace(out))
	}
	systest.Need(t, "Debian packages python3-grpcio, python3-protobuf and python3-cryptography", err)
}

// pluginURL pins the plugin at path with the options given.
func pluginURL(t *testing.T, path string, opts url.Values) *url.URL {
	t.Helper()
	sum, err := host.Checksum(path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(host.FormatURL(path, sum, opts))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newDriver(t *testing.T) *host.Driver {
	return host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
}

// maxProtocolEnv caps the storage protocol version the plugin answers
// with (the script's MAX_PROTOCOL_ENV).
const maxProtocolEnv = "NETABASE_SQLITE_MAX_PROTOCOL"

// protocols are the versions the plugin speaks, newest first: each test
// of the matrix runs under every one, by capping the plugin with
// maxProtocolEnv.
var protocols = []int{3, 1}

// eachProtocol runs f as a subtest under every version of protocols.
func eachProtocol(t *testing.T, f func(t *testing.T)) {
	for _, v := range protocols {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Setenv(maxProtocolEnv, strconv.Itoa(v))
			f(t)
		})
	}
}

// TestConformance runs the conformance suite on the plugin through
// netabase's host, exactly as a node's admission runs it: scratch stores,
// a real gRPC hop with mutual TLS, and the durable case killing the
// plugin's process; under protocol version 3 and under version 1.
func TestConformance(t *testing.T) {
	needPython(t)
	eachProtocol(t, func(t *testing.T) {
		live := filepath.Join(t.TempDir(), "live", "store.db")
		sdktest.RunURL(t, pluginURL(t, script, url.Values{"path": {live}}).String())
		if _, err := os.Stat(filepath.Dir(live)); !os.IsNotExist(err) {
			t.Errorf("the suite touched the URL's own path (%s): scratch stores must keep their files under their path options", live)
		}
	})
}

// TestCLI pins the plugin and runs `netabase conformance` on it, with
// sync=true, as the README tells a user to.
func TestCLI(t *testing.T) {
	needPython(t)
	const cli = "github.com/netabase/netabase/cmd/netabase"
	bins, err := testplugins.Build(t.TempDir(), cli)
	if err != nil {
		t.Fatal(err)
	}
	netabase := bins[cli]
	live := filepath.Join(t.TempDir(), "live.db")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	pin := exec.CommandContext(ctx, netabase, "plugin", "pin", script, "path="+live, "sync=true")
	out, err := pin.Output()
	if err != nil {
		t.Fatalf("netabase plugin pin: %v\n%s", err, stderrOf(err))
	}
	pinned := strings.TrimSpace(string(out))
	if want := pluginURL(t, script, url.Values{"path": {live}, "sync": {"true"}}); !sameURL(t, pinned, want) {
		t.Fatalf("netabase plugin pin printed %s, want %s", pinned, want)
	}

	conf := exec.CommandContext(ctx, netabase, "conformance", pinned)
	var stdout, stderr bytes.Buffer
	conf.Stdout, conf.Stderr = &stdout, &stderr
	if err := conf.Run(); err != nil {
		t.Fatalf("netabase conformance %s: %v\nstdout:\n%s\nstderr:\n%s", pinned, err, &stdout, &stderr)
	}
	report := stdout.String()
	for _, want := range []string{"Backend sqlite (", "capabilities: persistent,durable", "PASS  durable", "PASS  persistence", "PASSED: conformance suite"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	if i := strings.Index(report, "PASSED:"); i >= 0 {
		t.Log(strings.TrimSpace(report[i:]))
	}
	if _, err := os.Stat(live); !os.IsNotExist(err) {
		t.Errorf("netabase conformance touched the URL's own database %s", live)
	}
}

func stderrOf(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}

// sameURL reports whether the URL raw holds want's path and parameters.
func sameURL(t *testing.T, raw string, want *url.URL) bool {
	t.Helper()
	got, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%q is not a URL: %v", raw, err)
	}
	return got.Scheme == want.Scheme && got.Path == want.Path && got.Query().Encode() == want.Query().Encode()
}

// TestKilledMidQuery kills the plugin's process while a query streams
// results, and checks that the query and the next calls fail with errors
// that say so, and that the restarted plugin holds what was synced; under
// protocol version 3 and under version 1.
func TestKilledMidQuery(t *testing.T) {
	needPython(t)
	if runtime.GOOS != "linux" {
		t.Skip("finds the plugin's process in /proc")
	}
	eachProtocol(t, killedMidQuery)
}

func killedMidQuery(t *testing.T) {
	ctx := t.Context()
	u := pluginURL(t, script, url.Values{"path": {filepath.Join(t.TempDir(), "store.db")}})
	b, err := newDriver(t).Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// More than the host's flow-control windows (about 8 MiB a stream, 33
	// MiB a connection), so the plugin is still sending when it dies.
	const n, size = 40, 1 << 20
	batch, err := b.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		v := bytes.Repeat([]byte{byte(i)}, size)
		if err := batch.Put(ctx, ds.NewKey(fmt.Sprintf("/big/%02d", i)), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatal(err)
	}

	pid := pluginPid(t)
	res, err := b.Query(ctx, dsq.Query{Prefix: "/big"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if r, ok := res.NextSync(); !ok || r.Error != nil {
		t.Fatalf("the first result: %v, %v", ok, r.Error)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got, qerr := 1, error(nil)
	for r := range res.Next() {
		if r.Error != nil {
			qerr = r.Error
			break
		}
		got++
	}
	if qerr == nil {
		t.Fatalf("a query whose plugin was killed returned %d of %d entries and no error", got, n)
	}
	checkDownErr(t, "the query", qerr)

	// Later calls fail fast while the host restarts the plugin, then reach
	// the new process, which holds every synced write.
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := b.Get(ctx, ds.NewKey("/big/07"))
		if err == nil {
			if !bytes.Equal(v, bytes.Repeat([]byte{7}, size)) {
				t.Fatalf("after the restart, /big/07 holds %d other bytes", len(v))
			}
			break
		}
		checkDownErr(t, "a Get before the restart", err)
		if time.Now().After(deadline) {
			t.Fatalf("the host did not restart the plugin within a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatalf("Sync after the restart (everything was synced before the crash): %v", err)
	}
}

// checkDownErr checks that err says the plugin is down and names it.
func checkDownErr(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, host.ErrPluginDown) || !strings.Contains(err.Error(), script) {
		t.Fatalf("%s failed with %q; want an error wrapping host.ErrPluginDown that names the plugin %s", what, err, script)
	}
}

// pluginPid returns the process id of the one plugin process this test
// binary runs.
func pluginPid(t *testing.T) int {
	t.Helper()
	var pids []int
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err1 := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		cmdline, err2 := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err1 != nil || err2 != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold anything but ")".
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) && slices.Contains(strings.Split(string(cmdline), "\x00"), script) {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("found plugin processes %v; want exactly one", pids)
	}
	return pids[0]
}

// hold is the host child of TestHostVanishes.
func hold(rawURL string) {
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

// TestHostVanishes kills a host holding a store of the plugin with SIGKILL
// and checks that the orphaned plugin closes its store and exits, so that
// the next host can open the store, with what was synced; under protocol
// version 3 and under version 1.
func TestHostVanishes(t *testing.T) {
	needPython(t)
	eachProtocol(t, hostVanishes)
}

func hostVanishes(t *testing.T) {
	u := pluginURL(t, script, url.Values{"path": {filepath.Join(t.TempDir(), "store.db")}})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+u.String())
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

	// The orphan holds SQLite's exclusive lock until it notices: until
	// then an open fails saying the store is in use. Bounded.
	d := newDriver(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := core.OpenURL(t.Context(), d, u)
		if err == nil {
			defer b.Close()
			if v, err := b.Get(t.Context(), ds.NewKey("/held")); err != nil || string(v) != "v" {
				t.Fatalf("the killed host's synced write: %q, %v", v, err)
			}
			return
		}
		if !strings.Contains(err.Error(), "in use by another process") {
			t.Fatalf("opening the store of a killed host: %v; want success, or an error saying it is in use", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin of a killed host still holds its store after 30s: %v", err)
		}
	}
}

// TestWithoutMTLS starts the plugin without the host's client certificate,
// so that it serves without TLS, and checks that the host refuses it: a
// netabase host speaks only mutually authenticated TLS to a plugin.
func TestWithoutMTLS(t *testing.T) {
	needPython(t)
	wrapper := filepath.Join(t.TempDir(), "plain-sqlite")
	text := fmt.Sprintf("#!/bin/sh\nunset PLUGIN_CLIENT_CERT\nexec %s\n", script)
	if err := os.WriteFile(wrapper, []byte(text), 0o700); err != nil {
		t.Fatal(err)
	}
	u := pluginURL(t, wrapper, url.Values{"path": {filepath.Join(t.TempDir(), "store.db")}})
	_, err := newDriver(t).Describe(t.Context(), u)
	if err == nil {
		t.Fatal("the host accepted a plugin that serves without TLS")
	}
	if msg := err.Error(); !strings.Contains(msg, "did not describe itself") || !strings.Contains(msg, wrapper) {
		t.Fatalf("the host refused a plugin without TLS with %q; want an error naming it that says it did not describe itself", msg)
	}
	t.Logf("refused: %v", err)
}

// TestRefusesForeignFiles opens the plugin on a path that holds something
// else and checks that it refuses, says why, and changes nothing.
func TestRefusesForeignFiles(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 300), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	mk := exec.Command(python, "-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('create table t(x)'); db.execute('insert into t values(1)'); db.commit()", other)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("making another program's database: %v\n%s", err, out)
	}
	// A database in WAL mode with a log not yet checkpointed: SQLite would
	// fold the log into the file when it closes it.
	wal := filepath.Join(dir, "wal.db")
	mk = exec.Command(python, "-c", `import shutil, sqlite3, sys
db = sqlite3.connect(sys.argv[1] + ".tmp", isolation_level=None)
db.execute("pragma journal_mode=wal"); db.execute("pragma wal_autocheckpoint=0")
db.execute("create table t(x)"); db.execute("insert into t values(1)")
shutil.copy(sys.argv[1] + ".tmp", sys.argv[1]); shutil.copy(sys.argv[1] + ".tmp-wal", sys.argv[1] + "-wal")
db.close()`, wal)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("making another program's database in WAL mode: %v\n%s", err, out)
	}
	if err := os.Remove(wal + ".tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(wal + "-wal"); err != nil {
		t.Fatalf("the WAL-mode database has no log: %v", err)
	}
	d := newDriver(t)
	for _, tc := range []struct{ path, want string }{
		{text, "it is not a SQLite database"},
		{other, "it holds a SQLite database of another program"},
		{wal, "it holds a SQLite database of another program"},
		{dir, "is a directory"},
	} {
		before := snapshot(t, dir)
		_, err := core.OpenURL(t.Context(), d, pluginURL(t, script, url.Values{"path": {tc.path}}))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("opening the plugin on %s: %v; want an error naming it that says %q", tc.path, err, tc.want)
		}
		if after := snapshot(t, dir); !maps.Equal(before, after) {
			t.Errorf("a refused open on %s changed the directory: %v, then %v", tc.path, keys(before), keys(after))
		}
	}
}

// snapshot returns every file under dir with its bytes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, filepath.Base(k))
	}
	slices.Sort(ks)
	return ks
}

// TestStubsCurrent regenerates the gRPC stubs with generate.sh and checks
// that the committed ones in gen/ are the same: a change to storage.proto
// must come with regenerated stubs.
func TestStubsCurrent(t *testing.T) {
	out, err := exec.Command(python, "-c", "import grpc_tools.protoc").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s cannot import grpc_tools.protoc: %v: %s", python, err, bytes.TrimSpace(out))
	}
	systest.Need(t, "Debian package python3-grpc-tools", err)
	fresh := t.TempDir()
	if out, err := exec.Command("./generate.sh", fresh).CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	committed, regenerated := relative(t, "gen"), relative(t, fresh)
	for name, want := range regenerated {
		got, ok := committed[name]
		switch {
		case !ok:
			t.Errorf("gen/%s is missing; run ./generate.sh and commit it", name)
		case got != want:
			t.Errorf("gen/%s differs from what generate.sh makes now; run ./generate.sh and commit it", name)
		}
	}
	for name := range committed {
		if _, ok := regenerated[name]; !ok {
			t.Errorf("gen/%s is not made by generate.sh any more; remove it", name)
		}
	}
}

// relative is snapshot of dir with the paths relative to dir, so that
// gen/netabase/storage/v1/storage_pb2.py and v3's stay apart.
func relative(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for p, b := range snapshot(t, dir) {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.ToSlash(rel)] = b
	}
	return files
}

// TestStartedByHand checks that the plugin, started without a host, says
// what it is and how to use it, and exits with status 1.
func TestStartedByHand(t *testing.T) {
	needPython(t)
	cmd := exec.Command(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("started by hand: %v; want exit status 1", err)
	}
	for _, want := range []string{"is a netabase storage plugin", "netabase plugin pin " + script} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("started by hand, it wrote %q; want %q in it", stderr.String(), want)
		}
	}
}
