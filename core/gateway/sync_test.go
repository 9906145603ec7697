package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/gateway"
	"github.com/netabase/netabase/core/gateway/wsync"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// syncNode starts a node that serves the sync endpoint and has joined
// settings.
func syncNode(t *testing.T, settings replica.Settings) (*node.Node, *node.Synced, string) {
	t.Helper()
	n, srv := startNodeWith(t, gateway.Options{Sync: true, AllowedOrigins: []string{"http://page.test"}})
	s, err := n.JoinSync(testContext(t), settings)
	if err != nil {
		t.Fatal(err)
	}
	return n, s, "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync/" + settings.Name + "/ws"
}

// page is a client replica with its own key, as a page would have.
type page struct {
	priv  crypto.PrivKey
	id    peer.ID
	r     *replica.Replica
	clock *envelope.Clock
}

func newPage(t *testing.T, settings replica.Settings) *page {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(priv)
	r, err := replica.Open(testContext(t), dssync.MutexWrap(ds.NewMapDatastore()), settings)
	if err != nil {
		t.Fatal(err)
	}
	return &page{priv, id, r, envelope.NewClock()}
}

// put writes the page's own record, as the page's side of model.Synced
// will.
func (p *page) put(t *testing.T, key, value string) {
	t.Helper()
	name := p.r.Settings().Name
	e, err := envelope.Seal(p.priv, name+"/"+key, name, 1, p.clock.Now(), []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.r.Insert(testContext(t), "", []replica.Verified{{Env: e, Data: data}}); err != nil || n != 1 {
		t.Fatalf("storing the page's record: %d, %v", n, err)
	}
}

// sync runs wsync.Sync for p until the test ends; its error goes to the
// returned channel.
func (p *page) sync(t *testing.T, url string, o wsync.Options) <-chan error {
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	o.Peer = p.id
	go func() {
		done <- wsync.Sync(ctx, url, p.r, o)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return done
}

// holdWait bounds holds: well under the nodes' sync interval (a minute),
// so that a record comes by the way the test names, never by the
// reconciliation every node runs each interval.
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
	t.Fatalf("%s's %q never reached the replica", writer, key)
}

func TestSyncCatchUpAndLive(t *testing.T) {
	settings := notes(t)
	a, sa, url := syncNode(t, settings)
	b, sb, _ := syncNode(t, settings)
	ctx := testContext(t)
	if _, err := sa.Put(ctx, "daemon", []byte("before")); err != nil {
		t.Fatal(err)
	}
	p := newPage(t, settings)
	p.put(t, "page", "offline")
	// No session but the first: later records can only come live.
	p.sync(t, url, wsync.Options{Interval: time.Hour})

	// Catch-up both ways, by the first session.
	holds(t, p.r, a.ID(), "daemon", "before")
	holds(t, sa.Replica(), p.id, "page", "offline")

	// Live both ways, through the daemon's gossip to a second node.
	if err := b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}); err != nil {
		t.Fatal(err)
	}
	holds(t, sb.Replica(), p.id, "page", "offline") // b met a: settled
	waitMesh(t, sa, b.ID())
	waitMesh(t, sb, a.ID())
	holds(t, sb.Replica(), a.ID(), "daemon", "before")
	// Sessions that a session storing records started (SYNC.md §5) end
	// before the live records: Reconcile waits for the one under way,
	// and with a and b equal none stores anything, so none starts
	// another. From here only gossip carries a record between a and b
	// within holdWait.
	for _, x := range []struct {
		s *node.Synced
		p peer.ID
	}{{sa, b.ID()}, {sb, a.ID()}} {
		if _, err := x.s.Reconcile(ctx, x.p); err != nil {
			t.Fatal(err)
		}
	}
	p.put(t, "live", "from the page")
	holds(t, sb.Replica(), p.id, "live", "from the page")
	if _, err := sb.Put(ctx, "other", []byte("from b")); err != nil {
		t.Fatal(err)
	}
	holds(t, p.r, b.ID(), "other", "from b")
}

// waitMesh waits until s's topic lists p.
func waitMesh(t *testing.T, s *node.Synced, p peer.ID) {
	t.Helper()
	waitFor(t, p.String()+" in the topic", func() bool { return slices.Contains(s.Status().TopicPeers, p) })
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	nodetest.Eventually(t, testContext(t), what, cond)
}

