//go:build !(js && wasm)

// These tests run a daemon (a libp2p node and its gateway), which does not
// build for js/wasm.

package page_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/gateway"
	"github.com/netabase/netabase/core/gateway/wsync"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/page"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// The package's nodes share a certificate cache, so the admission gate
// runs the conformance suite once.
func TestMain(m *testing.M) { os.Exit(nodetest.Main(m)) }

// daemon is a loopback node serving its gateway with the sync endpoint,
// behind a switch: while down, every request gets 503, as from a daemon
// that cannot be reached.
type daemon struct {
	n    *node.Node
	srv  *httptest.Server
	down atomic.Bool
	// read and written count the bytes of every connection to srv, as
	// TCP carries them (HTTP and WebSocket framing included).
	read, written atomic.Int64
}

// counted is a connection to a daemon's gateway whose bytes the daemon
// counts.
type counted struct {
	net.Conn
	d *daemon
}

func (c counted) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.d.read.Add(int64(n))
	return n, err
}

func (c counted) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.d.written.Add(int64(n))
	return n, err
}

type countingListener struct {
	net.Listener
	d *daemon
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return counted{c, l.d}, nil
}

// traffic is the bytes the daemon's gateway read and wrote so far.
func (d *daemon) traffic() (read, written int64) { return d.read.Load(), d.written.Load() }

