package wsync

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/netabase/netabase/core/replica"
)

// Mux is one side of a sync connection: it reads the connection's
// messages, hands the reconciliation frames to the session under way and
// the other messages to its caller, and writes what the sides send. Its
// methods are safe for concurrent use.
type Mux struct {
	ws     *websocket.Conn
	ctx    context.Context // ends when the connection does
	cancel context.CancelCauseFunc

	mu  sync.Mutex
	cur *Session // the session whose frames arrive now

	// pace, when set, is called with each session frame's size before
	// the session gets it, and may wait.
	pace func(ctx context.Context, n int) error

	// room, when set (Bound), is what the messages read take room from.
	room *room
	// last is the room the message Read returned last took.
	last int

	// in and out count the message bytes read and written (Bytes).
	in, out atomic.Int64
}

// Bytes returns the bytes of the messages read and written so far
// (their payloads, a binary message's kind byte included; not the
// WebSocket's framing).
func (m *Mux) Bytes() (in, out int64) { return m.in.Load(), m.out.Load() }

// Inbound is the room for what peers send that a Mux takes its messages'
// bytes from (a node's *replica.Inbound).
type Inbound interface {
	Take(n int) error
	Give(n int)
}

// Bound makes the connection take room for each message it reads from
// in as the message's bytes arrive (its size, once it is read whole), and
// give it back once the message is taken: the message Read returns at the next Read, a session's frame
// when the session reads it (its reader takes room of its own then). A
// message that finds no room ends Read with in's error. A binary
// message's kind byte takes none, so that a frame as large as a
// session's fits. Call it before Read, and Release when the connection
// ended.
func (m *Mux) Bound(in Inbound) { m.room = &room{in: in} }

// Release gives back the room the connection's messages still take
// (Bound), such as the frames a session never read; after it, the
// connection takes none and reads nothing more.
func (m *Mux) Release() {
	if r := m.room; r != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.in.Give(r.held)
		r.held = 0
		r.done = true
	}
}

// room is what a connection's messages take of an Inbound.
type room struct {
	in   Inbound
	mu   sync.Mutex
	held int
	done bool // Release was called
}

// take takes n bytes of room for a message being read.
func (m *Mux) take(n int) error {
	r := m.room
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return errors.New("the connection ended")
	}
	if err := r.in.Take(n); err != nil {
		return err
	}
	r.held += n
	return nil
}

// give gives back n bytes of room that take took.
func (m *Mux) give(n int) {
	r := m.room
	if r == nil || n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		r.in.Give(n)
		r.held -= n
	}
}

// firstChunk is how much room a message takes first.
const firstChunk = 64 << 10

// read reads the next message whole. Its buffer grows as its bytes
// arrive, doubling from firstChunk, to at most twice what arrived, and
// each growth takes room first; once read, the message is cut to its
// size and takes that much. It returns the room taken.
func (m *Mux) read() (typ websocket.MessageType, kind byte, body []byte, taken int, err error) {
	typ, r, err := m.ws.Reader(m.ctx)
	if err != nil {
		return 0, 0, nil, 0, err
	}
	limit := MaxMessage
	if typ == websocket.MessageBinary {
		var k [1]byte
		if _, err := io.ReadFull(r, k[:]); errors.Is(err, io.EOF) {
			return 0, 0, nil, 0, fmt.Errorf("%w: an empty binary message, with no kind", ErrProtocol)
		} else if err != nil {
			return 0, 0, nil, 0, err
		}
		kind, limit = k[0], MaxMessage-1
		m.in.Add(1)
	}
	fail := func(err error) (websocket.MessageType, byte, []byte, int, error) {
		m.give(taken)
		return 0, 0, nil, 0, err
	}
	for {
		if len(body) == limit {
			// Full: the message ends here, or it is over the limit.
			var probe [1]byte
			n, err := r.Read(probe[:])
			switch {
			case n > 0:
				err := fmt.Errorf("a message over %d bytes", MaxMessage)
				m.Close(websocket.StatusMessageTooBig, err.Error())
				return fail(err)
			case errors.Is(err, io.EOF):
				m.in.Add(int64(len(body)))
				return typ, kind, body, taken, nil
			case err != nil:
				return fail(err)
			}
			continue
		}
		if len(body) == cap(body) {
			grow := min(max(firstChunk, len(body)), limit-len(body))
			if err := m.take(grow); err != nil {
				return fail(err)
			}
			taken += grow
			body = append(make([]byte, 0, len(body)+grow), body...)
		}
		n, err := r.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		switch {
		case errors.Is(err, io.EOF):
			if m.room != nil && taken > len(body) {
				// A message held, or waiting for its session, takes
				// what it holds.
				body = append([]byte(nil), body...)
				m.give(taken - len(body))
				taken = len(body)
			}
			m.in.Add(int64(len(body)))
			return typ, kind, body, taken, nil
		case err != nil:
			return fail(err)
		}
	}
}

