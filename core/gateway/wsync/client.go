package wsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/replica"
)

// Options configure Sync.
type Options struct {
	// Peer is the client's peer ID, which names it in the daemon's
	// figures; required.
	Peer peer.ID
	// Interval is how often a session runs besides on connecting;
	// 0: one minute, as between nodes.
	Interval time.Duration
	// Refused is told of each of the client's records the daemon did not
	// take, and why; nil: they are logged.
	Refused func(key, reason string)
	// Session is told of each session's end; nil: nothing is.
	Session func(replica.Stats, error)
	// Connected is told true when the daemon took the client's hello,
	// and false when that connection ends; nil: nothing is.
	Connected func(bool)
	// NotJoined is how long Sync waits before trying again a daemon that
	// refused the collection because it has not joined it (CodeNotJoined),
	// doubling after each such refusal up to NotJoinedMax: its operator
	// may join it later. 0: DefaultNotJoined.
	NotJoined time.Duration
	// Rejected is told of each refusal of the connection (a
	// *RefusedError): one that Sync tries again after a pause
	// (CodeNotJoined), and the one for good it returns; nil: nothing is.
	Rejected func(*RefusedError)
	// Logger logs connections that fail; nil logs nothing.
	Logger *slog.Logger
	// Dial are the WebSocket's options (an HTTP client, headers); the
	// subprotocols are Sync's own.
	Dial websocket.DialOptions
	// Versions are the reconciliation protocol versions Sync offers, the
	// newest first, one subprotocol each; nil: every version this build
	// speaks (replica.Versions).
	Versions []replica.Version
}