// startDaemon starts a daemon whose gateway serves sync, speaking the
// reconciliation protocol versions given (none: every one).
func startDaemon(t testing.TB, opts gateway.Options, versions ...replica.Version) *daemon {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.SyncVersions = versions
	n, err := node.New(testContext(t), cfg)
	if err != nil {
		t.Fatalf("starting a node: %v", err)
	}
	opts.Sync = true
	d := &daemon{n: n}
	h := gateway.Handler(n, opts)
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.down.Load() {
			http.Error(w, "the daemon is down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	d.srv.Listener = countingListener{d.srv.Listener, d}
	d.srv.Start()
	t.Cleanup(func() {
		d.srv.Close()
		if err := n.Close(); err != nil {
			t.Errorf("closing the node: %v", err)
		}
	})
	return d
}

// url is the daemon's sync endpoint of collection name.
func (d *daemon) url(name string) string {
	return "ws" + strings.TrimPrefix(d.srv.URL, "http") + "/v1/sync/" + name + "/ws"
}

func (d *daemon) join(t testing.TB, settings replica.Settings) *node.Synced {
	t.Helper()
	s, err := d.n.JoinSync(testContext(t), settings)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// holdWait bounds holds: well under the sync interval of the page (an
// hour here) and of the node (a minute), so that a record comes by the way
// the test names.
const holdWait = 20 * time.Second

// holds waits until r holds writer's key with value.
func holds(t *testing.T, r *replica.Replica, writer peer.ID, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), holdWait)
	defer cancel()
	changes := r.Watch(ctx)
	if rec, err := r.Get(ctx, writer, key); err == nil && string(rec.Value) == value {
		return
	}
	for c := range changes {
		if c.Writer == writer && c.Key == key && string(c.Value) == value {
			return
		}
	}
	t.Fatalf("%s's %q = %q never reached the replica", writer, key, value)
}

// pebble opens a pebble store in dir, as a page's durable store.
func pebble(t *testing.T, dir string) core.Backend {
	t.Helper()
	b, err := all.Registry().Open(testContext(t), "pebble://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// caughtUp waits until s caught up with its daemons, and checks they are
// want.
func caughtUp(t *testing.T, s *page.Synced, want ...peer.ID) {
	t.Helper()
	got, err := s.CaughtUp(testContext(t), holdWait)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("caught up with %v, want %v", got, want)
	}
}

// TestOfflineThenConnect: a page writes while its daemon cannot be
// reached, in a store that outlives the page; reopened, it holds its
// writes and its identity, and when the daemon comes back the daemon gets
// them, then the daemon's writes reach the page live.
func TestOfflineThenConnect(t *testing.T) {
	ctx := testContext(t)
	settings := replica.Settings{Name: "notes"}
	d := startDaemon(t, gateway.Options{})
	ds := d.join(t, settings)
	d.down.Store(true)

	dir := t.TempDir()
	b := pebble(t, dir)
	p, err := page.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := p.ID()
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("notes")}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := s.Put(ctx, k, []byte("offline "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "gone", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// Offline, the page counts itself alone.
	if peers, err := s.CaughtUp(ctx, 50*time.Millisecond); err != nil || len(peers) != 0 {
		t.Fatalf("CaughtUp while the daemon is down: %v, %v", peers, err)
	}
	if st := ds.Replica().Status(); st.Records != 0 {
		t.Fatalf("the daemon, down, holds %d records", st.Records)
	}
	if st := s.Status(); len(st.Daemons) != 1 || st.Daemons[0].Connected || st.Daemons[0].Good != 0 {
		t.Fatalf("Status while the daemon is down: %+v", st.Daemons)
	}
	// A reload, still offline: the same identity and writes.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = pebble(t, dir)
	t.Cleanup(func() { _ = b.Close() })
	p = openPage(t, b, nil)
	if p.ID() != id {
		t.Fatalf("reopened as %s, was %s", p.ID(), id)
	}
	s, err = p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("notes")}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Get(ctx, id, "b"); err != nil || string(rec.Value) != "offline b" {
		t.Fatalf("after the reload: %q, %v", rec.Value, err)
	}

	d.down.Store(false)
	holds(t, ds.Replica(), id, "a", "offline a")
	holds(t, ds.Replica(), id, "b", "offline b")
	caughtUp(t, s, d.n.ID())
	if st := s.Status(); !st.Daemons[0].Connected || st.Daemons[0].Good != 1 || st.Daemons[0].LastError != nil {
		t.Fatalf("Status once caught up: %+v", st.Daemons)
	}
	if _, err := ds.Get(ctx, id, "gone"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the page's delete did not reach the daemon: %v", err)
	}
	// Live both ways: the page syncs every hour, and caught up already.
	if _, err := ds.Put(ctx, "from-daemon", []byte("live")); err != nil {
		t.Fatal(err)
	}
	holds(t, s.Replica(), d.n.ID(), "from-daemon", "live")
	if _, err := s.Put(ctx, "c", []byte("online")); err != nil {
		t.Fatal(err)
	}
	holds(t, ds.Replica(), id, "c", "online")
}

// Note is a typed value of a synced collection.
type Note struct {
	ID   string `netabase:"key"`
	Text string
}

// TestTypedThroughDaemon: a typed collection over the page's Synced and
// one over the daemon's node see each other's values, and the page's
// watch sees the daemon's arrive.
func TestTypedThroughDaemon(t *testing.T) {
	ctx := testContext(t)
	d := startDaemon(t, gateway.Options{})
	p := openPage(t, memory(t), nil)
	settings := replica.Settings{Name: "board", Writers: []peer.ID{d.n.ID(), p.ID()}}
	ds := d.join(t, settings)
	rep, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("board")}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	open := func(n model.Network, r model.Replica) *model.Collection[string, Note] {
		st := model.New(n)
		t.Cleanup(func() { _ = st.Close() })
		c, err := model.OpenSynced[string, Note](ctx, st, r)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	onPage, onDaemon := open(p, rep), open(d.n, ds)
	if _, err := onPage.CaughtUp(ctx, holdWait); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	events := onPage.Watch(wctx)
	if err := onDaemon.Put(ctx, Note{ID: "n1", Text: "from the daemon"}); err != nil {
		t.Fatal(err)
	}
	for ev, err := range events {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Key == "n1" && ev.Owner == d.n.ID() && ev.New != nil {
			if ev.New.Text != "from the daemon" {
				t.Fatalf("the page saw %+v", ev.New)
			}
			break
		}
	}
	if n, err := onPage.GetFrom(ctx, d.n.ID(), "n1"); err != nil || n.Text != "from the daemon" {
		t.Fatalf("GetFrom on the page: %+v, %v", n, err)
	}
	if err := onPage.Put(ctx, Note{ID: "n2", Text: "from the page"}); err != nil {
		t.Fatal(err)
	}
	if got, err := onPage.Get(ctx, "n2"); err != nil || got.Text != "from the page" {
		t.Fatalf("Get on the page: %+v, %v", got, err)
	}
	waitFor(t, "the page's note on the daemon", func() bool {
		n, err := onDaemon.GetFrom(ctx, p.ID(), "n2")
		return err == nil && n.Text == "from the page"
	})
	var texts []string
	for n, err := range onPage.Scan(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, n.Text)
	}
	if fmt.Sprint(texts) != "[from the daemon from the page]" && fmt.Sprint(texts) != "[from the page from the daemon]" {
		t.Fatalf("Scan on the page: %q", texts)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), holdWait)
	defer cancel()
	nodetest.Eventually(t, ctx, what, cond)
}

