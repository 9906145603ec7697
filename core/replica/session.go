package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
)

// Conn is the stream a reconciliation session runs over, such as a libp2p
// stream. A Conn that also has a Reset method, as a libp2p stream has, is
// reset when a session fails and the stream no longer takes a message.
type Conn interface {
	io.ReadWriter
	// CloseWrite ends the session's sending side.
	CloseWrite() error
	// SetReadDeadline bounds the wait for the peer's next message, and
	// SetWriteDeadline the wait for a peer to take one.
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// Bounds on one session, whatever the peer does.
const (
	// ReplyTimeout is how long a session waits for the peer's next
	// message, or for the peer to take one.
	ReplyTimeout = 30 * time.Second
	// SessionTimeout is how long a whole session may last.
	SessionTimeout = 10 * time.Minute
	// MaxRounds is how many messages a side sends in one session.
	MaxRounds = 4096
)

// ErrNoReply is wrapped by the error of a session whose peer stopped
// answering.
var ErrNoReply = errors.New("the peer stopped answering")

// errEnded is wrapped by the error of a session the peer ended with an
// error message, which gets no error message back.
var errEnded = errors.New("the peer ended the session")

// brokenError is the error of a stream that failed under a session: it
// takes no error message any more.
type brokenError struct{ err error }

func (e brokenError) Error() string { return e.err.Error() }
func (e brokenError) Unwrap() error { return e.err }

// Stats describe one reconciliation session, or all sessions with a peer.
type Stats struct {
	// Rounds is how many messages this side sent.
	Rounds int `json:"rounds"`
	// BytesSent and BytesReceived count frames.
	BytesSent     int64 `json:"bytes_sent"`
	BytesReceived int64 `json:"bytes_received"`
	// RecordsSent and RecordsReceived count records carried; RecordsStored
	// those received that entered the replica.
	RecordsSent     int `json:"records_sent"`
	RecordsReceived int `json:"records_received"`
	RecordsStored   int `json:"records_stored"`
}

func (s *Stats) add(o Stats) {
	s.Rounds += o.Rounds
	s.BytesSent += o.BytesSent
	s.BytesReceived += o.BytesReceived
	s.RecordsSent += o.RecordsSent
	s.RecordsReceived += o.RecordsReceived
	s.RecordsStored += o.RecordsStored
}

// PeerStats is what a replica knows of its reconciliations with one peer.
type PeerStats struct {
	// Last is when the last session with the peer ended, and LastError
	// why it failed, if it did.
	Last      time.Time `json:"last"`
	LastError string    `json:"last_error,omitempty"`
	Sessions  int       `json:"sessions"`
	// Total adds up every session's figures.
	Total Stats `json:"total"`
}

// Status describes a replica.
type Status struct {
	Name        string                `json:"name"`
	Digest      string                `json:"digest"`
	Records     int                   `json:"records"`
	Tombstones  int                   `json:"tombstones"`
	Bytes       int64                 `json:"bytes"`
	Writers     int                   `json:"writers"`
	Fingerprint string                `json:"fingerprint"`
	Peers       map[peer.ID]PeerStats `json:"peers"`
	// Refused counts the records from peers refused since the replica was
	// opened, by reason (Refused).
	Refused map[Reason]uint64 `json:"refused"`
	// Error is Err's error, when the replica does not hold its set: the
	// figures of the set are then zero and Fingerprint is empty.
	Error string `json:"error,omitempty"`
}

// Status returns the replica's figures.
func (r *Replica) Status() Status {
	fault := r.Err()
	r.mu.Lock()
	defer r.mu.Unlock()
	if fault == nil {
		fault = r.fault // failed since
	}
	peers := make(map[peer.ID]PeerStats, len(r.peers))
	for p, s := range r.peers {
		peers[p] = *s
	}
	if fault != nil {
		return Status{Name: r.settings.Name, Digest: fmt.Sprintf("%x", r.digest), Peers: peers, Refused: r.Refused(), Error: fault.Error()}
	}
	fp := r.set.Fingerprint()
	return Status{
		Name:        r.settings.Name,
		Digest:      fmt.Sprintf("%x", r.digest),
		Records:     r.total.records - r.dead,
		Tombstones:  r.dead,
		Bytes:       r.total.bytes,
		Writers:     len(r.writers),
		Fingerprint: fmt.Sprintf("%x", fp),
		Peers:       peers,
		Refused:     r.Refused(),
	}
}

func (r *Replica) record(p peer.ID, st Stats, err error) {
	// r.wmu orders the figures' writes; r.mu is not held while the store
	// writes, so gossip, sessions and Status need not wait on the disk.
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	ps := r.peers[p]
	if ps == nil {
		ps = &PeerStats{}
		r.peers[p] = ps
	}
	ps.Last = r.now()
	ps.LastError = ""
	if err != nil {
		ps.LastError = err.Error()
	}
	ps.Sessions++
	ps.Total.add(st)
	b, merr := json.Marshal(ps)
	r.mu.Unlock()
	// Kept beside the records, so a restart keeps them: figures only,
	// nothing is lost when the write fails.
	if merr == nil {
		_ = r.d.Put(context.Background(), peersKey.ChildString(p.String()), b)
	}
}

// peersKey is where a replica keeps its figures per peer, beside its
// records (which live under /netabase).
var peersKey = ds.NewKey("/peers")

// loadPeers reads the figures per peer kept by earlier sessions; entries
// that do not decode are passed over.
func (r *Replica) loadPeers(ctx context.Context) error {
	res, err := r.d.Query(ctx, dsq.Query{Prefix: peersKey.String()})
	if err != nil {
		return err
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		p, err := peer.Decode(ds.RawKey(e.Key).BaseNamespace())
		var ps PeerStats
		if err != nil || json.Unmarshal(e.Value, &ps) != nil {
			continue
		}
		r.peers[p] = &ps
	}
	return nil
}

// session is one side of a reconciliation.
type session struct {
	r      *Replica
	v      Version
	peer   peer.ID
	pushQ  []string
	queued map[string]bool // keys queued or sent in this session
	wantQ  []string
	stats  Stats
}

// Hello is the initiator's first message: it names the collection and
// starts the reconciliation of the whole set.
func (r *Replica) Hello() *Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Message{Collection: r.settings.Name, Digest: r.digest[:], Ranges: r.set.initial()}
}