// RefusedError is Sync's error when the daemon refused the connection
// for good: it does not replicate the collection, or has other settings.
type RefusedError struct {
	Code   websocket.StatusCode
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

// retryMax is the longest wait between two attempts to connect.
const retryMax = 30 * time.Second

// DefaultNotJoined is the first wait before Sync tries again a daemon
// that has not joined the collection, and NotJoinedMax the longest.
const (
	DefaultNotJoined = time.Minute
	NotJoinedMax     = 30 * time.Minute
)

// Sync keeps r equal with the daemon that serves url (such as
// ws://127.0.0.1:4180/v1/sync/chat/ws): it connects, presents r's
// settings, runs a reconciliation session on connecting and every
// interval, sends r's own new records (those inserted with no sender) as
// they enter it, and inserts the daemon's live records, verified like any
// record. When its feed of r's changes falls behind and misses some, it
// runs a session once the one under way ends, which brings the daemon the
// local writes the feed missed. It connects again, after a growing pause, when the connection
// ends. A daemon that has not joined the collection (CodeNotJoined) is
// tried again after a long pause (Options.NotJoined, doubling up to
// NotJoinedMax), so that a client that connects before its daemon joined
// gets in later. It returns when ctx ends, or with a *RefusedError when the
// daemon refuses the collection for good: it has other settings
// (CodeOtherSettings).
func Sync(ctx context.Context, url string, r *replica.Replica, o Options) error {
	if o.Peer == "" {
		return errors.New("wsync: Options.Peer is required: the client's peer ID names it to the daemon")
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Refused == nil {
		o.Refused = func(key, reason string) {
			o.Logger.Warn("the daemon refused a record", "key", key, "reason", reason)
		}
	}
	if o.NotJoined <= 0 {
		o.NotJoined = DefaultNotJoined
	}
	pause, notJoined := 100*time.Millisecond, o.NotJoined
	for {
		connected, err := connect(ctx, url, r, o)
		var refused *RefusedError
		wait, grow := pause, true
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &refused):
			if o.Rejected != nil {
				o.Rejected(refused)
			}
			if refused.Code != CodeNotJoined {
				return err
			}
			wait, notJoined, grow = notJoined, min(2*notJoined, NotJoinedMax), false
			o.Logger.Debug("the daemon has not joined the collection; trying again later", "url", url, "after", wait)
		case connected:
			pause, notJoined = 100*time.Millisecond, o.NotJoined
			wait = pause
		}
		o.Logger.Debug("the sync connection ended", "url", url, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if grow {
			pause = min(2*pause, retryMax)
		}
	}
}

// connect runs one connection, until it ends; connected says whether the
// daemon took the hello.
func connect(ctx context.Context, url string, r *replica.Replica, o Options) (connected bool, err error) {
	dial := o.Dial
	dial.Subprotocols = SubprotocolsOf(o.Versions)
	ws, _, err := websocket.Dial(ctx, url, &dial)
	if err != nil {
		return false, err
	}
	defer ws.CloseNow()
	// The daemon picked one of those offered, or none (then it refuses,
	// below, with its notice).
	version, agreed := VersionOf(ws.Subprotocol())
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	m := NewMux(ctx, ws)
	hello, err := NewHello(r.Settings(), o.Peer)
	if err != nil {
		return false, err
	}
	b, _ := json.Marshal(hello)
	if err := m.SendText(ctx, b); err != nil {
		return false, err
	}
	t := time.AfterFunc(replica.ReplyTimeout, func() { m.Close(websocket.StatusPolicyViolation, "no hello within the reply timeout") })
	typ, _, b, err := m.Read()
	t.Stop()
	if err != nil {
		return false, closeError(err, "")
	}
	var theirs Hello
	if n := (Notice{}); typ == websocket.MessageText && json.Unmarshal(b, &n) == nil && n.Error != "" {
		// A refusal: its sentence, then the close.
		_, _, _, err := m.Read()
		return false, closeError(err, n.Error)
	}
	if typ != websocket.MessageText || json.Unmarshal(b, &theirs) != nil || theirs.Peer == "" {
		return false, fmt.Errorf("%w: the daemon did not answer with a hello", ErrProtocol)
	}
	if !agreed {
		m.Close(websocket.StatusPolicyViolation, "no subprotocol of those offered")
		return false, fmt.Errorf("%w: the daemon agreed to subprotocol %q, not one of %s", ErrProtocol, ws.Subprotocol(), strings.Join(dial.Subprotocols, ", "))
	}
	if err := hello.Settings.Agree("the daemon", theirs.Settings, theirs.Digest); err != nil {
		m.Close(CodeOtherSettings, err.Error())
		return false, &RefusedError{CodeOtherSettings, err.Error()}
	}

	if o.Connected != nil {
		o.Connected(true)
		defer o.Connected(false)
	}
	// Changes from now on go live; those before, by the first session.
	live := r.Watch(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	// again asks for a session as soon as the one under way, if any,
	// ends.
	again := make(chan struct{}, 1)
	wg.Go(func() {
		for c := range live {
			if c.Missed > 0 {
				// Changes went by unseen, such as when a session brought
				// the daemon's records faster than the feed reads them;
				// local writes among them reach the daemon by a session
				// that starts after they were made.
				select {
				case again <- struct{}{}:
				default:
				}
				continue
			}
			if c.From != "" {
				continue // the daemon's, or another peer's
			}
			data, err := r.Envelope(ctx, r.RecordKey(c.Writer, c.Key))
			if errors.Is(err, core.ErrNotFound) {
				continue // dropped meanwhile, as the daemon's feed passes it over
			}
			if err == nil {
				err = m.Send(ctx, KindRecord, data)
			}
			if err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("sending a record: %w", err))
				return
			}
		}
	})
	wg.Go(func() {
		var prev *Session
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			s := m.Start(prev)
			if ctx.Err() != nil {
				return
			}
			st, err := r.ReconcileVersion(ctx, s, version, theirs.Peer, nil)
			s.Finish()
			if o.Session != nil {
				o.Session(st, err)
			}
			prev = s
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-again:
			}
		}
	})
	for {
		typ, kind, b, err := m.Read()
		switch {
		case errors.Is(err, ErrProtocol):
			// A message the binding does not allow, such as one of an
			// unknown kind (SYNC.md §6).
			m.Close(websocket.StatusPolicyViolation, err.Error())
			return true, err
		case err != nil:
			return true, closeError(err, "")
		case typ == websocket.MessageText:
			var n Notice
			if json.Unmarshal(b, &n) != nil {
				m.Close(websocket.StatusPolicyViolation, "a text message that is not a notice")
				return true, fmt.Errorf("%w: a text message that is not a notice", ErrProtocol)
			}
			if n.Refused != nil {
				o.Refused(n.Refused.Key, n.Refused.Reason)
			}
			if n.Error != "" {
				o.Logger.Warn("the daemon ends the connection", "url", url, "error", n.Error)
			}
		case kind == KindRecord:
			v, err := r.Verify(b)
			if errors.Is(err, replica.ErrLater) {
				continue // a later session brings it
			}
			if err != nil {
				m.Close(websocket.StatusPolicyViolation, "a record the collection refuses: "+err.Error())
				return true, fmt.Errorf("the daemon sent a record the collection refuses: %w", err)
			}
			if _, err := r.Insert(ctx, theirs.Peer, []replica.Verified{v}); err != nil {
				return true, err
			}
		default:
			m.Close(websocket.StatusPolicyViolation, "a session the daemon started: the client starts them")
			return true, fmt.Errorf("%w: the daemon started a session", ErrProtocol)
		}
	}
}

// closeError is the error for a connection that ended with err: a
// *RefusedError when the daemon refused the collection, with reason
// when the daemon sent it whole before closing.
func closeError(err error, reason string) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) && (ce.Code == CodeNotJoined || ce.Code == CodeOtherSettings) {
		if reason == "" {
			reason = ce.Reason
		}
		return &RefusedError{ce.Code, reason}
	}
	if reason != "" {
		return fmt.Errorf("%s: %w", reason, err)
	}
	return err
}
