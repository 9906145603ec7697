package node

import (
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDropTracerMarksLagging: a record gossip drops on its way to or from
// a peer marks that peer as lagging in the collection of the record's
// topic, and wakes the collection's rounds; other rejections and other
// topics do not.
func TestDropTracerMarksLagging(t *testing.T) {
	n := &Node{id: "self"}
	s := &Synced{lagging: make(map[peer.ID]bool), lag: make(chan struct{}, 1)}
	topic, other := "netabase/sync/x", "elsewhere"
	n.topics.Store(topic, s)
	tr := newDropTracer(n)
	msg := func(topic string, from peer.ID) *pubsub.Message {
		return &pubsub.Message{Message: &pubsubpb.Message{Topic: &topic}, ReceivedFrom: from}
	}
	rpc := func(topic string) *pubsub.RPC {
		return &pubsub.RPC{RPC: pubsubpb.RPC{Publish: []*pubsubpb.Message{{Topic: &topic}}}}
	}

	tr.DropRPC(rpc(other), "a")
	tr.DropRPC(&pubsub.RPC{}, "a") // control only: gossipsub retries it
	tr.RejectMessage(msg(topic, "b"), pubsub.RejectValidationFailed)
	tr.RejectMessage(msg(topic, "b"), pubsub.RejectValidationIgnored)
	tr.UndeliverableMessage(msg(topic, "self"))
	if len(s.lagging) != 0 || len(s.lag) != 0 {
		t.Fatalf("lagging %v after no drop of a record of the topic", s.lagging)
	}

	tr.DropRPC(rpc(topic), "a")
	tr.RejectMessage(msg(topic, "b"), pubsub.RejectValidationQueueFull)
	tr.RejectMessage(msg(topic, "c"), pubsub.RejectValidationThrottled)
	tr.UndeliverableMessage(msg(topic, "d"))
	for _, p := range []peer.ID{"a", "b", "c", "d"} {
		if !s.lagging[p] {
			t.Errorf("peer %s is not lagging", p)
		}
	}
	if len(s.lagging) != 4 || len(s.lag) != 1 {
		t.Fatalf("lagging %v, %d wake-ups pending; want a, b, c, d and 1", s.lagging, len(s.lag))
	}
	// A session with a peer claimed from now on covers its drops.
	s.sessions = make(map[sessionKey]chan struct{})
	if _, ok := s.claim(sessionKey{peer: "a"}); !ok {
		t.Fatal("claiming a session failed")
	}
	if s.lagging["a"] {
		t.Error("peer a is still lagging once a session with it started")
	}
	tr.DropRPC(rpc(topic), "a")
	<-s.lag
	s.release(sessionKey{peer: "a"})
	if len(s.lag) != 1 {
		t.Error("a drop during a session did not ask for another")
	}
}