// Pace makes the connection call pace with each session frame's size
// before handing it on: pace may wait, so that reading a peer's session
// past a rate slows it down. Call it before Read.
func (m *Mux) Pace(pace func(ctx context.Context, n int) error) { m.pace = pace }

// NewMux runs a sync connection over ws, until ctx ends or the
// connection closes. It bounds every message it reads to MaxMessage.
func NewMux(ctx context.Context, ws *websocket.Conn) *Mux {
	ws.SetReadLimit(MaxMessage)
	ctx, cancel := context.WithCancelCause(ctx)
	return &Mux{ws: ws, ctx: ctx, cancel: cancel}
}

// Close closes the connection with code and reason (cut to what a close
// message holds), and ends the Mux's context.
func (m *Mux) Close(code websocket.StatusCode, reason string) {
	_ = m.ws.Close(code, CloseReason(reason))
	m.cancel(errClosed) // a session waiting for a frame ends now
}

var errClosed = errors.New("the sync connection is closed")

// CloseReason cuts reason to the 123 bytes a close message holds, at the
// start of a character.
func CloseReason(reason string) string {
	const max = 123
	if len(reason) <= max {
		return reason
	}
	n := max
	for n > 0 && reason[n]&0xc0 == 0x80 {
		n--
	}
	return reason[:n]
}

// Send writes one binary message of kind with body, within ReplyTimeout
// (or ctx's deadline, when sooner).
func (m *Mux) Send(ctx context.Context, kind byte, body []byte) error {
	msg := make([]byte, 1+len(body))
	msg[0] = kind
	copy(msg[1:], body)
	return m.send(ctx, msg)
}

// send writes msg, a binary message whose first byte is its kind, as
// Send does.
func (m *Mux) send(ctx context.Context, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, replica.ReplyTimeout)
	defer cancel()
	stop := context.AfterFunc(m.ctx, cancel)
	defer stop()
	err := m.ws.Write(ctx, websocket.MessageBinary, msg)
	if err == nil {
		m.out.Add(int64(len(msg)))
	}
	return err
}

// Ping sends a WebSocket ping and waits for its pong, within
// ReplyTimeout (or ctx's deadline, when sooner); a Read must be under way
// meanwhile, which takes the pong. The daemon pings its clients (SYNC.md
// §6). In a browser (js/wasm) it does nothing: a page cannot ping, and
// its browser answers the daemon's pings itself, with no script running.
func (m *Mux) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, replica.ReplyTimeout)
	defer cancel()
	return m.ws.Ping(ctx)
}

// SendText writes one text message.
func (m *Mux) SendText(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, replica.ReplyTimeout)
	defer cancel()
	err := m.ws.Write(ctx, websocket.MessageText, b)
	if err == nil {
		m.out.Add(int64(len(b)))
	}
	return err
}

// Read reads the next message. A reconciliation frame or session end is
// handed to the session under way and reported with kind and its body; a
// frame with no session under way is returned for the caller to start one
// (Start), and so is every other message. Read returns the connection's
// error when it ends.
func (m *Mux) Read() (typ websocket.MessageType, kind byte, body []byte, err error) {
	m.give(m.last)
	m.last = 0
	for {
		typ, kind, body, taken, err := m.read()
		if err != nil {
			return 0, 0, nil, err
		}
		if typ == websocket.MessageText {
			m.last = taken
			return typ, 0, body, nil
		}
		switch kind {
		case KindFrame, KindEnd:
			m.mu.Lock()
			s := m.cur
			if s != nil && kind == KindEnd {
				m.cur = nil
			}
			m.mu.Unlock()
			switch {
			case s == nil && kind == KindEnd:
				m.give(taken)
				return 0, 0, nil, fmt.Errorf("%w: a session end with no session under way", ErrProtocol)
			case s == nil:
				m.last = taken
				return typ, kind, body, nil
			case kind == KindEnd:
				m.give(taken)
				close(s.in)
				continue
			}
			if m.pace != nil {
				if err := m.pace(m.ctx, 1+len(body)); err != nil {
					m.give(taken)
					return 0, 0, nil, err
				}
			}
			select {
			case s.in <- frame{body, taken}:
			case <-m.ctx.Done():
				m.give(taken)
				return 0, 0, nil, context.Cause(m.ctx)
			}
		case KindRecord:
			m.last = taken
			return typ, kind, body, nil
		default:
			m.give(taken)
			return 0, 0, nil, fmt.Errorf("%w: a binary message of unknown kind %d", ErrProtocol, kind)
		}
	}
}

// Start begins a session on the connection, which receives the frames
// that arrive until the peer ends its side. It waits for the session
// before, if one runs, to end (Session.Done); there is at most one session
// at a time on a connection.
func (m *Mux) Start(prev *Session) *Session {
	if prev != nil {
		select {
		case <-prev.done:
		case <-m.ctx.Done():
		}
	}
	s := &Session{m: m, in: make(chan frame, 4), poke: make(chan struct{}, 1), done: make(chan struct{})}
	m.mu.Lock()
	m.cur = s
	m.mu.Unlock()
	return s
}