func TestSyncOtherSettings(t *testing.T) {
	_, _, url := syncNode(t, notes(t))
	other, err := replica.Settings{Name: "notes", MaxRecordsPerWriter: 10}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t, other)
	err = <-p.sync(t, url, wsync.Options{})
	var refused *wsync.RefusedError
	if !errors.As(err, &refused) || refused.Code != wsync.CodeOtherSettings || !strings.Contains(refused.Reason, "max_records_per_writer is 10 there and 100000 here") {
		t.Fatalf("Sync with other settings: %v", err)
	}
}

func TestSyncWriterRefused(t *testing.T) {
	writer := newPage(t, notes(t))
	settings, err := replica.Settings{Name: "notes", Writers: []peer.ID{writer.id}}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	_, s, url := syncNode(t, settings)
	// A page of another writer, whose replica takes its own records
	// whatever the list says, as a buggy or hostile page's would.
	p := newPage(t, notes(t))
	p.r, err = replica.Open(testContext(t), dssync.MutexWrap(ds.NewMapDatastore()), settings)
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan string, 1)
	ready := make(chan struct{}, 1)
	p.sync(t, url, wsync.Options{
		Refused: func(key, reason string) { refused <- key + ": " + reason },
		Session: func(peer.ID, replica.Stats, error) {
			select {
			case ready <- struct{}{}:
			default:
			}
		},
	})
	select {
	case <-ready:
	case <-testContext(t).Done():
		t.Fatal("no session ran")
	}
	e, err := envelope.Seal(p.priv, "notes/k", "notes", 1, p.clock.Now(), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := e.Marshal()
	// Inserted as the page's own, bypassing its replica's check.
	if _, err := p.r.Insert(testContext(t), "", []replica.Verified{{Env: e, Data: data}}); err != nil {
		t.Fatal(err)
	}
	select {
	case why := <-refused:
		if !strings.Contains(why, e.Key) || !strings.Contains(why, "writer") {
			t.Fatalf("refusal %q names neither the record nor the writer list", why)
		}
	case <-testContext(t).Done():
		t.Fatal("the page was never told why its record was refused")
	}
	if _, err := s.Replica().Envelope(testContext(t), e.Key); err == nil {
		t.Fatal("the daemon stored a record of a writer not on the list")
	}
}

func TestSyncBadOrigin(t *testing.T) {
	_, _, url := syncNode(t, notes(t))
	_, res, err := websocket.Dial(testContext(t), url, &websocket.DialOptions{
		Subprotocols: wsync.Subprotocols,
		HTTPHeader:   http.Header{"Origin": {"http://evil.test"}},
	})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("a page of an origin not listed connected: %v", err)
	}
	ws, _, err := websocket.Dial(testContext(t), url, &websocket.DialOptions{
		Subprotocols: wsync.Subprotocols,
		HTTPHeader:   http.Header{"Origin": {"http://page.test"}},
	})
	if err != nil {
		t.Fatalf("a page of a listed origin: %v", err)
	}
	ws.CloseNow()
}

// handshake opens a raw sync connection and says hello.
func handshake(t *testing.T, url string, settings replica.Settings) *websocket.Conn {
	t.Helper()
	return handshakeAs(t, url, settings, newPage(t, settings).id)
}

// handshakeAs opens a raw sync connection and says hello as client id.
func handshakeAs(t *testing.T, url string, settings replica.Settings, id peer.ID) *websocket.Conn {
	t.Helper()
	ctx := testContext(t)
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: wsync.Subprotocols})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(wsync.MaxMessage)
	h, err := wsync.NewHello(settings, id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(h)
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	if typ, _, err := ws.Read(ctx); err != nil || typ != websocket.MessageText {
		t.Fatalf("the daemon's hello: %v", err)
	}
	return ws
}

