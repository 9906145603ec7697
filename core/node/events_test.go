package node_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// TestEvents: each kind of event arrives, for every subscriber, including
// one that joined late.
func TestEvents(t *testing.T) {
	ctx := nodetest.Context(t)
	a, b := nodetest.Start(t, nodetest.Config(t)), nodetest.Start(t, nodetest.Config(t))
	subA, subB := a.Subscribe(0), b.Subscribe(0)
	defer subA.Close()
	defer subB.Close()
	if err := a.Connect(ctx, addrInfo(b)); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, subA, func(e node.PeerConnected) bool { return e.Peer == b.ID() && !e.Inbound && e.Addr != nil })
	nextEvent(t, ctx, subB, func(e node.PeerConnected) bool { return e.Peer == a.ID() && e.Inbound })
	for _, n := range []*node.Node{a, b} {
		if _, err := n.Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
	}

	late := a.Subscribe(0)
	defer late.Close()
	res, err := a.Publish(ctx, "n", "text", 1, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []*node.Subscription{subA, late} {
		st := nextEvent(t, ctx, sub, func(e node.RecordStored) bool { return e.Key == res.Key })
		if st.Envelope == nil || string(st.Envelope.Value) != "one" || st.When().IsZero() {
			t.Errorf("stored event %+v", st)
		}
	}
	rcv := nextEvent(t, ctx, subB, func(e node.RecordReceived) bool { return e.Key == res.Key })
	if rcv.Via != node.ViaPut || rcv.Envelope == nil || string(rcv.Envelope.Value) != "one" {
		t.Errorf("received event %+v", rcv)
	}
	// b drops its copy and fetches it back.
	if err := b.RemoveRecord(ctx, res.Key); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetRecord(ctx, res.Key); err != nil || got.Source != node.SourceNetwork {
		t.Fatalf("fetch: %+v, %v", got, err)
	}
	nextEvent(t, ctx, subB, func(e node.RecordReceived) bool { return e.Key == res.Key && e.Via == node.ViaFetch })

	pr, err := a.StartProviding(ctx, "thing")
	if err != nil {
		t.Fatal(err)
	}
	own := nextEvent(t, ctx, subA, func(e node.ProviderAdded) bool { return e.Local })
	if own.Provider != a.ID() || own.Key.Hash().B58String() != pr.CID.Hash().B58String() {
		t.Errorf("own provider event %+v", own)
	}
	theirs := nextEvent(t, ctx, subB, func(e node.ProviderAdded) bool { return !e.Local })
	if theirs.Provider != a.ID() || theirs.Key.Hash().B58String() != pr.CID.Hash().B58String() {
		t.Errorf("remote provider event %+v", theirs)
	}
	if err := a.Disconnect(b.ID()); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, subA, func(e node.PeerDisconnected) bool { return e.Peer == b.ID() })
	if _, err := a.SetMode(ctx, node.ModeClient); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ctx, subA, func(e node.ModeChanged) bool { return e.Effective == node.ModeClient })

	// Closing the node reports the backend down and ends every stream.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	down := nextEvent(t, ctx, late, func(e node.BackendState) bool { return e.State == node.BackendDown })
	if down.Backend != "memory" {
		t.Errorf("backend event %+v", down)
	}
	for range late.Events(ctx) {
	}
	if ctx.Err() != nil {
		t.Fatal("the subscription did not end when the node closed")
	}
}

// TestSlowSubscriber: a subscriber that does not read loses events, the
// node does not wait for it, and it learns how many it lost.
func TestSlowSubscriber(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	slow := n.Subscribe(2)
	defer slow.Close()
	keen := n.Subscribe(1000)
	defer keen.Close()
	const count = 20
	done := make(chan error, 1)
	go func() {
		for i := range count {
			if _, err := n.Publish(ctx, "r", "text", 1, []byte{byte(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("publishing blocked on a subscriber that does not read")
	}
	got := 0
	for ev := range keen.Events(ctx) {
		if _, ok := ev.(node.RecordStored); ok {
			if got++; got == count {
				break
			}
		}
	}
	if lost := slow.Lost(); lost != count-2 {
		t.Errorf("the slow subscriber lost %d events, want %d", lost, count-2)
	}
	if keen.Lost() != 0 {
		t.Errorf("the keen subscriber lost %d", keen.Lost())
	}
	if st := n.EventStats(); st.Subscribers != 2 || st.Lost != count-2 {
		t.Errorf("EventStats() = %+v, want 2 subscribers and %d lost", st, count-2)
	}
	var first []node.Event
	for ev := range slow.Events(ctx) {
		if first = append(first, ev); len(first) == 3 {
			break
		}
	}
	if lost, ok := first[0].(node.EventsLost); !ok || lost.Count != count-2 {
		t.Errorf("the slow subscriber's stream starts with %#v, want EventsLost{%d}", first[0], count-2)
	}
	if _, ok := first[1].(node.RecordStored); !ok {
		t.Errorf("then %#v, want the first event it kept", first[1])
	}
}

// TestReceivedRecords: every envelope accepted from a peer, pushed or
// fetched, is yielded; the node's own are not.
func TestReceivedRecords(t *testing.T) {
	ctx := nodetest.Context(t)
	nodes := startNetwork(t, 3, nil)
	a, b := nodes[0], nodes[1]
	recvCtx, stop := context.WithCancel(ctx)
	defer stop()
	received := b.ReceivedRecords(recvCtx)
	// Published before ranging: the envelopes are held for the consumer.
	for _, v := range []string{"x", "y"} {
		if _, err := a.Publish(ctx, v, "text", 1, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Publish(ctx, "own", "text", 1, []byte("own")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for env := range received {
		got = append(got, string(env.Value))
		if len(got) == 2 {
			stop()
		}
	}
	if len(got) != 2 || got[0] != "x" || got[1] != "y" {
		t.Errorf("received %q, want x and y", got)
	}
	if ctx.Err() != nil {
		t.Fatal(ctx.Err())
	}
}

// TestClockObserves: a node's clock moves past every envelope it receives,
// so its next record is newer than anything it has seen.
func TestClockObserves(t *testing.T) {
	ctx := nodetest.Context(t)
	nodes := startNetwork(t, 2, nil)
	a, b := nodes[0], nodes[1]
	res, err := a.Publish(ctx, "seen", "text", 1, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	seen, err := b.FetchRecord(ctx, res.Key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := b.PublishRecord(ctx, "after", "text", 1, []byte("w"))
	if err != nil {
		t.Fatal(err)
	}
	mine, err := b.FetchRecord(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if mine.Clock.Compare(seen.Clock) <= 0 {
		t.Errorf("b's record at %v is not after the record it saw, at %v", mine.Clock, seen.Clock)
	}
	if !bytes.Equal(mine.Value, []byte("w")) || time.Since(mine.Clock.Time()) > time.Minute {
		t.Errorf("envelope %+v", mine)
	}
	if _, err := b.FetchRecord(ctx, "/other/thing"); err == nil {
		t.Error("FetchRecord of a key outside the netabase namespace worked")
	}
	if env, err := b.FetchRecord(ctx, envelope.Key(a.ID(), "seen")); err != nil || env.Key != res.Key {
		t.Errorf("fetch by key: %v, %v", env, err)
	}
}
