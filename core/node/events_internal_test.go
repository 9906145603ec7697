package node

import (
	"context"
	"testing"
)

// TestBusLose: events the node could not publish (a synced collection's
// watch fell behind) count as lost for every subscriber that wants such an
// event, which learns so before its next event, and for the node's
// figures; a subscriber that wants none of them loses nothing.
func TestBusLose(t *testing.T) {
	b := newBus()
	keen := b.subscribe(10, nil)
	defer keen.Close()
	other := b.subscribe(10, func(ev Event) bool { _, ok := ev.(PeerConnected); return ok })
	defer other.Close()
	b.lose(5, SyncStored{})
	b.publish(SyncStored{Collection: "notes", Key: "k"})
	if keen.Lost() != 5 || other.Lost() != 0 || b.lost != 5 {
		t.Errorf("lost: %d by the subscriber of every event, %d by the other, %d in all; want 5, 0, 5", keen.Lost(), other.Lost(), b.lost)
	}
	// Closed, the subscription yields what it queued, and ends.
	keen.Close()
	var got []Event
	for ev := range keen.Events(context.Background()) {
		got = append(got, ev)
	}
	if len(got) != 2 {
		t.Fatalf("the subscriber got %#v; want EventsLost{5} and the sync.stored event", got)
	}
	if lost, ok := got[0].(EventsLost); !ok || lost.Count != 5 {
		t.Errorf("the stream starts with %#v, want EventsLost{5}", got[0])
	}
	if ev, ok := got[1].(SyncStored); !ok || ev.Key != "k" {
		t.Errorf("then %#v, want the sync.stored event of k", got[1])
	}
}