// Reconcile runs one reconciliation session with peer p over c, as
// ReconcileVersion does: a responder in the version first was decoded
// from, an initiator in Version1.
func (r *Replica) Reconcile(ctx context.Context, c Conn, p peer.ID, first *Message) (Stats, error) {
	v := Version1
	if first != nil && first.version != 0 {
		v = first.version
	}
	return r.ReconcileVersion(ctx, c, v, p, first)
}

// ReconcileVersion runs one reconciliation session of protocol version v
// with peer p over c and returns its figures. The initiator passes nil as
// first; the responder passes the initiator's first message, which it has
// read (v.ReadMessage) and matched to this replica. Either side's records
// that the other lacks or holds older end up on both. The session ends
// when neither side has anything left to send; a peer that sends a
// malformed message or a record the collection refuses, or stops answering
// for ReplyTimeout, ends it with an error, and what was stored before
// stays stored. A session that fails tells the peer why, as Refuse does,
// unless the peer ended it with an error message; a stream that no longer
// takes a message, or a session whose ctx ended, is reset. Either way it
// ends c's sending side; the caller closes c. While Err is not nil, no
// session starts: it returns Err's error, and a responder tells the peer
// why, so a replica never offers a set it does not hold. A version that
// pipelines (Version2) may send its reply to a message of records alone
// before it takes them.
func (r *Replica) ReconcileVersion(ctx context.Context, c Conn, v Version, p peer.ID, first *Message) (Stats, error) {
	if _, ok := VersionOf(v.Protocol()); !ok {
		_ = c.CloseWrite()
		return Stats{}, fmt.Errorf("reconciliation protocol version %d is not one this replica speaks", v)
	}
	if err := r.Err(); err != nil {
		if first != nil {
			Refuse(c, err.Error()) // tell the peer why its session is refused
		} else {
			_ = c.CloseWrite()
		}
		return Stats{}, err
	}
	s := &session{r: r, v: v, peer: p, queued: make(map[string]bool)}
	err := s.run(ctx, c, first)
	var broken brokenError
	switch {
	case err == nil, errors.Is(err, errEnded):
		_ = c.CloseWrite()
	case ctx.Err() != nil, errors.As(err, &broken):
		reset(c)
	default:
		Refuse(c, err.Error())
	}
	r.record(p, s.stats, err)
	return s.stats, err
}

