package wsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/gateway/wsync"
	"github.com/netabase/netabase/core/replica"
)

// TestTamperedRecord: a daemon that sends a record whose signature does
// not verify is cut off (1008), and the client keeps nothing of it.
func TestTamperedRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	settings, err := replica.Settings{Name: "notes"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(priv)
	e, err := envelope.Seal(priv, "notes/k", "notes", 1, envelope.NewClock().Now(), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	tampered, _ := e.Marshal()
	tampered[len(tampered)-1] ^= 1 // the signature's last byte

	closed := make(chan websocket.StatusCode, 1)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: wsync.Subprotocols})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
		h, _ := wsync.NewHello(settings, id)
		b, _ := json.Marshal(h)
		_ = ws.Write(ctx, websocket.MessageText, b)
		_ = ws.Write(ctx, websocket.MessageBinary, append([]byte{wsync.KindRecord}, tampered...))
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				select {
				case closed <- websocket.CloseStatus(err):
				default:
				}
				return
			}
		}
	}))
	defer fake.Close()

	r, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), settings)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	var mu sync.Mutex
	var ups []bool
	connected := func(up bool) {
		mu.Lock()
		ups = append(ups, up)
		mu.Unlock()
	}
	go func() {
		done <- wsync.Sync(sctx, "ws"+strings.TrimPrefix(fake.URL, "http"), r, wsync.Options{Peer: id, Connected: connected})
	}()
	select {
	case code := <-closed:
		if code != websocket.StatusPolicyViolation {
			t.Errorf("the client closed with %d, want %d", code, websocket.StatusPolicyViolation)
		}
	case <-ctx.Done():
		t.Fatal("the client never closed the connection")
	}
	stop()
	<-done
	// Told of each connection the daemon took, and of its end.
	mu.Lock()
	defer mu.Unlock()
	if len(ups) < 2 || len(ups)%2 != 0 || !ups[0] || ups[len(ups)-1] {
		t.Errorf("Connected was told %v, want true and false by turns, from true to false", ups)
	}
	for i, up := range ups {
		if up != (i%2 == 0) {
			t.Errorf("Connected was told %v, want true and false by turns", ups)
			break
		}
	}
	if st := r.Status(); st.Records != 0 || st.Tombstones != 0 {
		t.Fatalf("the client kept %d records of a tampered one", st.Records)
	}
}

// TestMissedLocalWrites: local writes that go by the client's live feed
// unseen (a burst while the daemon took nothing, past the buffer of the
// client's watch) reach the daemon by a session the client starts at
// once, on the same connection: not by reconnecting, nor at the next
// interval (an hour here). The fake daemon drops every live record, so
// only sessions bring it records.
func TestMissedLocalWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	settings, err := replica.Settings{Name: "notes"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	daemonKey, _, _ := crypto.GenerateEd25519Key(nil)
	daemonID, _ := peer.IDFromPrivateKey(daemonKey)
	pageKey, _, _ := crypto.GenerateEd25519Key(nil)
	pageID, _ := peer.IDFromPrivateKey(pageKey)
	dr, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), settings)
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	resume := make(chan struct{})
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: wsync.Subprotocols})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(wsync.MaxMessage)
		m := wsync.NewMux(ctx, ws)
		v, _ := wsync.VersionOf(ws.Subprotocol())
		if _, _, _, err := m.Read(); err != nil {
			return
		}
		h, _ := wsync.NewHello(settings, daemonID)
		b, _ := json.Marshal(h)
		if m.SendText(ctx, b) != nil {
			return
		}
		var prev *wsync.Session
		stalled := false
		for {
			_, kind, b, err := m.Read()
			if err != nil {
				return
			}
			switch kind {
			case wsync.KindRecord:
				if !stalled {
					// Take nothing more until the burst is written.
					stalled = true
					select {
					case <-resume:
					case <-ctx.Done():
						return
					}
				}
			case wsync.KindFrame:
				sess := m.Start(prev)
				prev = sess
				first, err := v.Decode(b)
				if err != nil {
					t.Error(err)
					return
				}
				go func() {
					_, _ = dr.Reconcile(ctx, sess, pageID, first)
					sess.Finish()
				}()
			}
		}
	}))
	defer fake.Close()

	r, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), settings)
	if err != nil {
		t.Fatal(err)
	}
	sessions := make(chan error, 16)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- wsync.Sync(sctx, "ws"+strings.TrimPrefix(fake.URL, "http"), r, wsync.Options{
			Peer: pageID, Interval: time.Hour,
			Session: func(_ replica.Stats, err error) { sessions <- err },
		})
	}()
	defer func() {
		stop()
		<-done
	}()
	if err := <-sessions; err != nil {
		t.Fatalf("the first session: %v", err)
	}
	// Records of 4 KiB: more than the connection buffers while the
	// daemon reads nothing, so the feed falls behind.
	const burst = 3000
	clock := envelope.NewClock()
	value := make([]byte, 4096)
	var vs []replica.Verified
	for i := range burst {
		e, err := envelope.Seal(pageKey, fmt.Sprintf("notes/burst-%05d", i), "notes", 1, clock.Now(), value)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := e.Marshal()
		vs = append(vs, replica.Verified{Env: e, Data: data})
	}
	if _, err := r.Insert(ctx, "", vs); err != nil {
		t.Fatal(err)
	}
	close(resume)
	select {
	case err := <-sessions:
		if err != nil {
			t.Fatalf("the session for what the feed missed: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("no session brought what the live feed missed")
	}
	if n := dr.Status().Records; n != burst {
		t.Fatalf("the daemon holds %d records after the session, want %d", n, burst)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}