// TestDaemonRefuses: a daemon with other settings, or none of the
// collection, refuses the page, and the page is told why; one
// whose writer list lacks the page is never sent its records, and the
// page's write says why.
func TestDaemonRefuses(t *testing.T) {
	ctx := testContext(t)
	d := startDaemon(t, gateway.Options{})
	d.join(t, replica.Settings{Name: "notes"})
	p := openPage(t, memory(t), nil)
	for _, c := range []struct {
		settings replica.Settings
		url      string
		code     websocket.StatusCode
		want     string
	}{
		{replica.Settings{Name: "notes", MaxRecordsPerWriter: 10}, d.url("notes"), wsync.CodeOtherSettings, "max_records_per_writer is 10 there and 100000 here"},
		{replica.Settings{Name: "other"}, d.url("other"), wsync.CodeNotJoined, "other"},
	} {
		refusals := make(chan page.Refusal, 4)
		s, err := p.JoinSync(ctx, c.settings, page.SyncOptions{Daemons: []string{c.url}, Refused: func(r page.Refusal) { refusals <- r }})
		if err != nil {
			t.Fatal(err)
		}
		var r page.Refusal
		select {
		case r = <-refusals:
		case <-ctx.Done():
			t.Fatalf("%s: the page was never told of the refusal", c.settings.Name)
		}
		var re *wsync.RefusedError
		if r.Key != "" || r.Daemon != c.url || !errors.As(r.Err, &re) || re.Code != c.code || !strings.Contains(r.Reason, c.want) {
			t.Fatalf("the refusal: %+v, want code %d saying %q", r, c.code, c.want)
		}
		if _, err := s.CaughtUp(ctx, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("CaughtUp after a refusal: %v", err)
		}
		if st := s.Status(); len(st.Daemons) != 1 || st.Daemons[0].Refused == nil {
			t.Fatalf("Status after a refusal: %+v", st.Daemons)
		}
		// The page still works, on its own.
		if _, err := s.Put(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := s.Leave(); err != nil {
			t.Fatal(err)
		}
	}

	// A writer list that lacks the page.
	closed := replica.Settings{Name: "closed", Writers: []peer.ID{d.n.ID()}}
	dc := d.join(t, closed)
	s, err := p.JoinSync(ctx, closed, page.SyncOptions{Daemons: []string{d.url("closed")}})
	if err != nil {
		t.Fatal(err)
	}
	caughtUp(t, s, d.n.ID())
	if _, err := s.Put(ctx, "k", []byte("v")); !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "writer list") {
		t.Fatalf("a write of a page not on the writer list: %v", err)
	}
	// It still reads the writers' records.
	if _, err := dc.Put(ctx, "news", []byte("from the writer")); err != nil {
		t.Fatal(err)
	}
	holds(t, s.Replica(), d.n.ID(), "news", "from the writer")
}

// TestNotJoinedTriedAgain: a page that connects before its daemon has
// joined the collection is refused (4404), told so, and tries again after
// its pause: once the daemon joins, the page gets in, its write made
// meanwhile reaches the daemon and the refusal is cleared from Status.
func TestNotJoinedTriedAgain(t *testing.T) {
	ctx := testContext(t)
	d := startDaemon(t, gateway.Options{})
	settings := replica.Settings{Name: "later"}
	p := openPage(t, memory(t), nil)
	refusals := make(chan page.Refusal, 64)
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("later")}, Interval: time.Hour,
		NotJoined: 20 * time.Millisecond, Refused: func(r page.Refusal) { refusals <- r }})
	if err != nil {
		t.Fatal(err)
	}
	// Refused twice: the page tried again after the first.
	for range 2 {
		var r page.Refusal
		select {
		case r = <-refusals:
		case <-ctx.Done():
			t.Fatal("the page was never told of the refusal")
		}
		var re *wsync.RefusedError
		if !errors.As(r.Err, &re) || re.Code != wsync.CodeNotJoined {
			t.Fatalf("the refusal: %+v, want code %d", r, wsync.CodeNotJoined)
		}
	}
	if st := s.Status(); len(st.Daemons) != 1 || st.Daemons[0].Refused == nil {
		t.Fatalf("Status after a refusal: %+v", st.Daemons)
	}
	if _, err := s.Put(ctx, "k", []byte("written before the daemon joined")); err != nil {
		t.Fatal(err)
	}
	ds := d.join(t, settings)
	holds(t, ds.Replica(), p.ID(), "k", "written before the daemon joined")
	caughtUp(t, s, d.n.ID())
	if st := s.Status(); st.Daemons[0].Refused != nil || !st.Daemons[0].Connected {
		t.Fatalf("Status once the daemon joined: %+v", st.Daemons)
	}
}

