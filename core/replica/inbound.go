package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Bounds on the sessions peers start with a node, for the whole node
// whatever transport carries them (see Inbound).
const (
	// MaxInboundSessions is how many sessions peers started run at once.
	MaxInboundSessions = 16
	// MaxPeerSessions is how many of them one peer runs at once.
	MaxPeerSessions = 4
	// MaxInboundBytes bounds the room of the frames those sessions read,
	// which grows as a frame's bytes arrive (see ReadMessage) and counts
	// until the session reads the next frame or ends. The frames of the
	// sessions the node starts have a bound of the same size of their own.
	MaxInboundBytes = 4 << 20
	// MaxWaitingSessions is how many sessions wait for a slot at once,
	// MaxPeerSessions of them from one peer; past that a session is
	// refused at once.
	MaxWaitingSessions = 8
	// AdmitWait is how long a session waits for a slot before it is
	// refused.
	AdmitWait = time.Second
)

// ErrBusy is wrapped by the errors of sessions refused because the node
// is at one of its bounds; the peer may try again later.
var ErrBusy = errors.New("this node is at its bound of reconciliation sessions")

// Inbound bounds the reconciliation sessions peers start with a node, and
// the room of the frames they read, whatever the number of peers or
// streams; and apart, the room of the frames of the sessions the node
// starts, whose peers answer with frames as large. One Inbound serves
// every transport that carries a node's sessions, so the bounds hold for
// the whole node. Its methods are safe for concurrent use.
type Inbound struct {
	mu       sync.Mutex
	sessions int
	waiting  int
	bytes    int64 // of the sessions peers started
	started  int64 // of the sessions this node started
	peers    map[peer.ID]*peerSessions
	// freed is closed, and replaced, when a slot is freed.
	freed chan struct{}
}

type peerSessions struct{ sessions, waiting int }

// NewInbound returns an Inbound with the bounds above.
func NewInbound() *Inbound {
	return &Inbound{peers: make(map[peer.ID]*peerSessions), freed: make(chan struct{})}
}

// Admit takes a slot for a session p starts, before anything of it is
// read. When the node runs MaxInboundSessions, or p MaxPeerSessions, it
// waits up to AdmitWait for one to end; it fails with an error wrapping
// ErrBusy, for the peer to read, when none does or too many wait already.
func (in *Inbound) Admit(ctx context.Context, p peer.ID) (*Slot, error) {
	t := time.NewTimer(AdmitWait)
	defer t.Stop()
	in.mu.Lock()
	defer in.mu.Unlock()
	ps := in.peers[p]
	if ps == nil {
		ps = &peerSessions{}
		in.peers[p] = ps
	}
	waiting := false
	defer func() {
		if waiting {
			in.waiting--
			ps.waiting--
		}
		if ps.sessions == 0 && ps.waiting == 0 {
			delete(in.peers, p)
		}
	}()
	for in.sessions >= MaxInboundSessions || ps.sessions >= MaxPeerSessions {
		if !waiting {
			if in.waiting >= MaxWaitingSessions || ps.waiting >= MaxPeerSessions {
				return nil, in.busy()
			}
			waiting = true
			in.waiting++
			ps.waiting++
		}
		freed := in.freed
		in.mu.Unlock()
		var err error
		select {
		case <-freed:
		case <-t.C:
			err = in.busy()
		case <-ctx.Done():
			err = ctx.Err()
		}
		in.mu.Lock()
		if err != nil {
			return nil, err
		}
	}
	in.sessions++
	ps.sessions++
	return &Slot{in: in, peer: p}, nil
}

func (in *Inbound) busy() error {
	return fmt.Errorf("%w: it runs %d sessions peers started (at most %d from one peer) and %d wait; try again later", ErrBusy, MaxInboundSessions, MaxPeerSessions, MaxWaitingSessions)
}

// Initiated returns the share of a session this node starts: it takes no
// slot, and its frames count against the bound of the sessions the node
// starts.
func (in *Inbound) Initiated() *Slot { return &Slot{in: in, started: true} }

// Slot is one session's share of an Inbound, for one session's goroutine.
type Slot struct {
	in      *Inbound
	peer    peer.ID
	started bool  // by this node (Initiated): no slot
	held    int64 // bytes of the frame read last
	done    bool
}

// bytes is what the slot's frames count against; in.mu is held.
func (s *Slot) bytes() *int64 {
	if s.started {
		return &s.in.started
	}
	return &s.in.bytes
}

// Conn returns c with its frames counted against the node's
// MaxInboundBytes: ReadMessage on it takes a frame's bytes as they arrive
// (failing with an error wrapping ErrBusy when the node's are taken) and
// frees them at the next read or when the slot is released.
func (s *Slot) Conn(c Conn) Conn { return slotConn{c, s} }

type slotConn struct {
	Conn
	s *Slot
}

// Reset resets the connection under it when that can be reset (a libp2p
// stream), so that Refuse and Reconcile reset a slot's session as they
// would the bare stream; else it closes the sending side.
func (c slotConn) Reset() error {
	reset(c.Conn)
	return nil
}

// Release frees the slot and its bytes; a second call does nothing.
func (s *Slot) Release() {
	in := s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	*s.bytes() -= s.held
	s.held = 0
	if s.started {
		return
	}
	in.sessions--
	ps := in.peers[s.peer]
	ps.sessions--
	if ps.sessions == 0 && ps.waiting == 0 {
		delete(in.peers, s.peer)
	}
	close(in.freed)
	in.freed = make(chan struct{})
}

// free frees the bytes of the frame read last.
func (s *Slot) free() {
	if s.held == 0 {
		return
	}
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	*s.bytes() -= s.held
	s.held = 0
}

// reserve takes n more bytes for the frame being read. It does not wait
// for bytes to be freed: while a frame waited, its stream's transport
// would keep buffering what the peer sends.
func (s *Slot) reserve(n int) error {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	whose := "peers"
	if s.started {
		whose = "this node"
	}
	if err := take(s.bytes(), n, whose); err != nil {
		return err
	}
	s.held += int64(n)
	return nil
}

// take takes n of the bytes b counts, of the sessions whose started,
// unless that passes MaxInboundBytes; in.mu is held.
func take(b *int64, n int, whose string) error {
	if *b+int64(n) > MaxInboundBytes {
		return fmt.Errorf("%w: the frames of the sessions %s started hold %d of its %d MiB; try again later", ErrBusy, whose, *b>>20, MaxInboundBytes>>20)
	}
	*b += int64(n)
	return nil
}

// Take takes n bytes of the room of the frames of the sessions peers
// start, for a transport that reads a peer's messages before a session
// takes them (the gateway's WebSocket reads each message whole), as their
// bytes arrive; it fails with an error wrapping ErrBusy when they are
// taken, and does not wait. Give returns them.
func (in *Inbound) Take(n int) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return take(&in.bytes, n, "peers")
}

// Give returns n bytes that Take took.
func (in *Inbound) Give(n int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.bytes -= int64(n)
}