func TestSyncBadFrames(t *testing.T) {
	settings := notes(t)
	n, s, url := syncNode(t, settings)
	ctx := testContext(t)

	// A malformed first message: the session is refused, with the
	// reason, and the connection stays.
	ws := handshake(t, url, settings)
	if err := ws.Write(ctx, websocket.MessageBinary, []byte{wsync.KindFrame, 0xff, 0x00}); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil || len(b) == 0 || b[0] != wsync.KindFrame {
		t.Fatalf("the answer to a malformed frame: %x, %v", b, err)
	}
	m, err := replica.Decode(b[1:])
	if err != nil || !strings.Contains(m.Error, "malformed") {
		t.Fatalf("the refusal of a malformed frame: %+v, %v", m, err)
	}

	// An oversized message ends the connection with 1009.
	ws = handshake(t, url, settings)
	big := make([]byte, wsync.MaxMessage+1)
	big[0] = wsync.KindFrame
	_ = ws.Write(ctx, websocket.MessageBinary, big)
	_, _, err = ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("an oversized frame: %v", err)
	}

	// The daemon serves on.
	if _, err := s.Put(ctx, "after", []byte("still")); err != nil {
		t.Fatal(err)
	}
	p := newPage(t, settings)
	p.sync(t, url, wsync.Options{})
	holds(t, p.r, n.ID(), "after", "still")
}

