package control_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/control"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// shortDir is a temporary directory with a path short enough for a unix
// socket.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nbc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func startNode(t *testing.T, ctx context.Context, dir string, mode node.Mode) *node.Node {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.DataDir, cfg.Mode = dir, mode
	n, err := node.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// serve runs the control API of n in dir and returns a client.
func serve(t *testing.T, ctx context.Context, n *node.Node, dir string) *control.Client {
	t.Helper()
	api := control.NewServer(dir, slog.New(slog.NewTextHandler(t.Output(), nil)))
	api.Ready(n)
	return serveAPI(t, ctx, api, dir)
}

// serveAPI runs api on the socket in dir and returns a client.
func serveAPI(t *testing.T, ctx context.Context, api *control.Server, dir string) *control.Client {
	t.Helper()
	sock := filepath.Join(dir, config.SocketFile)
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- api.Serve(sctx, l) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = l.Close()
	})
	c := control.NewClient(sock)
	t.Cleanup(c.Close)
	return c
}

func TestControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dirA, dirB := shortDir(t), shortDir(t)
	a, b := startNode(t, ctx, dirA, node.ModeServer), startNode(t, ctx, dirB, node.ModeServer)
	ca, cb := serve(t, ctx, a, dirA), serve(t, ctx, b, dirB)

	fi, err := os.Stat(filepath.Join(dirA, config.SocketFile))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket %v, %v; want a socket readable only by its owner", fi.Mode(), err)
	}

	events, err := cb.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}

	id, err := ca.ID(ctx)
	if err != nil || id.ID != a.ID().String() || len(id.Addrs) == 0 || id.Backend.Name != "memory" || id.Admission == nil || id.DataDir != dirA {
		t.Fatalf("id %+v, %v", id, err)
	}
	conn, err := cb.Connect(ctx, id.Addrs[0])
	if err != nil || conn.Peer != id.ID || !conn.AtAddrGiven || conn.Already || !strings.HasPrefix(id.Addrs[0], conn.Addr+"/p2p/") {
		t.Fatalf("connect: %+v, %v", conn, err)
	}
	// A wrong address of a peer already connected is not used, and not
	// kept to be handed to other peers.
	wrong := "/ip4/127.0.0.1/tcp/9/p2p/" + id.ID
	if again, err := cb.Connect(ctx, wrong); err != nil || !again.Already || again.AtAddrGiven || again.Addr != conn.Addr {
		t.Errorf("connect at a wrong address: %+v, %v", again, err)
	}
	for _, addr := range b.PeerAddrs(a.ID()) {
		if strings.HasPrefix(wrong, addr.String()+"/p2p/") {
			t.Errorf("the node keeps the address %s it never reached the peer at", addr)
		}
	}
	for _, c := range []*control.Client{ca, cb} {
		if res, err := c.Bootstrap(ctx); err != nil || res.RoutingTable != 1 {
			t.Fatalf("bootstrap: %+v, %v", res, err)
		}
	}
	if peers, err := ca.Peers(ctx); err != nil || len(peers) != 1 || peers[0].ID != b.ID().String() || !peers[0].Inbound {
		t.Errorf("peers %+v, %v", peers, err)
	}

	put, err := ca.Put(ctx, control.PutRequest{Name: "greeting", Value: []byte("hi"), Schema: "text", Version: 2})
	if err != nil || put.Accepted != 1 || !strings.HasPrefix(put.Key, "/netabase/"+id.ID+"/") {
		t.Fatalf("put: %+v, %v", put, err)
	}
	got, err := cb.Get(ctx, put.Key)
	if err != nil || string(got.Value) != "hi" || got.Envelope == nil || got.Envelope.Owner != id.ID || got.Envelope.Name != "greeting" || got.Envelope.Version != 2 {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if env, err := envelope.Open(put.Key, got.Record); err != nil || string(env.Value) != "hi" {
		t.Errorf("get: the signed record %q does not open: %v", got.Record, err)
	}
	if recs, err := cb.Records(ctx, "netabase"); err != nil || len(recs) != 1 || recs[0].Key != put.Key || recs[0].Size == 0 {
		t.Errorf("records: %+v, %v", recs, err)
	}
	if err := cb.Remove(ctx, put.Key); err != nil {
		t.Fatal(err)
	}
	if err := cb.Remove(ctx, put.Key); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("removing twice: %v (errors must keep their kind across the socket)", err)
	}
	if _, err := ca.Get(ctx, "/netabase/"+id.ID+"/nothing"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("missing record: %v", err)
	}
	if _, err := ca.Put(ctx, control.PutRequest{Key: put.Key, Value: []byte("forged")}); !errors.Is(err, core.ErrRejected) {
		t.Errorf("forged record: %v", err)
	}
	if _, err := ca.Put(ctx, control.PutRequest{}); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("empty put: %v", err)
	}

	prov, err := ca.Provide(ctx, "dataset")
	if err != nil || prov.Sent != 1 || !strings.HasPrefix(prov.CID, "bafk") {
		t.Fatalf("provide: %+v, %v", prov, err)
	}
	found, err := cb.FindProviders(ctx, "dataset", 0)
	if err != nil || found.CID != prov.CID || len(found.Providers) != 1 || found.Providers[0].ID != id.ID {
		t.Errorf("providers: %+v, %v", found, err)
	}
	if res, err := ca.Unprovide(ctx, "dataset"); err != nil || res.CID != prov.CID {
		t.Errorf("unprovide: %+v, %v", res, err)
	}

	if m, err := ca.Mode(ctx); err != nil || m != (control.Mode{Configured: "server", Effective: "server"}) {
		t.Errorf("mode: %+v, %v", m, err)
	}
	if m, err := ca.SetMode(ctx, "client"); err != nil || m.Effective != "client" {
		t.Errorf("set mode: %+v, %v", m, err)
	}
	if _, err := ca.SetMode(ctx, "fast"); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("bad mode: %v", err)
	}
	if p, err := ca.Protocols(ctx); err != nil || p.DHT != "/netabase/kad/1.0.0" || len(p.Host) == 0 {
		t.Errorf("protocols: %+v, %v", p, err)
	}

	// b's event stream saw it all, in order.
	want := []string{"peer.connected", "record.received", "provider.added"}
	for ev, err := range events {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == want[0] {
			if ev.Time.IsZero() || (ev.Type == "record.received" && (ev.Envelope == nil || ev.Key != put.Key)) {
				t.Errorf("event %+v", ev)
			}
			if want = want[1:]; len(want) == 0 {
				break
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("the event stream ended before %v", want)
	}

	// Between two clients (a is one now) no DHT refresh redials a peer, so
	// a connection comes and goes exactly as Connect and Disconnect say.
	dirC := shortDir(t)
	cc := serve(t, ctx, startNode(t, ctx, dirC, node.ModeClient), dirC)
	cEvents, err := cc.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Connect(ctx, id.Addrs[0]); err != nil {
		t.Fatal(err)
	}
	if err := cc.Disconnect(ctx, id.ID); err != nil {
		t.Fatal(err)
	}
	if err := cc.Disconnect(ctx, "not-a-peer"); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("disconnect from a bad ID: %v", err)
	}
	want = []string{"peer.connected", "peer.disconnected"}
	for ev, err := range cEvents {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == want[0] {
			if ev.Peer != id.ID {
				t.Errorf("event %+v, want peer %s", ev, id.ID)
			}
			if want = want[1:]; len(want) == 0 {
				break
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("the event stream ended before %v", want)
	}
}

func TestNoDaemon(t *testing.T) {
	dir := shortDir(t)
	c := control.NewClient(filepath.Join(dir, config.SocketFile))
	defer c.Close()
	_, err := c.ID(t.Context())
	if !errors.Is(err, control.ErrNoDaemon) || !strings.Contains(err.Error(), "netabase daemon") {
		t.Errorf("got %v", err)
	}
	// A socket left by a daemon that died: nobody answers.
	l, err := net.Listen("unix", filepath.Join(dir, config.SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = l.Close()
	if _, err := c.ID(t.Context()); !errors.Is(err, control.ErrNoDaemon) {
		t.Errorf("stale socket: %v", err)
	}
	// A new daemon replaces it.
	l2, err := control.Listen(filepath.Join(dir, config.SocketFile))
	if err != nil {
		t.Fatalf("replacing a stale socket: %v", err)
	}
	defer l2.Close()
	// While it listens, a second daemon is refused.
	if _, err := control.Listen(filepath.Join(dir, config.SocketFile)); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second daemon: %v", err)
	}
}

// TestListenKeepsOtherFiles: what is in the socket's place and is no
// socket is not the remains of a daemon, and stays as it is.
func TestListenKeepsOtherFiles(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, config.SocketFile)
	for name, create := range map[string]func() error{
		"file":          func() error { return os.WriteFile(path, []byte("notes"), 0o600) },
		"directory":     func() error { return os.Mkdir(path, 0o700) },
		"symbolic link": func() error { return os.Symlink(filepath.Join(dir, "elsewhere"), path) },
	} {
		if err := create(); err != nil {
			t.Fatal(err)
		}
		l, err := control.Listen(path)
		if err == nil {
			_ = l.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "a "+name+" is in its place") {
			t.Errorf("%s in the socket's place: %v", name, err)
		}
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode().Type() == os.ModeSocket {
			t.Fatalf("the %s was replaced: %v", name, err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSocketPathTooLong(t *testing.T) {
	_, err := control.Listen("/tmp/" + strings.Repeat("d", 120) + "/netabase.sock")
	if err == nil || !strings.Contains(err.Error(), "shorter --data-dir") {
		t.Errorf("got %v", err)
	}
}

// TestStarting: while the daemon starts, its socket answers every request
// at once with ErrStarting; after Ready, with the node.
func TestStarting(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dir := shortDir(t)
	sock := filepath.Join(dir, config.SocketFile)
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	api := control.NewServer(dir, slog.New(slog.NewTextHandler(t.Output(), nil)))
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- api.Serve(sctx, l) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := control.NewClient(sock)
	defer c.Close()

	if _, err := c.ID(ctx); !errors.Is(err, control.ErrStarting) || !strings.Contains(err.Error(), "the daemon is starting: checking the storage backend") {
		t.Errorf("ID while starting: got %v, want ErrStarting", err)
	}
	if _, err := c.Events(ctx); !errors.Is(err, control.ErrStarting) {
		t.Errorf("Events while starting: got %v, want ErrStarting", err)
	}
	if _, err := c.Put(ctx, control.PutRequest{Name: "n", Value: []byte("v")}); !errors.Is(err, control.ErrStarting) {
		t.Errorf("Put while starting: got %v, want ErrStarting", err)
	}

	n := startNode(t, ctx, dir, node.ModeServer)
	api.Ready(n)
	if id, err := c.ID(ctx); err != nil || id.ID != n.ID().String() {
		t.Errorf("ID when ready: %+v, %v; want %s", id, err, n.ID())
	}
}