// Session is one reconciliation session over a sync connection: a
// replica.Conn, so that core/replica's session code runs over it as over
// a libp2p stream. Each frame the session code writes goes as one binary
// message; CloseWrite sends the session's end, and Reset closes the
// whole connection, as the session code resets a stream that no longer
// works.
type Session struct {
	m    *Mux
	in   chan frame // the peer's frames; closed at the peer's end
	poke chan struct{}
	done chan struct{}

	rbuf []byte
	eof  bool
	wbuf []byte

	mu       sync.Mutex
	rdl, wdl time.Time
}

// Finish waits, after the session code returned, for the peer to end its
// side of the session (within ReplyTimeout, else it closes the
// connection), passing over what the peer still sends, and marks the
// session done.
func (s *Session) Finish() {
	defer close(s.done)
	t := time.NewTimer(replica.ReplyTimeout)
	defer t.Stop()
	for {
		select {
		case f, ok := <-s.in:
			if !ok {
				return
			}
			s.m.give(f.taken)
		case <-t.C:
			s.m.Close(websocket.StatusPolicyViolation, "the session's other side did not end it")
			return
		case <-s.m.ctx.Done():
			return
		}
	}
}

// frame is a peer's frame and the room it takes (Mux.Bound).
type frame struct {
	body  []byte
	taken int
}

// Done is closed once Finish returned.
func (s *Session) Done() <-chan struct{} { return s.done }

type timeoutError struct{}

func (timeoutError) Error() string { return "the wait for a reconciliation message timed out" }
func (timeoutError) Timeout() bool { return true }

// Read reads the frames of the session as a stream: each message's
// length as an unsigned varint, then its bytes, as on a libp2p stream.
func (s *Session) Read(p []byte) (int, error) {
	for len(s.rbuf) == 0 {
		if s.eof {
			return 0, io.EOF
		}
		s.mu.Lock()
		d := s.rdl
		s.mu.Unlock()
		var expired <-chan time.Time
		var t *time.Timer
		if !d.IsZero() {
			t = time.NewTimer(time.Until(d))
			expired = t.C
		}
		err := s.wait(expired)
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, s.rbuf)
	s.rbuf = s.rbuf[n:]
	return n, nil
}

// wait waits for the peer's next frame, the deadline or its change.
func (s *Session) wait(expired <-chan time.Time) error {
	select {
	case f, ok := <-s.in:
		if !ok {
			s.eof = true
			return nil
		}
		// The session code's reader takes room for the frame as it reads
		// it (replica.ReadMessage).
		s.m.give(f.taken)
		s.rbuf = binary.AppendUvarint(nil, uint64(len(f.body)))
		s.rbuf = append(s.rbuf, f.body...)
	case <-expired:
		return timeoutError{}
	case <-s.poke:
	case <-s.m.ctx.Done():
		return fmt.Errorf("the connection closed: %w", context.Cause(s.m.ctx))
	}
	return nil
}

// Write takes frames, each its length as an unsigned varint and then its
// bytes, and sends each whole one as one message, from the session's own
// buffer: the message's kind takes the place of the length's last byte.
func (s *Session) Write(p []byte) (int, error) {
	s.wbuf = append(s.wbuf, p...)
	off := 0
	// What is left, a frame in part, moves to the buffer's start.
	defer func() { s.wbuf = s.wbuf[:copy(s.wbuf, s.wbuf[off:])] }()
	for {
		size, n := binary.Uvarint(s.wbuf[off:])
		if n <= 0 || uint64(len(s.wbuf)-off-n) < size {
			return len(p), nil
		}
		if size > replica.MaxFrame {
			return 0, fmt.Errorf("a reconciliation frame of %d bytes, more than %d", size, replica.MaxFrame)
		}
		msg := s.wbuf[off+n-1 : off+n+int(size)]
		msg[0] = KindFrame
		if err := s.sendMsg(msg); err != nil {
			return 0, err
		}
		off += n + int(size)
	}
}

// sendMsg sends msg, a binary message whose first byte is its kind,
// within the write deadline.
func (s *Session) sendMsg(msg []byte) error {
	ctx := s.m.ctx
	s.mu.Lock()
	d := s.wdl
	s.mu.Unlock()
	if !d.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	return s.m.send(ctx, msg)
}

// CloseWrite sends the end of this side of the session.
func (s *Session) CloseWrite() error { return s.sendMsg([]byte{KindEnd}) }

// Reset closes the connection: the session cannot go on.
func (s *Session) Reset() error {
	s.m.Close(websocket.StatusInternalError, "a reconciliation session failed on a connection that no longer works")
	return nil
}

// SetReadDeadline bounds the wait for the peer's next frame.
func (s *Session) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.rdl = t
	s.mu.Unlock()
	select {
	case s.poke <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline bounds the wait for the peer to take a frame.
func (s *Session) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.wdl = t
	s.mu.Unlock()
	return nil
}

// ErrProtocol is wrapped by the error for a message the binding does not
// allow.
var ErrProtocol = errors.New("not a message of the sync WebSocket binding")