// TestSyncRate: a page that sends live records past its connection's
// rate has them refused, with a notice naming the rate, and counted;
// meanwhile the daemon serves its other page and its libp2p peer as
// before, and the flooding page too.
func TestSyncRate(t *testing.T) {
	settings := notes(t)
	n, srv := startNodeWith(t, gateway.Options{Sync: true, SyncRecordsPerSecond: 0.01})
	s, err := n.JoinSync(testContext(t), settings)
	if err != nil {
		t.Fatal(err)
	}
	b, sb, _ := syncNode(t, settings)
	if err := b.Connect(testContext(t), peer.AddrInfo{ID: n.ID(), Addrs: n.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitMesh(t, s, b.ID())
	waitMesh(t, sb, n.ID())
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync/notes/ws"
	p, quiet := newPage(t, settings), newPage(t, settings)
	refused := make(chan string, 4)
	ready := make(chan struct{}, 2)
	session := func(peer.ID, replica.Stats, error) {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	p.sync(t, url, wsync.Options{Refused: func(key, reason string) { refused <- reason }, Session: session})
	quiet.sync(t, url, wsync.Options{Refused: func(key, reason string) { t.Errorf("the quiet page's %s refused: %s", key, reason) }, Session: session})
	for range 2 {
		select {
		case <-ready:
		case <-testContext(t).Done():
			t.Fatal("no session ran")
		}
	}
	// A burst of one record a connection, then one in 100 s: the first
	// is taken, the second refused.
	p.put(t, "one", "taken")
	p.put(t, "two", "past the rate")
	select {
	case why := <-refused:
		if !strings.Contains(why, "past its rate") {
			t.Fatalf("refusal %q does not name the rate", why)
		}
	case <-testContext(t).Done():
		t.Fatal("a record past the rate was not refused")
	}
	holds(t, s.Replica(), p.id, "one", "taken")
	// Counted where sync status and the metrics read the refusals.
	if got := s.Status().Refused[replica.RefusedRate]; got != 1 {
		t.Fatalf("%d records counted as refused past the rate, want 1", got)
	}
	if _, err := s.Replica().Get(testContext(t), p.id, "two"); err == nil {
		t.Fatal("the daemon took a record past the rate")
	}
	// The daemon serves the others as before: the quiet page's record
	// reaches the peer, the peer's reaches both pages.
	quiet.put(t, "three", "from the quiet page")
	holds(t, sb.Replica(), quiet.id, "three", "from the quiet page")
	if _, err := sb.Put(testContext(t), "four", []byte("from the peer")); err != nil {
		t.Fatal(err)
	}
	holds(t, quiet.r, b.ID(), "four", "from the peer")
	holds(t, p.r, b.ID(), "four", "from the peer")
}

// TestSyncSlowReaderReconnects: a client that reads so slowly that the
// node's live feed to it loses records is closed with 1013, so that it
// reconnects and its session brings them, instead of the feed going on
// without them.
func TestSyncSlowReaderReconnects(t *testing.T) {
	const n = 20_000
	settings := notes(t)
	_, s, url := syncNode(t, settings)
	ctx := testContext(t)
	ws := handshake(t, url, settings) // and then reads nothing for a while
	// Values large enough to fill the connection's buffers.
	if _, err := s.Replica().Insert(ctx, "", burst(t, n, bytes.Repeat([]byte("n"), 1024))); err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		_, _, err := ws.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusTryAgainLater {
				t.Fatalf("after %d of %d records the connection ended with %v (%v), want close code 1013", got, n, code, err)
			}
			break
		}
		got++
	}
	if got >= n {
		t.Errorf("the client read all %d records and was still closed", got)
	}
}

// holdingSessions returns start, which opens a connection of another
// client and starts a session on it that the node answers and then waits
// on (its first message's fingerprint differs from the node's, which holds
// nothing), and answer, which reads the node's first frame of the session.
func holdingSessions(t *testing.T, ctx context.Context, url string, settings replica.Settings) (start func() *websocket.Conn, answer func(*websocket.Conn) *replica.Message) {
	d := settings.Digest()
	hello := &replica.Message{Collection: settings.Name, Digest: d[:], Ranges: []replica.Range{{Mode: replica.ModeFingerprint, Fingerprint: make([]byte, replica.HashSize)}}}
	start = func() *websocket.Conn {
		ws := handshake(t, url, settings)
		first, err := agreed(t, ws).Encode(hello)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.Write(ctx, websocket.MessageBinary, append([]byte{wsync.KindFrame}, first...)); err != nil {
			t.Fatal(err)
		}
		return ws
	}
	answer = func(ws *websocket.Conn) *replica.Message {
		t.Helper()
		_, b, err := ws.Read(ctx)
		if err != nil || len(b) == 0 || b[0] != wsync.KindFrame {
			t.Fatalf("the node's answer: %x, %v", b, err)
		}
		m, err := agreed(t, ws).Decode(b[1:])
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	return start, answer
}

// agreed is the reconciliation protocol version of the subprotocol ws
// agreed to.
func agreed(t *testing.T, ws *websocket.Conn) replica.Version {
	t.Helper()
	v, ok := wsync.VersionOf(ws.Subprotocol())
	if !ok {
		t.Fatalf("the connection agreed to subprotocol %q", ws.Subprotocol())
	}
	return v
}

// TestSyncGoneClientFreesItsSlot: a client that goes away in the middle
// of a session frees its slot of the node's bound at once, so that the
// next session is admitted within replica.AdmitWait instead of waiting out
// the reply timeout.
func TestSyncGoneClientFreesItsSlot(t *testing.T) {
	settings := notes(t)
	_, _, url := syncNode(t, settings)
	ctx := testContext(t)
	start, answer := holdingSessions(t, ctx, url, settings)
	var held []*websocket.Conn
	for i := range replica.MaxInboundSessions {
		ws := start()
		if m := answer(ws); m.Error != "" {
			t.Fatalf("session %d, within the bound: %+v", i, m)
		}
		held = append(held, ws)
	}
	held[0].CloseNow()
	if m := answer(start()); m.Error != "" || len(m.Ranges) == 0 {
		t.Fatalf("a session after a client of the bound's went away: %+v, want it admitted", m)
	}
}

// TestSyncInboundBound: sessions over the WebSocket take slots of the
// node's bound on the sessions peers start (replica.Inbound), as sessions
// over libp2p streams do: past the sessions it runs and those that wait,
// a session is refused with the bound's error, while those admitted go
// on.
func TestSyncInboundBound(t *testing.T) {
	settings := notes(t)
	_, _, url := syncNode(t, settings)
	ctx := testContext(t)
	start, answer := holdingSessions(t, ctx, url, settings)
	var held []*websocket.Conn
	for i := range replica.MaxInboundSessions {
		ws := start()
		if m := answer(ws); m.Error != "" || len(m.Ranges) == 0 {
			t.Fatalf("session %d, within the bound: %+v", i, m)
		}
		held = append(held, ws)
	}
	// The node runs its bound of sessions: those past it wait and are
	// refused, and one past those that may wait is refused at once.
	var past []*websocket.Conn
	for range replica.MaxWaitingSessions + 1 {
		past = append(past, start())
	}
	for i, ws := range past {
		if m := answer(ws); !strings.Contains(m.Error, "bound of reconciliation sessions") {
			t.Fatalf("session %d past the bound: %+v, want the bound's error", replica.MaxInboundSessions+i, m)
		}
	}
	// The sessions admitted held their slots meanwhile: each ends when its
	// client has nothing more to say.
	empty, err := (&replica.Message{}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for i, ws := range held {
		if err := ws.Write(ctx, websocket.MessageBinary, append([]byte{wsync.KindFrame}, empty...)); err != nil {
			t.Fatal(err)
		}
		if _, b, err := ws.Read(ctx); err != nil || len(b) != 1 || b[0] != wsync.KindEnd {
			t.Fatalf("session %d did not end as a session under way does: %x, %v", i, b, err)
		}
		if err := ws.Write(ctx, websocket.MessageBinary, []byte{wsync.KindEnd}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSyncFrameBytesBound: the messages a sync connection reads take room
// of the node's bound on the frames of the sessions peers start as their
// bytes arrive, so that connections stalled within large messages hold at
// most that bound: past it a connection is closed with 1013, while the
// one holding the room is served on.
func TestSyncFrameBytesBound(t *testing.T) {
	const conns = 3
	settings := notes(t)
	n, s, url := syncNode(t, settings)
	ctx := testContext(t)
	// Three quarters of the node's room each, so that two cannot fit.
	part := append([]byte{wsync.KindFrame}, make([]byte, replica.MaxInboundBytes*3/4)...)
	type result struct {
		i   int
		b   []byte
		err error
	}
	results := make(chan result, conns)
	writers := make([]chan io.WriteCloser, conns)
	var wss []*websocket.Conn
	for range conns {
		wss = append(wss, handshake(t, url, settings))
	}
	for i, ws := range wss {
		writers[i] = make(chan io.WriteCloser, 1)
		go func() {
			// A message begun and not ended: the node reads what came
			// and waits for the rest.
			w, err := ws.Writer(ctx, websocket.MessageBinary)
			if err == nil {
				_, err = w.Write(part)
			}
			if err == nil {
				writers[i] <- w
			}
			close(writers[i])
		}()
		go func() {
			_, b, err := ws.Read(ctx)
			results <- result{i, b, err}
		}()
	}
	closed := make(map[int]bool)
	for range conns - 1 {
		r := <-results
		if code := websocket.CloseStatus(r.err); code != websocket.StatusTryAgainLater || !strings.Contains(r.err.Error(), "bound of reconciliation sessions") {
			t.Fatalf("connection %d past the node's room: %x, %v; want close code 1013 naming the bound", r.i, r.b, r.err)
		}
		closed[r.i] = true
	}
	// The one left holds its room: its message, once ended, is read and
	// answered (a malformed first message: refused with the reason).
	for i := range conns {
		if closed[i] {
			continue
		}
		w, ok := <-writers[i]
		if !ok {
			t.Fatalf("connection %d, within the node's room, could not send its message", i)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r := <-results
		if r.err != nil || len(r.b) == 0 || r.b[0] != wsync.KindFrame {
			t.Fatalf("the answer to connection %d: %v", i, r.err)
		}
		if m, err := replica.Decode(r.b[1:]); err != nil || m.Error == "" {
			t.Fatalf("the answer to connection %d's malformed message: %+v, %v", i, m, err)
		}
	}
	// The room is given back: the node serves on.
	if _, err := s.Put(ctx, "after", []byte("still")); err != nil {
		t.Fatal(err)
	}
	p := newPage(t, settings)
	p.sync(t, url, wsync.Options{})
	holds(t, p.r, n.ID(), "after", "still")
}

// sealed is the envelope data of p's record key with value.
func (p *page) sealed(t *testing.T, key, value string) []byte {
	t.Helper()
	name := p.r.Settings().Name
	e, err := envelope.Seal(p.priv, name+"/"+key, name, 1, p.clock.Now(), []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readRecord reads ws's next message, which must be a live record, and
// returns its key.
func readRecord(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	typ, b, err := ws.Read(testContext(t))
	if err != nil || typ != websocket.MessageBinary || len(b) == 0 || b[0] != wsync.KindRecord {
		t.Fatalf("reading a live record: type %v, %q, %v", typ, b, err)
	}
	key, err := envelope.ClaimedKey(b[1:])
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestSyncNoEcho: a client's live record goes to the other clients, not
// back to the client that sent it.
func TestSyncNoEcho(t *testing.T) {
	settings := notes(t)
	n, s, url := syncNode(t, settings)
	ctx := testContext(t)
	p := newPage(t, settings)
	sender := handshakeAs(t, url, settings, p.id)
	other := handshake(t, url, settings)
	mine := p.sealed(t, "mine", "v")
	if err := sender.Write(ctx, websocket.MessageBinary, append([]byte{wsync.KindRecord}, mine...)); err != nil {
		t.Fatal(err)
	}
	if key := readRecord(t, other); key != envelope.Key(p.id, "notes/mine") {
		t.Fatalf("the other client got %s, want the sender's notes/mine", key)
	}
	// The node's own write comes after it: the sender's next record is
	// that, with no echo of its own before.
	if _, err := s.Put(ctx, "node", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if key := readRecord(t, sender); key != envelope.Key(n.ID(), "notes/node") {
		t.Errorf("the sender got %s back, want only the node's record", key)
	}
}

// TestSyncRefusalNamesBadlySigned: the refusal of a record whose
// signature does not verify names the record by the key it claims.
func TestSyncRefusalNamesBadlySigned(t *testing.T) {
	settings := notes(t)
	_, _, url := syncNode(t, settings)
	ctx := testContext(t)
	p := newPage(t, settings)
	ws := handshakeAs(t, url, settings, p.id)
	e, err := envelope.Seal(p.priv, "notes/forged", "notes", 1, p.clock.Now(), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	e.Signature[0] ^= 0xff
	data, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, append([]byte{wsync.KindRecord}, data...)); err != nil {
		t.Fatal(err)
	}
	typ, b, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageText {
		t.Fatalf("the answer to a forged record: %v, %q, %v", typ, b, err)
	}
	var n wsync.Notice
	if err := json.Unmarshal(b, &n); err != nil || n.Refused == nil {
		t.Fatalf("the answer to a forged record is no refusal: %s (%v)", b, err)
	}
	if n.Refused.Key != e.Key || !strings.Contains(n.Refused.Reason, "signature") {
		t.Errorf("the refusal %+v does not name the record and its signature", *n.Refused)
	}
}

// TestSyncKeepalive: the gateway pings each sync connection every
// Options.SyncPing. A client whose WebSocket answers (it reads, as a
// browser's does by itself) stays connected, its pongs counted in the
// relay's figures; one that answers no ping is closed with
// StatusGoingAway, and is off the node's status.
func TestSyncKeepalive(t *testing.T) {
	settings := notes(t)
	n, srv := startNodeWith(t, gateway.Options{Sync: true, SyncPing: 250 * time.Millisecond})
	s, err := n.JoinSync(testContext(t), settings)
	if err != nil {
		t.Fatal(err)
	}
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync/" + settings.Name + "/ws"
	alive, gone := newPage(t, settings).id, newPage(t, settings).id
	answering := handshakeAs(t, url, settings, alive)
	silent := handshakeAs(t, url, settings, gone)
	ctx := testContext(t)
	read := make(chan error, 1)
	go func() {
		for {
			if _, _, err := answering.Read(ctx); err != nil {
				read <- err
				return
			}
		}
	}()
	relayed := func() map[peer.ID]node.RelayStatus {
		out := make(map[peer.ID]node.RelayStatus)
		for _, r := range s.Status().Relayed {
			out[r.Peer] = r
		}
		return out
	}
	// The node lists a client once its welcome is on its way.
	waitFor(t, "both clients listed", func() bool { r := relayed(); return r[alive].Peer != "" && r[gone].Peer != "" })
	waitFor(t, "the silent client let go", func() bool { _, ok := relayed()[gone]; return !ok })
	waitFor(t, "three pongs of the answering client", func() bool { return relayed()[alive].Pongs >= 3 })
	select {
	case err := <-read:
		t.Fatalf("the answering client's connection ended: %v", err)
	default:
	}
	if p := relayed()[gone]; p.Peer != "" {
		t.Fatalf("the silent client is listed again: %+v", p)
	}
	_, _, err = silent.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
		t.Fatalf("the silent client's connection ended with %v (code %d), want a close with StatusGoingAway", err, code)
	}
}
