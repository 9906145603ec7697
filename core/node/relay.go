package node

import (
	"context"
	"errors"
	"fmt"

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
