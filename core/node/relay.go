package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/replica"
)

// This file is what a relay of the collection, such as the gateway's sync
// endpoint (core/gateway/wsync), asks of a Synced: to answer a session
// over another transport, and to take a record as gossip would.

// Respond answers a reconciliation session that client p started over c,
// whose first message the caller read: as handleSync answers one over a
// libp2p stream, by the same code. A first message of another collection
// or settings is refused with an error message; one that carries an error
// (the client ended the session before it began) gets no answer, and
// Respond returns that error. p names the client in the replica's
// figures; at most one session of p runs here at a time, and a second
// waits up to replica.ReplyTimeout for the one before. The session takes a
// slot of the node's inbound bound first, as one over a libp2p stream
// does, and is refused when it finds none. The caller closes c.
func (s *Synced) Respond(ctx context.Context, c replica.Conn, p peer.ID, first *replica.Message) (replica.Stats, error) {
	// The node's bound on the sessions peers start (replica.Inbound) holds
	// whatever transport carries them: a slot before the session runs, and
	// the frames it reads next count against the node's bytes.
	slot, err := s.n.inbound.Admit(ctx, p)
	if err != nil {
		replica.Refuse(c, err.Error())
		return replica.Stats{}, err
	}
	defer slot.Release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	return s.answer(ctx, slot.Conn(c), p, first)
}

// ErrRefused is wrapped by Admit's error for a record the collection does
// not take.
var ErrRefused = errors.New("the collection refuses the record")

// Admit takes data, an envelope that client from sends, exactly as the
// topic's validator takes a gossiped record: it must open as a record of
// the collection (signature, owner, schema, writer list, bounds) and be
// dated no further ahead than the clock bound, else the error wraps
// ErrRefused and says why. A record that wins over the held version is
// stored and published on the collection's topic, as this node's own
// writes are; stored says whether it was.
func (s *Synced) Admit(ctx context.Context, from peer.ID, data []byte) (stored bool, err error) {
	v, err := s.r.Verify(data)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if !s.r.Wins(ctx, v) {
		return false, nil
	}
	return s.storeAndPublish(ctx, from, v, "the record")
}

// RelayConn is one client's connection to the collection through a
// relay, such as a page's over the gateway's sync endpoint: Status lists
// it, with its figures, until Close. Its methods are safe for concurrent
// use.
type RelayConn struct {
	s      *Synced
	peer   peer.ID
	remote string
	since  time.Time
	bytes  func() (in, out int64)

	sessions, recordsIn, recordsOut, pongs atomic.Int64
}

// RelayStatus is what Status tells of a client connected through a relay.
type RelayStatus struct {
	// Peer is the peer ID the client named itself by (its hello; not
	// authenticated: its records are, by their signatures).
	Peer peer.ID `json:"peer"`
	// Remote is the client's address, as the relay saw it.
	Remote string `json:"remote"`
	// Since is when it connected.
	Since time.Time `json:"since"`
	// Sessions counts the reconciliation sessions that ended on the
	// connection.
	Sessions int64 `json:"sessions"`
	// RecordsIn and RecordsOut count the records the client sent and was
	// sent, by sessions and live.
	RecordsIn  int64 `json:"records_in"`
	RecordsOut int64 `json:"records_out"`
	// BytesIn and BytesOut count the connection's message bytes each way,
	// as the relay reports them.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// Pongs counts the relay's keepalive pings the client answered.
	Pongs int64 `json:"pongs"`
}

// Relay registers the connection of client p, from remote, so that
// Status lists it until the returned RelayConn's Close; bytes, when not
// nil, reports the connection's bytes each way so far.
func (s *Synced) Relay(p peer.ID, remote string, bytes func() (in, out int64)) *RelayConn {
	c := &RelayConn{s: s, peer: p, remote: remote, since: time.Now(), bytes: bytes}
	s.relayMu.Lock()
	s.relayed[c] = struct{}{}
	s.relayMu.Unlock()
	return c
}

// Session counts a session that ended on the connection, and the records
// it carried.
func (c *RelayConn) Session(st replica.Stats) {
	c.sessions.Add(1)
	c.recordsIn.Add(int64(st.RecordsReceived))
	c.recordsOut.Add(int64(st.RecordsSent))
}

// Live counts a live record received (in) or sent.
func (c *RelayConn) Live(in bool) {
	if in {
		c.recordsIn.Add(1)
	} else {
		c.recordsOut.Add(1)
	}
}

// Pong counts a keepalive ping the client answered.
func (c *RelayConn) Pong() { c.pongs.Add(1) }

// Close takes the connection off Status's list.
func (c *RelayConn) Close() {
	c.s.relayMu.Lock()
	delete(c.s.relayed, c)
	c.s.relayMu.Unlock()
}

// Status is the connection's figures now.
func (c *RelayConn) Status() RelayStatus {
	st := RelayStatus{Peer: c.peer, Remote: c.remote, Since: c.since, Sessions: c.sessions.Load(), RecordsIn: c.recordsIn.Load(), RecordsOut: c.recordsOut.Load(), Pongs: c.pongs.Load()}
	if c.bytes != nil {
		st.BytesIn, st.BytesOut = c.bytes()
	}
	return st
}

// relayedStatus lists the connections of Relay, by when they connected.
func (s *Synced) relayedStatus() []RelayStatus {
	s.relayMu.Lock()
	out := make([]RelayStatus, 0, len(s.relayed))
	for c := range s.relayed {
		out = append(out, c.Status())
	}
	s.relayMu.Unlock()
	slices.SortFunc(out, func(a, b RelayStatus) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(string(a.Peer), string(b.Peer))
	})
	return out
}