// Refuse ends a session, one under way or one whose first message it does
// not take, telling the peer why: it sends an error message with reason
// (cut to MaxErrorSize) and closes the sending side. When the stream takes
// no message (within ReplyTimeout), it resets it instead, when c can be
// reset.
func Refuse(c Conn, reason string) {
	if c.SetWriteDeadline(time.Now().Add(ReplyTimeout)) == nil {
		if _, err := WriteMessage(c, &Message{Error: truncate(reason, MaxErrorSize)}); err == nil {
			_ = c.CloseWrite()
			return
		}
	}
	reset(c)
}

// reset resets c when it can be, and else closes its sending side.
func reset(c Conn) {
	if r, ok := c.(interface{ Reset() error }); ok {
		_ = r.Reset()
		return
	}
	_ = c.CloseWrite()
}

// truncate cuts s to at most n bytes, at the start of a character, so
// that it stays UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (s *session) send(c Conn, m *Message) error {
	if s.stats.Rounds >= MaxRounds {
		return fmt.Errorf("the session with %s passed %d messages; the rest waits for the next session", s.peer, MaxRounds)
	}
	if err := c.SetWriteDeadline(time.Now().Add(ReplyTimeout)); err != nil {
		return brokenError{err}
	}
	n, err := s.v.WriteMessage(c, m)
	if err != nil {
		return brokenError{fmt.Errorf("sending to %s: %w", s.peer, err)}
	}
	s.stats.Rounds++
	s.stats.BytesSent += int64(n)
	s.stats.RecordsSent += len(m.Records)
	return nil
}

