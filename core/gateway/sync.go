package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/gateway/wsync"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

// MaxSyncConns is how many sync connections (Options.Sync) may be open
// at once; past it a handshake gets 503.
const MaxSyncConns = 64

// The default rates of one sync connection (Options).
const (
	DefaultSyncRecordsPerSecond = 100
	DefaultSyncBytesPerSecond   = 4 << 20
)

// rates are one sync connection's rates.
type rates struct {
	records, bytes *rate.Limiter
}

// newRates returns the rates of records and bytes a second, each with a
// burst of one second's worth (at least one record, and a message).
func newRates(records, bytes float64) rates {
	return rates{
		records: rate.NewLimiter(rate.Limit(records), max(1, int(records))),
		bytes:   rate.NewLimiter(rate.Limit(bytes), max(wsync.MaxMessage, int(bytes))),
	}
}

// allowRecord reports whether a live record of n bytes fits both rates
// now, and takes it from both only if it does: a record the byte rate
// refuses spends no record token, and one the record rate refuses no
// bytes.
func (rt rates) allowRecord(n int) bool {
	now := time.Now()
	rec := rt.records.ReserveN(now, 1)
	if !rec.OK() || rec.DelayFrom(now) > 0 {
		rec.CancelAt(now)
		return false
	}
	b := rt.bytes.ReserveN(now, n)
	if !b.OK() || b.DelayFrom(now) > 0 {
		b.CancelAt(now)
		rec.CancelAt(now)
		return false
	}
	return true
}

// syncOrigin reports whether a page of the request's origin may open a
// sync connection: one with no Origin (not a browser's page), one from the
// gateway's own origin, or one the operator lists.
func (g *gateway) syncOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	switch {
	case o == "":
		return true
	case o == "http://"+r.Host, o == "https://"+r.Host:
		return true
	}
	return slices.Contains(g.opts.AllowedOrigins, o) || slices.Contains(g.opts.AllowedOrigins, "*")
}

// sync serves a sync connection of collection name (SYNC.md §6).
func (g *gateway) sync(w http.ResponseWriter, r *http.Request) {
	if !g.syncOrigin(r) {
		fail(w, http.StatusForbidden, "pages of origin %s may not sync through this gateway; its operator lists the origins that may in [gateway] allowed_origins", r.Header.Get("Origin"))
		return
	}
	select {
	case g.syncs <- struct{}{}:
		defer func() { <-g.syncs }()
	default:
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusServiceUnavailable, "the gateway serves %d sync connections already; try again in a moment", MaxSyncConns)
		return
	}
	// The origin is checked above, against the operator's list.
	// The first of the node's versions, newest first, that the client
	// offers.
	subprotocols := wsync.SubprotocolsOf(g.n.SyncVersions())
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: subprotocols, InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered the request
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	m := wsync.NewMux(ctx, ws)
	// What the client sends takes room of the node's bound on the frames
	// of the sessions peers start as it arrives, whatever it is, as on a
	// libp2p stream.
	m.Bound(g.n.SyncInbound())
	defer m.Release()
	refuse := func(code websocket.StatusCode, reason, sentence string) {
		_ = m.SendText(ctx, wsync.EncodeNotice(wsync.Notice{Error: sentence}))
		m.Close(code, reason)
	}
	version, ok := wsync.VersionOf(ws.Subprotocol())
	if !ok {
		refuse(websocket.StatusPolicyViolation, "no subprotocol of sync offered", fmt.Sprintf("offer one of the subprotocols %s", strings.Join(subprotocols, ", ")))
		return
	}
	name := r.PathValue("name")
	s, err := g.n.SyncedCollection(name)
	if err != nil {
		refuse(wsync.CodeNotJoined, "collection not joined", err.Error())
		return
	}

	// The hello, within the reply timeout.
	t := time.AfterFunc(replica.ReplyTimeout, func() { m.Close(wsync.CodeBadHello, "no hello within the reply timeout") })
	typ, _, b, err := m.Read()
	t.Stop()
	if errors.Is(err, replica.ErrBusy) {
		m.Close(websocket.StatusTryAgainLater, err.Error())
	}
	if err != nil {
		return
	}
	var hello wsync.Hello
	if err := json.Unmarshal(b, &hello); typ != websocket.MessageText || err != nil || hello.Peer == "" || hello.Peer.Validate() != nil {
		refuse(wsync.CodeBadHello, "the first message is not a hello", "the first message must be a hello: a text message of JSON with the collection's settings, their digest and the client's peer ID")
		return
	}
	ours := s.Settings()
	if err := ours.Agree("the client", hello.Settings, hello.Digest); err != nil {
		reason := "other settings"
		if theirs, nerr := hello.Settings.Normalize(); nerr == nil {
			if diff := ours.Diff(theirs); len(diff) > 0 {
				reason = "other settings: " + strings.Join(diff, ", ")
			}
		}
		refuse(wsync.CodeOtherSettings, reason, err.Error())
		return
	}
	welcome, _ := wsync.NewHello(ours, g.n.ID())
	wb, _ := json.Marshal(welcome)
	// The live feed watches from before the welcome, so that no record
	// that enters the replica after the client's hello is lost to both
	// its feed and its first session.
	changes := s.Watch(ctx)
	if err := m.SendText(ctx, wb); err != nil {
		cancel()
		for range changes { // ends at once, and stops watching
		}
		return
	}
	// Connected: the node's status lists the client until it goes.
	rc := s.Relay(hello.Peer, r.RemoteAddr, m.Bytes)
	defer rc.Close()

	done := make(chan struct{})
	defer func() {
		cancel()
		<-done
	}()
	sent := newSentRecords()
	go func() {
		defer close(done)
		g.liveOut(ctx, m, s, changes, hello.Peer, sent, rc)
	}()
	rt := newRates(g.opts.SyncRecordsPerSecond, g.opts.SyncBytesPerSecond)
	m.Pace(func(ctx context.Context, n int) error { return rt.bytes.WaitN(ctx, n) })
	g.serveSync(ctx, m, s, version, hello, rt, sent, rc)
}

