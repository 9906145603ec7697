package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase"
	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
)

// asCLI, when set in the environment, makes the test binary run the
// netabase command line instead of the tests: the process-level tests start
// daemons and clients this way.
const asCLI = "NETABASE_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		os.Exit(Main(os.Args[1:], newEnv(os.Stdout, os.Stderr)))
	}
	// The daemons of these tests keep their certificates here, not in the
	// user's cache directory, so a test may find its backend admitted by
	// another test's certificate; a test whose assertions need the suite to
	// run sets $NETABASE_CERT_DIR to a directory of its own.
	certs, err := os.MkdirTemp("", "netabase-certs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv(certDirEnv, certs)
	code := m.Run()
	_ = os.RemoveAll(certs)
	os.Exit(code)
}

// shortDir is a temporary directory whose path is short enough for a unix
// socket inside it.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// runIn runs the command line in-process with ctx, standard input stdin,
// and returns its exit status and output.
func runIn(ctx context.Context, stdin io.Reader, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, registry: all.Registry(), stdin: stdin}
	code := execute(ctx, e, args)
	return code, stdout.String(), stderr.String()
}

// execute is Main with the caller's context instead of the signals'.
func execute(ctx context.Context, e *env, args []string) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, "netabase:", err)
	}
	return exitCode(err)
}

// lineWriter hands each complete line written to it to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	all   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		select {
		case w.lines <- strings.TrimSuffix(line, "\n"):
		default:
		}
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// daemon is a daemon running in-process.
type daemon struct {
	dir    string
	addr   string // its first listen address
	out    *lineWriter
	stderr *lineWriter
	stop   context.CancelFunc
	code   chan int
}

// startDaemon runs netabase daemon in-process on a fresh data directory,
// with the extra arguments, and waits until it is ready.
func startDaemon(t *testing.T, ctx context.Context, args ...string) *daemon {
	t.Helper()
	return startDaemonIn(t, ctx, shortDir(t), args...)
}

// startDaemonIn is startDaemon on the data directory dir.
func startDaemonIn(t *testing.T, ctx context.Context, dir string, args ...string) *daemon {
	t.Helper()
	d := &daemon{
		dir:    dir,
		out:    &lineWriter{lines: make(chan string, 100)},
		stderr: &lineWriter{lines: make(chan string, 100)},
		code:   make(chan int, 1),
	}
	dctx, stop := context.WithCancel(ctx)
	d.stop = stop
	e := &env{stdout: d.out, stderr: d.stderr, registry: all.Registry()}
	args = append([]string{"daemon", "--data-dir", d.dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}, args...)
	go func() { d.code <- execute(dctx, e, args) }()
	t.Cleanup(func() { d.shutdown(t) })
	d.addr = waitReady(t, ctx, d.out.lines, d.code, d.out.String)
	return d
}

// waitReady reads a daemon's output lines until it says it is ready, and
// returns its first listen address.
func waitReady(t *testing.T, ctx context.Context, lines <-chan string, exited <-chan int, output func() string) string {
	t.Helper()
	addr := ""
	for {
		select {
		case line := <-lines:
			if a, ok := strings.CutPrefix(line, "Listening:"); ok && addr == "" {
				addr = strings.TrimSpace(a)
			}
			if line == "Ready. Stop with Ctrl-C." {
				return addr
			}
		case code := <-exited:
			t.Fatalf("the daemon exited with %d before it was ready:\n%s", code, output())
		case <-ctx.Done():
			t.Fatalf("the daemon was not ready in time:\n%s", output())
		}
	}
}

