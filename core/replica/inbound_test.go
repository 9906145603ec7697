package replica

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestFrameGrowsAsBytesArrive: a frame that announces the largest size and
// brings a few bytes costs what it brought, not what it announced.
func TestFrameGrowsAsBytesArrive(t *testing.T) {
	frame := binary.AppendUvarint(nil, MaxFrame)
	frame = append(frame, make([]byte, 1000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := ReadMessage(bytes.NewReader(frame))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("a frame cut short: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*firstChunk {
		t.Errorf("reading 1,000 bytes of a frame announcing %d allocated %d bytes", MaxFrame, got)
	}
}

// waitFor polls cond under in's lock until it holds, failing the test after
// a minute.
func waitFor(t *testing.T, in *Inbound, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		in.mu.Lock()
		ok := cond()
		in.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestInboundSlots: a peer runs MaxPeerSessions sessions at once and the
// node MaxInboundSessions; as many may wait, for a slot freed within
// AdmitWait; past that a session is refused at once, and a waiting one
// after AdmitWait, with ErrBusy.
func TestInboundSlots(t *testing.T) {
	ctx := context.Background()
	in := NewInbound()
	var slots []*Slot
	for range MaxPeerSessions {
		s, err := in.Admit(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		slots = append(slots, s)
	}
	type result struct {
		s   *Slot
		err error
		at  time.Duration
	}
	waiters := make(chan result, MaxPeerSessions)
	start := time.Now()
	for range MaxPeerSessions {
		go func() {
			s, err := in.Admit(ctx, "a")
			waiters <- result{s, err, time.Since(start)}
		}()
	}
	waitFor(t, in, "the waiters", func() bool { return in.waiting == MaxPeerSessions })
	if _, err := in.Admit(ctx, "a"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a peer past its slots and waiters was admitted: %v", err)
	}
	slots[0].Release()
	slots[0].Release() // a second release frees nothing more
	first := <-waiters
	if first.err != nil || first.at >= AdmitWait {
		t.Fatalf("the waiter for a freed slot: %v after %s", first.err, first.at)
	}
	for range MaxPeerSessions - 1 {
		r := <-waiters
		if !errors.Is(r.err, ErrBusy) || r.at < AdmitWait {
			t.Errorf("a waiter with no slot freed: %v after %s", r.err, r.at)
		}
	}
	slots = append(slots[1:], first.s)

	// Other peers fill the node's slots; then one more waits and is
	// refused.
	for i := MaxPeerSessions; i < MaxInboundSessions; i++ {
		s, err := in.Admit(ctx, peer.ID(fmt.Sprint("p", i)))
		if err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
		slots = append(slots, s)
	}
	if _, err := in.Admit(ctx, "z"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a session past the node's bound was admitted: %v", err)
	}
	for _, s := range slots {
		s.Release()
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sessions != 0 || in.waiting != 0 || len(in.peers) != 0 {
		t.Errorf("after every release: %d sessions, %d waiting, %d peers", in.sessions, in.waiting, len(in.peers))
	}
}

// TestInboundBytes: the frames sessions read hold at most MaxInboundBytes
// for the whole node, from their first byte until the next read or the
// slot's release; a frame past the bound fails with ErrBusy.
func TestInboundBytes(t *testing.T) {
	ctx := context.Background()
	in := NewInbound()
	big := binary.AppendUvarint(nil, MaxFrame)
	big = append(big, make([]byte, MaxFrame)...)
	var slots []*Slot
	for i := range MaxInboundBytes / MaxFrame {
		s, err := in.Admit(ctx, peer.ID(fmt.Sprint("p", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Release()
		a, b := conns(t)
		go func() { _, _ = a.Write(big) }()
		if _, _, err := ReadMessage(s.Conn(b)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a frame of zeros: %v", err)
		}
		slots = append(slots, s)
	}
	s, err := in.Admit(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	a, b := conns(t)
	c := s.Conn(b)
	go func() { _, _ = a.Write(big) }()
	if _, _, err := ReadMessage(c); !errors.Is(err, ErrBusy) {
		t.Fatalf("a frame past the node's bytes: %v", err)
	}

	// A slot's next read frees its last frame, and so does its release.
	a, b = conns(t)
	hello := &Message{Collection: "chat", Ranges: []Range{{Mode: ModeList}}}
	go func() {
		_, _ = a.Write(big)
		_, _ = WriteMessage(a, hello)
	}()
	slots[0].Release()
	c = s.Conn(b)
	if _, _, err := ReadMessage(c); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a frame of zeros after a release: %v", err)
	}
	if m, _, err := ReadMessage(c); err != nil || m.Collection != "chat" {
		t.Fatalf("a frame after one that filled the bound: %+v, %v", m, err)
	}
}

// TestInitiatedBytes: the frames of the sessions a node starts have a bound
// of their own, which the sessions peers start do not take.
func TestInitiatedBytes(t *testing.T) {
	in := NewInbound()
	big := binary.AppendUvarint(nil, MaxFrame)
	big = append(big, make([]byte, MaxFrame)...)
	read := func(s *Slot) error {
		t.Helper()
		defer s.Release()
		a, b := conns(t)
		go func() { _, _ = a.Write(big) }()
		_, _, err := ReadMessage(s.Conn(b))
		return err
	}
	peers, err := in.Admit(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	defer peers.Release()
	a, b := conns(t)
	go func() { _, _ = a.Write(big) }()
	if _, _, err := ReadMessage(peers.Conn(b)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a frame of zeros: %v", err)
	}
	first := in.Initiated()
	defer first.Release()
	a, b = conns(t)
	go func() { _, _ = a.Write(big) }()
	if _, _, err := ReadMessage(first.Conn(b)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a session this node started, with the peers' bound full: %v", err)
	}
	if err := read(in.Initiated()); !errors.Is(err, ErrBusy) {
		t.Fatalf("a frame past the bound of the sessions this node started: %v", err)
	}
	first.Release()
	if err := read(in.Initiated()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a frame after the bound was freed: %v", err)
	}
}

// TestInboundTake: what a transport takes for the messages it reads
// before a session does (Take) shares the room of the frames of the
// sessions peers start, and Give returns it.
func TestInboundTake(t *testing.T) {
	in := NewInbound()
	if err := in.Take(MaxInboundBytes); err != nil {
		t.Fatal(err)
	}
	if err := in.Take(1); !errors.Is(err, ErrBusy) {
		t.Fatalf("taking past the bound: %v", err)
	}
	s, err := in.Admit(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	big := binary.AppendUvarint(nil, MaxFrame)
	big = append(big, make([]byte, MaxFrame)...)
	read := func() error {
		a, b := conns(t)
		go func() { _, _ = a.Write(big) }()
		_, _, err := ReadMessage(s.Conn(b))
		return err
	}
	if err := read(); !errors.Is(err, ErrBusy) {
		t.Fatalf("a session's frame while a transport holds the room: %v", err)
	}
	in.Give(MaxInboundBytes)
	if err := read(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a session's frame once the room is given back: %v", err)
	}
}