// serveSync reads the client's messages until the connection ends:
// sessions it starts, in reconciliation protocol version, and live
// records.
func (g *gateway) serveSync(ctx context.Context, m *wsync.Mux, s *node.Synced, version replica.Version, hello wsync.Hello, rt rates, sent *sentRecords, rc *node.RelayConn) {
	var prev *wsync.Session
	defer func() {
		if prev != nil {
			<-prev.Done()
		}
	}()
	// Closing first ends a session waiting for the client's next frame,
	// so its slot is free at once, not after the reply timeout.
	defer m.Close(websocket.StatusNormalClosure, "")
	for {
		typ, kind, b, err := m.Read()
		var ce websocket.CloseError
		switch {
		case errors.As(err, &ce), ctx.Err() != nil:
			return
		case errors.Is(err, wsync.ErrProtocol):
			m.Close(websocket.StatusPolicyViolation, err.Error())
			return
		case errors.Is(err, replica.ErrBusy):
			// A message that found no room of the node's bound.
			m.Close(websocket.StatusTryAgainLater, err.Error())
			return
		case err != nil:
			// Such as a message past the limit: the library closed the
			// connection with its code.
			g.opts.Logger.Debug("a sync connection failed", "collection", s.Name(), "client", hello.Peer, "error", err)
			return
		case typ == websocket.MessageText:
			m.Close(websocket.StatusPolicyViolation, "the client sends no text message after its hello")
			return
		case kind == wsync.KindRecord:
			rc.Live(true)
			if !rt.allowRecord(len(b)) {
				s.Replica().CountRefused(replica.RefusedRate)
				g.refuse(ctx, m, s, hello, b, fmt.Errorf("%w: the connection sent records past its rate of %g records and %g bytes a second; a later session brings the record", node.ErrRefused, g.opts.SyncRecordsPerSecond, g.opts.SyncBytesPerSecond))
				continue
			}
			g.admit(ctx, m, s, hello, b, sent)
		case kind == wsync.KindFrame:
			sess := m.Start(prev)
			prev = sess
			first, err := version.Decode(b)
			go func() {
				if err != nil {
					// As over a libp2p stream: the session is refused.
					replica.Refuse(sess, "reading the first message: "+err.Error())
					sess.Finish()
					return
				}
				st, err := s.Respond(ctx, sess, hello.Peer, first)
				rc.Session(st)
				if err != nil {
					g.opts.Logger.Debug("reconciliation failed", "collection", s.Name(), "client", hello.Peer, "error", err)
				}
				sess.Finish()
			}()
		}
	}
}