// TestRecordRefusedByDaemon: a record the daemon does not take (past the
// connection's rate here) reaches the program with the daemon's reason,
// and Status keeps it.
func TestRecordRefusedByDaemon(t *testing.T) {
	ctx := testContext(t)
	d := startDaemon(t, gateway.Options{SyncRecordsPerSecond: 0.01})
	settings := replica.Settings{Name: "notes"}
	ds := d.join(t, settings)
	p := openPage(t, memory(t), nil)
	refusals := make(chan page.Refusal, 4)
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("notes")}, Interval: time.Hour, Refused: func(r page.Refusal) { refusals <- r }})
	if err != nil {
		t.Fatal(err)
	}
	caughtUp(t, s, d.n.ID())
	// A burst of one record a connection, then one in 100 s.
	if _, err := s.Put(ctx, "one", []byte("taken")); err != nil {
		t.Fatal(err)
	}
	two, err := s.Put(ctx, "two", []byte("past the rate"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-refusals:
		if r.Key != s.Replica().RecordKey(two.Writer, two.Key) || !strings.Contains(r.Reason, "past its rate") || r.Err != nil {
			t.Fatalf("the refusal: %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("the page was never told its record was refused")
	}
	holds(t, ds.Replica(), p.ID(), "one", "taken")
	if st := s.Status(); len(st.Daemons) != 1 || len(st.Daemons[0].Records) != 1 {
		t.Fatalf("Status keeps the refusals: %+v", st.Daemons)
	}
}

// TestOneIdentityTwoBrowsers: two pages holding one imported identity are
// one writer: the later write of a key wins on the daemon and on both.
func TestOneIdentityTwoBrowsers(t *testing.T) {
	ctx := testContext(t)
	d := startDaemon(t, gateway.Options{})
	settings := replica.Settings{Name: "notes"}
	ds := d.join(t, settings)
	first := openPage(t, memory(t), nil)
	text, err := first.Identity().Export()
	if err != nil {
		t.Fatal(err)
	}
	b := memory(t)
	if _, err := page.Import(ctx, b, text); err != nil {
		t.Fatal(err)
	}
	second := openPage(t, b, nil)
	if second.ID() != first.ID() {
		t.Fatal("the imported identity differs")
	}
	join := func(p *page.Page) *page.Synced {
		s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("notes")}, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		caughtUp(t, s, d.n.ID())
		return s
	}
	sa, sb := join(first), join(second)
	if _, err := sa.Put(ctx, "k", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	holds(t, sb.Replica(), first.ID(), "k", "from a")
	if _, err := sb.Put(ctx, "k", []byte("from b")); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*replica.Replica{ds.Replica(), sa.Replica(), sb.Replica()} {
		holds(t, r, first.ID(), "k", "from b")
	}
}

// TestFakeDaemon: a daemon that sends a tampered record, a record of
// another collection, a message of no kind the binding knows or an
// oversized one is cut off; the page keeps nothing of it, connects again,
// and stays usable.
func TestFakeDaemon(t *testing.T) {
	ctx := testContext(t)
	settings, err := replica.Settings{Name: "notes"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	fakeID, _ := peer.IDFromPrivateKey(priv)
	seal := func(name, schema string) []byte {
		e, err := envelope.Seal(priv, name, schema, 1, envelope.NewClock().Now(), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := e.Marshal()
		return b
	}
	tampered := seal("notes/k", "notes")
	tampered[len(tampered)-1] ^= 1
	oversized := make([]byte, wsync.MaxMessage+1)
	oversized[0] = wsync.KindRecord
	faults := []struct {
		name string
		msg  []byte
		code websocket.StatusCode
	}{
		{"tampered", append([]byte{wsync.KindRecord}, tampered...), websocket.StatusPolicyViolation},
		{"another collection", append([]byte{wsync.KindRecord}, seal("other/k", "other")...), websocket.StatusPolicyViolation},
		{"unknown kind", []byte{9, 1, 2, 3}, websocket.StatusPolicyViolation},
		{"oversized", oversized, websocket.StatusMessageTooBig},
	}
	var conns atomic.Int32
	closed := make(chan websocket.StatusCode, len(faults))
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(conns.Add(1)) - 1
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: wsync.Subprotocols})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
		h, _ := wsync.NewHello(settings, fakeID)
		b, _ := json.Marshal(h)
		_ = ws.Write(ctx, websocket.MessageText, b)
		if i >= len(faults) {
			// Then an honest, if silent, daemon.
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}
		_ = ws.Write(ctx, websocket.MessageBinary, faults[i].msg)
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
		}
	}))
	defer fake.Close()

	p := openPage(t, memory(t), nil)
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{"ws" + strings.TrimPrefix(fake.URL, "http") + "/v1/sync/notes/ws"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range faults {
		select {
		case code := <-closed:
			if code != f.code {
				t.Errorf("%s: the page closed with %d, want %d", f.name, code, f.code)
			}
		case <-ctx.Done():
			t.Fatalf("%s: the page never closed the connection", f.name)
		}
	}
	if st := s.Replica().Status(); st.Records != 0 || st.Tombstones != 0 {
		t.Fatalf("the page kept %d records of the fake daemon's", st.Records)
	}
	if _, err := s.Put(ctx, "mine", []byte("still usable")); err != nil {
		t.Fatal(err)
	}
	if recs := records(t, s); len(recs) != 1 || recs[0].Writer != p.ID() {
		t.Fatalf("the page's records: %+v", recs)
	}
}