func (d *daemon) shutdown(t *testing.T) {
	t.Helper()
	if d.stop == nil {
		return
	}
	d.stop()
	d.stop = nil
	select {
	case code := <-d.code:
		if code != 0 {
			t.Errorf("the daemon exited with %d:\n%s\n%s", code, d.out.String(), d.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the daemon did not stop within 30s")
	}
}

// cli runs a client command against d, failing the test unless it exits 0,
// and returns its stdout.
func (d *daemon) cli(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, _ := d.cliBoth(t, ctx, args...)
	return out
}

// cliBoth is cli returning stderr too.
func (d *daemon) cliBoth(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errOut := runIn(ctx, nil, append(args, "--data-dir", d.dir)...)
	if code != 0 {
		t.Fatalf("netabase %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

// eventStream is a netabase events command running in-process.
type eventStream struct {
	lines *lineWriter
	done  chan int
	stopF context.CancelFunc
}

// streamEvents runs netabase events against the daemon of dir and returns
// once the daemon has subscribed it.
func streamEvents(t *testing.T, ctx context.Context, dir string) *eventStream {
	t.Helper()
	s := &eventStream{lines: &lineWriter{lines: make(chan string, 100)}, done: make(chan int, 1)}
	stderr := &lineWriter{lines: make(chan string, 10)}
	ctx, s.stopF = context.WithCancel(ctx)
	e := &env{stdout: s.lines, stderr: stderr, registry: all.Registry()}
	go func() { s.done <- execute(ctx, e, []string{"events", "--data-dir", dir}) }()
	t.Cleanup(s.stopF)
	select {
	case line := <-stderr.lines:
		if line != "Watching events; stop with Ctrl-C." {
			t.Fatalf("events began with %q", line)
		}
	case code := <-s.done:
		t.Fatalf("events exited with %d: %s", code, stderr.String())
	case <-ctx.Done():
		t.Fatal("events did not start")
	}
	return s
}

// expect waits for lines containing each of want, in order.
func (s *eventStream) expect(t *testing.T, ctx context.Context, want ...string) {
	t.Helper()
	for len(want) > 0 {
		select {
		case line := <-s.lines.lines:
			for len(want) > 0 && strings.Contains(line, want[0]) {
				want = want[1:]
			}
		case code := <-s.done:
			t.Fatalf("events exited with %d before showing %v:\n%s", code, want, s.lines.String())
		case <-ctx.Done():
			t.Fatalf("events did not show %v:\n%s", want, s.lines.String())
		}
	}
}

// stop interrupts the stream, which must then exit 0.
func (s *eventStream) stop(t *testing.T) {
	t.Helper()
	s.stopF()
	if code := <-s.done; code != 0 {
		t.Errorf("events exited with %d", code)
	}
}

// normalise replaces what differs from run to run in CLI output.
func normalise(s string, dirs ...string) string {
	for _, d := range dirs {
		s = strings.ReplaceAll(s, d, "<dir>")
	}
	s = strings.ReplaceAll(s, "netabase/"+netabase.Version, "netabase/<version>")
	s = normaliseSuite(s)
	for _, r := range []struct{ re, to string }{
		{`12D3KooW[1-9A-HJ-NP-Za-km-z]{44}`, "<peer>"},
		{`/tcp/\d+`, "/tcp/<port>"},
		{`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`, "<time>"},
		{`bafkrei[a-z2-7]{52}`, "<cid>"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.to)
	}
	return s
}

func TestInit(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(shortDir(t), "node")
	code, out, errOut := runIn(ctx, nil, "init", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/4999",
		"--mode", "client", "--no-mdns", "--prefix", "/myapp", "--storage", "memory://",
		"--bootstrap", "/ip4/127.0.0.1/tcp/4101/p2p/12D3KooWGRUVh7TmVTNNfckbuMsL4tH2Bu1fvWBFBFNsG3gXvs7q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "init.golden", normalise(out, dir))
	_, id, _ := strings.Cut(out, "  peer ID        ")
	id, _, _ = strings.Cut(id, "\n")
	if want := "Start it with: netabase daemon --data-dir " + dir + "\nOther nodes join it with: netabase daemon --bootstrap /ip4/127.0.0.1/tcp/4999/p2p/" + id + "\n"; errOut != want {
		t.Errorf("init said %q on stderr, want %q", errOut, want)
	}
	c, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "client" || c.MDNS || c.ProtocolPrefix != "/myapp" || c.Storage != "memory://" || len(c.Listen) != 1 || len(c.Bootstrap) != 1 {
		t.Errorf("the flags were not written: %+v", c)
	}
	for name, perm := range map[string]os.FileMode{config.FileName: 0o600, node.IdentityFile: 0o600, ".": 0o700} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != perm {
			t.Errorf("%s: %v, %v; want mode %v", name, fi.Mode(), err, perm)
		}
	}
	code, _, errOut = runIn(ctx, nil, "init", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "already holds a node") {
		t.Errorf("second init: exit %d, %s", code, errOut)
	}

	code, out, _ = runIn(ctx, nil, "init", "--json", "--data-dir", filepath.Join(dir, "other"))
	var res initResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.NewIdentity || res.PeerID == "" {
		t.Errorf("init --json: exit %d, %s", code, out)
	}
	if want := "pebble://" + filepath.Join(dir, "other", "store"); res.Storage != want {
		t.Errorf("default storage %q, want %q", res.Storage, want)
	}
	// On the default listen addresses, the addresses to bootstrap from are
	// this machine's, on the default port.
	for _, a := range res.Addrs {
		if !strings.Contains(a, "/tcp/4101/p2p/"+res.PeerID) || strings.HasPrefix(a, "/ip4/0.0.0.0/") || strings.HasPrefix(a, "/ip6/::/") {
			t.Errorf("init --json gave %q to bootstrap from", a)
		}
	}
	if len(res.Addrs) == 0 {
		t.Error("init --json gave no address to bootstrap from")
	}
	// A port chosen at start gives none, and says the daemon prints them.
	code, out, errOut = runIn(ctx, nil, "init", "--data-dir", filepath.Join(dir, "port0"), "--listen", "/ip4/127.0.0.1/tcp/0")
	if code != 0 || strings.Contains(out, "addresses") || !strings.Contains(errOut, "the daemon prints its addresses") {
		t.Errorf("init on port 0: exit %d, %q, %q", code, out, errOut)
	}

	// NETABASE_PATH names the default data directory.
	t.Setenv(dataDirEnv, filepath.Join(dir, "from-env"))
	if code, _, errOut := runIn(ctx, nil, "init"); code != 0 {
		t.Fatalf("init with $%s: %s", dataDirEnv, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-env", config.FileName)); err != nil {
		t.Errorf("$%s was not used: %v", dataDirEnv, err)
	}
}

func TestInitBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "fast"}, `--mode: "fast" is not a mode`},
		{[]string{"--listen", "nowhere"}, `--listen: "nowhere" is not a multiaddr`},
		{[]string{"--bootstrap", "/ip4/1.2.3.4/tcp/1"}, "--bootstrap: "},
		{[]string{"--prefix", "x"}, "--prefix: "},
		{[]string{"--storage", ""}, "--storage: is empty"},
		{[]string{"--storage", "pebble://relative/store"}, "--storage: invalid storage URL pebble://relative/store: the path must be absolute"},
		{[]string{"--storage", "memory://?sync=true"}, `--storage: invalid storage URL memory://?sync=true: unknown parameter "sync"`},
		{[]string{"--storage", "nosuch:///x"}, `--storage: invalid storage URL "nosuch:///x": unknown scheme`},
	} {
		dir := filepath.Join(shortDir(t), "n")
		code, _, errOut := runIn(t.Context(), nil, append([]string{"init", "--data-dir", dir}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("init %q: exit %d, %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("init %q created %s", tc.args, dir)
		}
	}
}

// TestDaemon: a daemon on a fresh data directory creates its node, serves
// every client command, and stops on cancellation, removing its socket.
func TestDaemon(t *testing.T) {
	t.Setenv(certDirEnv, t.TempDir()) // id.golden shows the suite run at start
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	a := startDaemon(t, ctx, "--storage", "memory://", "--mode", "server")
	if !strings.HasPrefix(a.out.String(), "First start: created a node in "+a.dir) {
		t.Errorf("first start said:\n%s", a.out.String())
	}
	b := startDaemon(t, ctx, "--storage", "memory://", "--mode", "server", "--bootstrap", a.addr)

	golden(t, "id.golden", normalise(a.cli(t, ctx, "id"), a.dir))
	var id struct {
		ID    string
		Addrs []string
	}
	if err := json.Unmarshal([]byte(a.cli(t, ctx, "id", "--json")), &id); err != nil || len(id.Addrs) == 0 {
		t.Fatalf("id --json: %v", err)
	}

	// b bootstrapped from a at start; bootstrap again to be sure the
	// routing tables hold each other.
	if out, errOut := b.cliBoth(t, ctx, "bootstrap"); out != "" || !strings.Contains(errOut, "Connected to 1 bootstrap peer; the routing table holds 1 peer.") {
		t.Errorf("bootstrap: stdout %q, stderr %q", out, errOut)
	}
	a.cli(t, ctx, "bootstrap", "--json")
	peers := strings.Split(a.cli(t, ctx, "peers"), "\n")
	if len(peers) != 3 || !strings.HasPrefix(peers[0], "PEER") || !strings.Contains(peers[1], " in ") || !strings.Contains(peers[1], "netabase/") || !strings.Contains(peers[1], " yes ") {
		t.Errorf("peers:\n%s", strings.Join(peers, "\n"))
	}

	bEvents := streamEvents(t, ctx, b.dir)

	// Data on stdout, sentences on stderr: KEY=$(netabase put ...) is the key.
	put, said := a.cliBoth(t, ctx, "put", "greeting", "hello, world", "--schema", "text/plain")
	golden(t, "put.golden", normalise(put))
	if want := "Stored, and sent to 1 peer; 1 accepted it.\n"; said != want {
		t.Errorf("put said %q on stderr, want %q", said, want)
	}
	key := strings.TrimSuffix(put, "\n")
	if got := b.cli(t, ctx, "get", key); got != "hello, world" {
		t.Errorf("b got %q", got)
	}
	if got := a.cli(t, ctx, "get", "greeting"); got != "hello, world" {
		t.Errorf("a got its own record by name: %q", got)
	}
	var onTerminal bytes.Buffer
	e := &env{stdout: &onTerminal, stderr: io.Discard, stdoutTerminal: true, registry: all.Registry()}
	if code := execute(ctx, e, []string{"get", "greeting", "--data-dir", a.dir}); code != 0 || onTerminal.String() != "hello, world\n" {
		t.Errorf("get on a terminal: exit %d, %q; want the value and a newline", code, onTerminal.String())
	}
	var rec struct {
		Source   string
		Envelope struct{ Schema, Owner string }
	}
	if err := json.Unmarshal([]byte(b.cli(t, ctx, "get", "--json", key)), &rec); err != nil || rec.Envelope.Schema != "text/plain" || rec.Envelope.Owner != id.ID {
		t.Errorf("get --json: %+v, %v", rec, err)
	}
	code, _, _ := runIn(ctx, strings.NewReader("from stdin"), "put", "piped", "-", "--data-dir", a.dir)
	if code != 0 {
		t.Fatal("put from stdin failed")
	}
	if got := a.cli(t, ctx, "get", "piped"); got != "from stdin" {
		t.Errorf("the value from stdin came back as %q", got)
	}
	file := filepath.Join(a.dir, "value.txt")
	if err := os.WriteFile(file, []byte("from a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.cli(t, ctx, "put", "filed", "@"+file)
	if got := a.cli(t, ctx, "get", "filed"); got != "from a file" {
		t.Errorf("the value from a file came back as %q", got)
	}
	golden(t, "records.golden", normalise(b.cli(t, ctx, "records")))
	if out, errOut := b.cliBoth(t, ctx, "rm", key); out != "" || !strings.Contains(errOut, "Removed the local copy") {
		t.Errorf("rm: stdout %q, stderr %q", out, errOut)
	}
	if code, _, errOut := runIn(ctx, nil, "rm", key, "--data-dir", b.dir); code != 1 || !strings.Contains(errOut, "holds no copy of record") {
		t.Errorf("rm twice: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runIn(ctx, nil, "get", "nothing", "--data-dir", a.dir); code != 1 || !strings.Contains(errOut, "no record") {
		t.Errorf("get of a missing record: exit %d, %s", code, errOut)
	}

	provided, said := a.cliBoth(t, ctx, "provide", "the-dataset")
	golden(t, "provide.golden", normalise(provided))
	if want := "Providing it; announced to 1 peer.\n"; said != want {
		t.Errorf("provide said %q on stderr, want %q", said, want)
	}
	golden(t, "findprovs.golden", normalise(b.cli(t, ctx, "findprovs", "the-dataset")))
	var provs struct {
		CID       string
		Providers []struct{ ID string }
	}
	if err := json.Unmarshal([]byte(b.cli(t, ctx, "findprovs", "--json", "the-dataset")), &provs); err != nil || len(provs.Providers) != 1 || provs.Providers[0].ID != id.ID {
		t.Errorf("findprovs --json: %+v, %v", provs, err)
	}
	if out, _ := a.cliBoth(t, ctx, "unprovide", "the-dataset"); out != provided {
		t.Errorf("unprovide printed %q, want the CID alone", out)
	}

	if out := a.cli(t, ctx, "dht", "mode"); out != "DHT mode: server (serving)\n" {
		t.Errorf("dht mode: %q", out)
	}
	if out := a.cli(t, ctx, "dht", "mode", "client"); out != "DHT mode: client (not serving)\n" {
		t.Errorf("dht mode client: %q", out)
	}
	if code, _, errOut := runIn(ctx, nil, "dht", "mode", "fast", "--data-dir", a.dir); code != 2 || !strings.Contains(errOut, "not a DHT mode") {
		t.Errorf("dht mode fast: exit %d, %s", code, errOut)
	}
	if out := a.cli(t, ctx, "protocols"); !strings.HasPrefix(out, "DHT:    /netabase/kad/1.0.0 (prefix /netabase)\nHandled:\n") || strings.Contains(out, "\n  /netabase/kad") {
		t.Errorf("protocols of a client:\n%s", out)
	}
	// b's event stream saw a's record arrive and a's provider record.
	bEvents.expect(t, ctx, `"type":"record.received"`, `"type":"record.removed","time":"`, `"key":"`+key+`"`, `"type":"provider.added"`)
	if out := a.cli(t, ctx, "events", "--json", "--timeout", "100ms"); out != "" {
		t.Errorf("events --json printed %q with nothing happening", out)
	}

	// Between two clients (a is one now) no DHT traffic redials a peer, so
	// a connection comes and goes exactly as the commands say.
	c := startDaemon(t, ctx, "--storage", "memory://", "--mode", "client")
	cEvents := streamEvents(t, ctx, c.dir)
	at := strings.TrimSuffix(id.Addrs[0], "/p2p/"+id.ID)
	if out, errOut := c.cliBoth(t, ctx, "connect", id.Addrs[0]); out != "" || errOut != "Connected to "+id.ID+" at "+at+".\n" {
		t.Errorf("connect: stdout %q, stderr %q", out, errOut)
	}
	if _, errOut := c.cliBoth(t, ctx, "connect", "/ip4/127.0.0.1/tcp/9/p2p/"+id.ID); errOut != "Already connected to "+id.ID+" at "+at+"; the address given was not used.\n" {
		t.Errorf("connect at a wrong address: %q", errOut)
	}
	want := "{\n  \"peer\": \"" + id.ID + "\",\n  \"addr\": \"" + at + "\",\n  \"at_addr_given\": true,\n  \"already_connected\": true\n}\n"
	if out := c.cli(t, ctx, "connect", "--json", id.Addrs[0]); out != want {
		t.Errorf("connect --json: %s", out)
	}
	if out, errOut := c.cliBoth(t, ctx, "disconnect", id.ID); out != "" || !strings.Contains(errOut, "Disconnected") {
		t.Errorf("disconnect: stdout %q, stderr %q", out, errOut)
	}
	cEvents.expect(t, ctx, `"type":"peer.connected","time":"`, `"peer":"`+id.ID+`"`, `"type":"peer.disconnected"`)
	bEvents.stop(t)
	cEvents.stop(t)

	a.shutdown(t)
	if !strings.HasSuffix(a.out.String(), "Stopping...\nStopped.\n") {
		t.Errorf("the daemon's last words:\n%s", a.out.String())
	}
	if _, err := os.Stat(filepath.Join(a.dir, config.SocketFile)); !os.IsNotExist(err) {
		t.Errorf("the socket outlived the daemon: %v", err)
	}
	if code, _, errOut := runIn(ctx, nil, "id", "--data-dir", a.dir); code != 1 || !strings.Contains(errOut, "no netabase daemon is running") {
		t.Errorf("id after the daemon stopped: exit %d, %s", code, errOut)
	}
}

func TestDaemonRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// A daemon is already running for the data directory.
	a := startDaemon(t, ctx, "--storage", "memory://")
	code, _, errOut := runIn(ctx, nil, "daemon", "--data-dir", a.dir, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0")
	if code != 1 || !strings.Contains(errOut, "already running") {
		t.Errorf("second daemon: exit %d, %s", code, errOut)
	}
	// The first keeps running, and its socket.
	a.cli(t, ctx, "id")
	// A configuration error names the file, line and key.
	dir := shortDir(t)
	if err := os.WriteFile(filepath.Join(dir, config.FileName), []byte("storage = \"memory://\"\n\nmode = \"sometimes\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runIn(ctx, nil, "daemon", "--data-dir", dir)
	if want := filepath.Join(dir, config.FileName) + `:3: key mode: "sometimes" is not a mode`; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("bad config: exit %d, %s; want %s", code, errOut, want)
	}
	// So does a value TOML cannot read, saying what the key takes.
	if err := os.WriteFile(filepath.Join(dir, config.FileName), []byte("storage = \"memory://\"\nmdns = yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runIn(ctx, nil, "daemon", "--data-dir", dir)
	if want := filepath.Join(dir, config.FileName) + `:2: key mdns: yes is not a TOML value`; code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "the key takes a boolean: true or false") {
		t.Errorf("unreadable value: exit %d, %s; want %s and what the key takes", code, errOut, want)
	}
	// An empty configuration file is refused, not taken as all defaults.
	if err := os.WriteFile(filepath.Join(dir, config.FileName), []byte("\n  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runIn(ctx, nil, "daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--new-identity")
	if want := filepath.Join(dir, config.FileName) + " is empty"; code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "netabase init") {
		t.Errorf("empty config: exit %d, %s; want %s", code, errOut, want)
	}
	// So is a storage URL its backend refuses, in the file or a flag.
	if err := os.WriteFile(filepath.Join(dir, config.FileName), []byte("mdns = false\nstorage = \"pebble://relative/store\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runIn(ctx, nil, "daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--new-identity")
	if want := filepath.Join(dir, config.FileName) + ":2: key storage: invalid storage URL pebble://relative/store"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("bad storage URL in the file: exit %d, %s; want %s", code, errOut, want)
	}
	code, _, errOut = runIn(ctx, nil, "daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--new-identity", "--storage", "leveldb:///x?cache=lots")
	if code != 2 || !strings.Contains(errOut, "--storage: invalid storage URL leveldb:///x?cache=lots") {
		t.Errorf("bad --storage: exit %d, %s", code, errOut)
	}
	// A storage URL for another engine than the store holds is refused
	// before the suite runs (no certificate is written), changing nothing.
	certs := t.TempDir()
	t.Setenv(certDirEnv, certs)
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, core.MarkerFile), []byte("netabase store\nengine pebble\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runIn(ctx, nil, "daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--new-identity", "--storage", "badger://"+store)
	if want := "cannot use " + store + " as a badger store: it holds a pebble store; open it with pebble://" + store; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("--storage of another engine: exit %d, %s; want %s", code, errOut, want)
	}
	if _, err := os.Stat(filepath.Join(certs, core.CertificateFile)); !os.IsNotExist(err) {
		t.Errorf("the suite ran for a store the backend refuses (%s: %v)", core.CertificateFile, err)
	}
	if entries, err := os.ReadDir(store); err != nil || len(entries) != 1 {
		t.Errorf("the refused store holds %v (%v); want only its marker", entries, err)
	}
	// A data directory that is a file.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"init", "daemon"} {
		code, _, errOut = runIn(ctx, nil, cmd, "--data-dir", file)
		if want := "the data directory " + file + " is not a directory"; code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("%s on a file: exit %d, %s; want %s", cmd, code, errOut, want)
		}
	}
	// A bad override is a usage error naming the flag.
	code, _, errOut = runIn(ctx, nil, "daemon", "--data-dir", dir, "--mode", "x")
	if code != 1 && code != 2 || !strings.Contains(errOut, "mode") {
		t.Errorf("bad flag: exit %d, %s", code, errOut)
	}
}

// TestDaemonIdentity: a node whose identity key is missing does not start
// as a new peer unless told to; a key others can read is warned about.
func TestDaemonIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := shortDir(t)
	if code, _, errOut := runIn(ctx, nil, "init", "--data-dir", dir, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"); code != 0 {
		t.Fatalf("init: exit %d, %s", code, errOut)
	}
	key := filepath.Join(dir, node.IdentityFile)
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runIn(ctx, nil, "daemon", "--data-dir", dir)
	if code != 1 || !strings.Contains(errOut, "no identity key ("+key+")") || !strings.Contains(errOut, "--new-identity") {
		t.Errorf("daemon without its identity key: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Fatalf("the refused daemon created %s: %v", key, err)
	}

	d := startDaemonIn(t, ctx, dir, "--new-identity")
	d.shutdown(t)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	d = startDaemonIn(t, ctx, dir)
	d.shutdown(t)
	if want := "warning: the identity key " + key + " can be read by other users (mode -rw-r--r--); make it private with: chmod 600 " + key; !strings.Contains(d.stderr.String(), want) {
		t.Errorf("daemon with a readable key; stderr:\n%s\nwant %s", d.stderr.String(), want)
	}

	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(key, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runIn(ctx, nil, "daemon", "--data-dir", dir); code != 1 || !strings.Contains(errOut, key+" is not a file") {
		t.Errorf("daemon with a directory for its key: exit %d, %s", code, errOut)
	}
}

// TestHelp: every command's long help ends with the EXIT STATUS section.
func TestHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !strings.HasSuffix(c.Long, exitStatusHelp) {
			t.Errorf("the help of %q does not end with EXIT STATUS", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub)
			}
		}
	}
	walk(newRootCmd(&env{stdout: io.Discard, stderr: io.Discard, registry: all.Registry()}))
}

func TestClientUsage(t *testing.T) {
	dir := shortDir(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"put", "k"}, 2, "takes a key and a value"},
		{[]string{"get"}, 2, "takes a key"},
		{[]string{"put", "k", "@/nonexistent/file"}, 2, "cannot read the value"},
		{[]string{"put", "k", "-"}, 2, "no standard input"},
		{[]string{"findprovs", "k", "--limit", "-1"}, 2, "negative"},
		{[]string{"dht", "mode", "a", "b"}, 2, "at most one mode"},
		{[]string{"peers"}, 1, "no netabase daemon is running"},
		{[]string{"events", "--timeout", "1s"}, 1, "no netabase daemon is running"},
	} {
		code, _, errOut := runIn(t.Context(), nil, append(tc.args, "--data-dir", dir)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("netabase %q: exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