// admit takes a live record of the client, as gossip would, and tells
// the client why when the collection refuses it; one stored is
// remembered in sent, so that the client's feed does not send it back.
func (g *gateway) admit(ctx context.Context, m *wsync.Mux, s *node.Synced, hello wsync.Hello, data []byte, sent *sentRecords) {
	sent.add(data) // before the record enters the replica and its feed
	stored, err := s.Admit(ctx, hello.Peer, data)
	if !stored {
		sent.take(data)
	}
	if err != nil {
		g.refuse(ctx, m, s, hello, data, err)
	}
}

// maxSent bounds the live records of one client that its feed has yet to
// pass over. The feed follows the admits closely; a record forgotten past
// the bound is sent back, which the client passes over as one it holds.
const maxSent = 256

// sentRecords are the envelopes a sync connection's client sent live that
// its feed has not yet passed over, by their hash. It names envelopes,
// not the client's peer ID: two clients of one identity (one writer on
// two devices) each get the other's records.
type sentRecords struct {
	mu    sync.Mutex
	set   map[[sha256.Size]byte]int
	order [][sha256.Size]byte
}

func newSentRecords() *sentRecords {
	return &sentRecords{set: make(map[[sha256.Size]byte]int)}
}

// add remembers data, forgetting the oldest past maxSent.
func (s *sentRecords) add(data []byte) {
	h := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == maxSent {
		old := s.order[0]
		s.order = s.order[1:]
		if s.set[old]--; s.set[old] <= 0 {
			delete(s.set, old)
		}
	}
	s.order = append(s.order, h)
	s.set[h]++
}

// take says whether data is remembered, and forgets it.
func (s *sentRecords) take(data []byte) bool {
	h := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set[h] == 0 {
		return false
	}
	if s.set[h]--; s.set[h] == 0 {
		delete(s.set, h)
	}
	if i := slices.Index(s.order, h); i >= 0 {
		s.order = slices.Delete(s.order, i, i+1)
	}
	return true
}

// refuse tells the client why its record data is refused, naming the
// record by the key data claims (unverified: it only names the record to
// the client that sent it, without a second signature check).
func (g *gateway) refuse(ctx context.Context, m *wsync.Mux, s *node.Synced, hello wsync.Hello, data []byte, err error) {
	key, _ := envelope.ClaimedKey(data)
	g.opts.Logger.Debug("a sync client's record is refused", "collection", s.Name(), "client", hello.Peer, "key", key, "error", err)
	n := wsync.Notice{Refused: &wsync.Refusal{Key: key, Reason: err.Error()}}
	if err := m.SendText(ctx, wsync.EncodeNotice(n)); err != nil {
		m.Close(websocket.StatusGoingAway, "")
	}
}

// liveOut sends the client every record of changes, the replica's watch,
// until the connection ends, but the live records this client sent
// (sent), which it holds.
func (g *gateway) liveOut(ctx context.Context, m *wsync.Mux, s *node.Synced, changes iter.Seq[replica.Change], client peer.ID, sent *sentRecords, rc *node.RelayConn) {
	r := s.Replica()
	for c := range changes {
		if c.Missed > 0 {
			// The client read too slowly and the feed lost changes: it
			// reconnects and its session on connecting brings them.
			m.Close(websocket.StatusTryAgainLater, "the live feed fell behind; reconnect to catch up")
			return
		}
		data, err := r.Envelope(ctx, r.RecordKey(c.Writer, c.Key))
		if err != nil {
			continue // dropped meanwhile
		}
		if c.From == client && sent.take(data) {
			continue
		}
		if err := m.Send(ctx, wsync.KindRecord, data); err != nil {
			m.Close(websocket.StatusGoingAway, "")
			return
		}
		rc.Live(false)
	}
}
