package wsync_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