// TestFetchThroughGateway: FetchRecord reads a daemon's record through its
// gateway, verified; a key with no record is core.ErrNotFound.
func TestFetchThroughGateway(t *testing.T) {
	ctx := testContext(t)
	d := startDaemon(t, gateway.Options{})
	key, err := d.n.PublishRecord(ctx, "greeting", "text", 1, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	p := openPage(t, memory(t), &page.Options{Gateway: d.srv.URL})
	e, err := p.FetchRecord(ctx, key)
	if err != nil || string(e.Value) != "hello" || e.Key != key {
		t.Fatalf("FetchRecord: %+v, %v", e, err)
	}
	if _, err := p.FetchRecord(ctx, envelope.Key(p.ID(), "none")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("FetchRecord of a key with no record: %v, want core.ErrNotFound", err)
	}
}

// TestTwoDaemons: a page syncs through two daemons that do not know each
// other: its writes reach both, live, and each daemon's writes reach it,
// and the other daemon by the page's next session with it.
func TestTwoDaemons(t *testing.T) {
	ctx := testContext(t)
	settings := replica.Settings{Name: "notes"}
	da, db := startDaemon(t, gateway.Options{}), startDaemon(t, gateway.Options{})
	sa, sb := da.join(t, settings), db.join(t, settings)
	p := openPage(t, memory(t), nil)
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{da.url("notes"), db.url("notes")}, Interval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := []peer.ID{da.n.ID(), db.n.ID()}
	if want[1] < want[0] {
		want[0], want[1] = want[1], want[0]
	}
	caughtUp(t, s, want...)
	if _, err := s.Put(ctx, "k", []byte("from the page")); err != nil {
		t.Fatal(err)
	}
	holds(t, sa.Replica(), p.ID(), "k", "from the page")
	holds(t, sb.Replica(), p.ID(), "k", "from the page")
	if _, err := sa.Put(ctx, "a", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	holds(t, s.Replica(), da.n.ID(), "a", "from a")
	holds(t, sb.Replica(), da.n.ID(), "a", "from a")
}

// TestLiveNotSentBack: the daemon's live feed does not send a page its own
// live record back (a message and a verification each side), but sends
// the records that follow it; the daemon's status lists the page with
// both counts.
func TestLiveNotSentBack(t *testing.T) {
	ctx := testContext(t)
	d := startDaemon(t, gateway.Options{})
	settings := replica.Settings{Name: "notes"}
	ds := d.join(t, settings)
	p := openPage(t, memory(t), nil)
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("notes")}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	caughtUp(t, s, d.n.ID())
	if _, err := s.Put(ctx, "mine", []byte("from the page")); err != nil {
		t.Fatal(err)
	}
	holds(t, ds.Replica(), p.ID(), "mine", "from the page")
	// The feed sends in order: once the page holds the daemon's later
	// record, the page's own would have gone before it.
	if _, err := ds.Put(ctx, "theirs", []byte("from the daemon")); err != nil {
		t.Fatal(err)
	}
	holds(t, s.Replica(), d.n.ID(), "theirs", "from the daemon")
	st := ds.Status().Relayed
	if len(st) != 1 || st[0].Peer != p.ID() || st[0].RecordsIn != 1 || st[0].RecordsOut != 1 {
		t.Fatalf("the daemon's relayed clients: %+v, want the page with 1 record in and 1 out", st)
	}
}

// TestVersionsMix: a page that offers only reconciliation protocol
// version 1 catches up both ways with a daemon of both versions, and a
// page of both with a daemon of version 1 alone, as pages and daemons did
// before version 2: each side's writes made while they were apart reach
// the other by the session on connecting.
func TestVersionsMix(t *testing.T) {
	for _, tc := range []struct {
		name   string
		page   []replica.Version
		daemon []replica.Version
	}{
		{"a page of version 1 alone, a daemon of both", []replica.Version{replica.Version1}, nil},
		{"a page of both, a daemon of version 1 alone", nil, []replica.Version{replica.Version1}},
		{"both of both", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			settings := replica.Settings{Name: "notes"}
			d := startDaemon(t, gateway.Options{}, tc.daemon...)
			ds := d.join(t, settings)
			for i := range 50 {
				if _, err := ds.Put(ctx, fmt.Sprint("daemon-", i), []byte("d")); err != nil {
					t.Fatal(err)
				}
			}
			d.down.Store(true)
			p := openPage(t, memory(t), nil)
			s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("notes")}, Interval: time.Hour, Versions: tc.page})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				if _, err := s.Put(ctx, fmt.Sprint("page-", i), []byte("p")); err != nil {
					t.Fatal(err)
				}
			}
			d.down.Store(false)
			caughtUp(t, s, d.n.ID())
			holds(t, ds.Replica(), p.ID(), "page-49", "p")
			holds(t, s.Replica(), d.n.ID(), "daemon-49", "d")
			waitFor(t, "equal replicas", func() bool { return ds.Replica().Fingerprint() == s.Replica().Fingerprint() })
			if n := s.Replica().Status().Records; n != 100 {
				t.Fatalf("the page holds %d records, want 100", n)
			}
		})
	}
}