func (s *session) run(ctx context.Context, c Conn, in *Message) error {
	ctx, cancel := context.WithTimeoutCause(ctx, SessionTimeout, fmt.Errorf("the session with %s passed %s; the rest waits for the next session", s.peer, SessionTimeout))
	defer cancel()
	// An ended context ends a wait on the peer either way.
	stop := context.AfterFunc(ctx, func() {
		_ = c.SetReadDeadline(time.Unix(1, 0))
		_ = c.SetWriteDeadline(time.Unix(1, 0))
	})
	defer stop()
	sentEmpty := false
	if in != nil && in.Error != "" {
		return fmt.Errorf("%w: %s: %s", errEnded, s.peer, in.Error)
	}
	if in == nil {
		hello := s.r.Hello()
		if err := s.send(c, hello); err != nil {
			return err
		}
	}
	for {
		if in == nil {
			if err := c.SetReadDeadline(time.Now().Add(ReplyTimeout)); err != nil {
				return brokenError{err}
			}
			m, n, err := s.v.ReadMessage(c)
			s.stats.BytesReceived += int64(n)
			switch {
			case ctx.Err() != nil:
				return context.Cause(ctx)
			case errors.Is(err, io.EOF) && sentEmpty:
				return nil
			case errors.Is(err, io.EOF):
				return fmt.Errorf("%s ended the session before it was done", s.peer)
			case errors.Is(err, ErrMalformed):
				return fmt.Errorf("from %s: %w", s.peer, err)
			case isTimeout(err):
				return fmt.Errorf("%w: %s sent nothing for %s", ErrNoReply, s.peer, ReplyTimeout)
			case errors.Is(err, ErrBusy):
				// The stream works; the node's bound on frame bytes refused
				// this frame: the peer is told so, as for a first frame.
				return fmt.Errorf("from %s: %w", s.peer, err)
			case err != nil:
				return brokenError{fmt.Errorf("reading from %s: %w", s.peer, err)}
			case m.Error != "":
				return fmt.Errorf("%w: %s: %s", errEnded, s.peer, m.Error)
			}
			in = m
		}
		// A message with records and no ranges gets a reply that does not
		// depend on its records: under a version that pipelines, the reply
		// goes first, so the peer makes its next message while this side
		// verifies and stores.
		late := s.v.pipelines() && len(in.Ranges) == 0
		if !late {
			if err := s.apply(ctx, in.Records); err != nil {
				return err
			}
		}
		out, err := s.step(ctx, in)
		if err != nil {
			return err
		}
		if in.empty() && out.empty() {
			return nil
		}
		if err := s.send(c, out); err != nil {
			return err
		}
		if late {
			if err := s.apply(ctx, in.Records); err != nil {
				return err
			}
		}
		in = nil
		sentEmpty = out.empty()
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// step takes in a peer's message, whose records the caller takes, and
// makes the reply.
func (s *session) step(ctx context.Context, in *Message) (*Message, error) {
	for _, w := range in.Wants {
		s.push(string(w))
	}
	out := &Message{}
	if len(in.Ranges) > 0 {
		s.r.mu.Lock()
		if err := s.r.fault; err != nil {
			s.r.mu.Unlock()
			return nil, err
		}
		ranges, push, want := s.r.set.reconcile(in.Ranges, s.v.shape())
		s.r.mu.Unlock()
		out.Ranges = ranges
		for _, k := range push {
			s.push(k)
		}
		s.wantQ = append(s.wantQ, want...)
	}
	n, size := 0, 0
	for n < len(s.wantQ) && n < MaxWants && size < wantBudget {
		out.Wants = append(out.Wants, []byte(s.wantQ[n]))
		size += len(s.wantQ[n])
		n++
	}
	s.wantQ = s.wantQ[n:]
	var err error
	out.Records, err = s.records(ctx)
	return out, err
}

// push queues the record under key for sending, once a session: a peer
// that asks again for what it was sent gets nothing more.
func (s *session) push(key string) {
	if !s.queued[key] {
		s.queued[key] = true
		s.pushQ = append(s.pushQ, key)
	}
}

// records takes queued records, up to a message's budget.
func (s *session) records(ctx context.Context) ([]WireRecord, error) {
	var out []WireRecord
	size := 0
	for len(s.pushQ) > 0 && size < recordBudget {
		k := s.pushQ[0]
		data, err := s.r.Envelope(ctx, k)
		if errors.Is(err, core.ErrNotFound) {
			// Dropped meanwhile: nothing to send.
			s.pushQ = s.pushQ[1:]
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && size+len(data)+len(k) > recordBudget {
			break
		}
		s.pushQ = s.pushQ[1:]
		size += len(data) + len(k)
		out = append(out, WireRecord{Key: []byte(k), Envelope: data})
	}
	return out, nil
}

// apply verifies and stores the records of a peer's message. A record the
// collection refuses ends the session: an honest peer sends only records it
// admitted under the same settings. One dated ahead of this node's clock is
// left for a later session.
func (s *session) apply(ctx context.Context, recs []WireRecord) error {
	if len(recs) == 0 {
		return nil
	}
	s.stats.RecordsReceived += len(recs)
	vs := make([]Verified, 0, len(recs))
	checked := s.r.verifyEach(recs)
	for i, rec := range recs {
		v, err := checked[i].v, checked[i].err
		if err != nil {
			s.r.CountRefused(checked[i].reason)
		}
		switch {
		case errors.Is(err, ErrLater):
			continue
		case err != nil:
			return fmt.Errorf("%s sent a record collection %s refuses: %w", s.peer, s.r.settings.Name, err)
		case rec.Key != nil && v.Env.Key != string(rec.Key):
			s.r.CountRefused(RefusedMalformed)
			return fmt.Errorf("%w: %s sent record %s under key %q", ErrMalformed, s.peer, v.Env.Key, rec.Key)
		}
		vs = append(vs, v)
	}
	n, err := s.r.Insert(ctx, s.peer, vs)
	s.stats.RecordsStored += n
	return err
}