// TestSubprotocols: a daemon picks the newest version it speaks of those
// a client offers, and one that speaks none of them says so and closes
// with 1008.
func TestSubprotocols(t *testing.T) {
	ctx := testContext(t)
	settings := replica.Settings{Name: "notes"}
	both := startDaemon(t, gateway.Options{})
	both.join(t, settings)
	old := startDaemon(t, gateway.Options{}, replica.Version1)
	old.join(t, settings)
	for _, tc := range []struct {
		name  string
		d     *daemon
		offer []string
		want  string
	}{
		{"a daemon of both, offered both", both, wsync.Subprotocols, wsync.Subprotocol2},
		{"a daemon of both, offered version 1", both, []string{wsync.Subprotocol1}, wsync.Subprotocol1},
		{"a daemon of version 1, offered both", old, wsync.Subprotocols, wsync.Subprotocol1},
		{"a daemon of version 1, offered version 2", old, []string{wsync.Subprotocol2}, ""},
	} {
		ws, _, err := websocket.Dial(ctx, tc.d.url("notes"), &websocket.DialOptions{Subprotocols: tc.offer})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := ws.Subprotocol(); got != tc.want {
			t.Errorf("%s: agreed to %q, want %q", tc.name, got, tc.want)
		}
		if tc.want == "" {
			typ, b, err := ws.Read(ctx)
			var n wsync.Notice
			if err != nil || typ != websocket.MessageText || json.Unmarshal(b, &n) != nil || !strings.Contains(n.Error, wsync.Subprotocol1) {
				t.Errorf("%s: the daemon's notice: %q, %v", tc.name, b, err)
			}
			if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Errorf("%s: closed with %v, want 1008", tc.name, err)
			}
		}
		ws.CloseNow()
	}
}
