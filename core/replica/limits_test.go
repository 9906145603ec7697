package replica

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLongKeysConverge: with record names near their 1 KiB limit, a reply
// of ranges and lists would pass the frame limit; byte budgets keep every
// message under it, and one session makes the replicas equal.
func TestLongKeysConverge(t *testing.T) {
	w := newWriter(t, 1)
	base := time.Now().Add(-time.Hour).UnixNano()
	prefix := strings.Repeat("p", 950)
	a, b := newReplica(t, Settings{Name: "c"}), newReplica(t, Settings{Name: "c"})
	for i := range 12_000 {
		v := seal(t, w, "c", fmt.Sprintf("%s%07d", prefix, i), base+int64(i), []byte("x"))
		insert(t, []*Replica{a, b}[i%2], v)
	}
	if _, _, erra, errb := reconcile(t, a, b); erra != nil || errb != nil {
		t.Fatalf("initiator: %v; responder: %v", erra, errb)
	}
	sameSet(t, a, b)
}

// TestRepeatedWantsServedOnce: a peer that asks again and again for the
// same record gets it once, and the session ends after MaxRounds whatever
// the peer keeps sending.
func TestRepeatedWantsServedOnce(t *testing.T) {
	w := newWriter(t, 1)
	r := newReplica(t, Settings{Name: "chat"})
	big := seal(t, w, "chat", "k", time.Now().Add(-time.Second).UnixNano(), make([]byte, 100<<10))
	insert(t, r, big)
	ca, cb := conns(t)
	done := make(chan error, 1)
	var st Stats
	go func() {
		first, _, err := ReadMessage(cb)
		if err != nil {
			done <- err
			return
		}
		st, err = r.Reconcile(context.Background(), cb, newWriter(t, 9).id, first)
		done <- err
	}()
	d := r.Digest()
	// A list range holding the record, so the replica has nothing to push
	// of its own accord.
	hello := &Message{Collection: "chat", Digest: d[:], Ranges: []Range{{Mode: ModeList, Items: wireItems(r.Items())}}}
	if _, err := WriteMessage(ca, hello); err != nil {
		t.Fatal(err)
	}
	received := 0
	for {
		m, _, err := ReadMessage(ca)
		if err != nil || m.Error != "" {
			break
		}
		received += len(m.Records)
		if _, err := WriteMessage(ca, &Message{Wants: [][]byte{[]byte(big.Env.Key)}}); err != nil {
			break
		}
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "passed") {
		t.Fatalf("the endless session ended with %v, want the round limit", err)
	}
	if received != 1 || st.Rounds > MaxRounds+1 || st.BytesSent > int64(len(big.Data))+int64(MaxRounds)*16 {
		t.Fatalf("the record was sent %d times; %d messages, %d bytes sent", received, st.Rounds, st.BytesSent)
	}
}

// TestCancelEndsABlockedSession: a peer that stops reading leaves the
// session waiting to write; cancelling its context ends it at once.
func TestCancelEndsABlockedSession(t *testing.T) {
	w := newWriter(t, 1)
	r := newReplica(t, Settings{Name: "chat"})
	var keys [][]byte
	for i := range 40 {
		v := seal(t, w, "chat", fmt.Sprint("k", i), time.Now().Add(-time.Second).UnixNano(), make([]byte, 400<<10))
		insert(t, r, v)
		keys = append(keys, []byte(v.Env.Key))
	}
	ca, cb := conns(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		first, _, err := ReadMessage(cb)
		if err != nil {
			done <- err
			return
		}
		_, err = r.Reconcile(ctx, cb, newWriter(t, 9).id, first)
		done <- err
	}()
	d := r.Digest()
	// Ask for 16 MB and never read it.
	if _, err := WriteMessage(ca, &Message{Collection: "chat", Digest: d[:], Ranges: []Range{{Mode: ModeList, Items: wireItems(r.Items())}}, Wants: keys}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := WriteMessage(ca, &Message{Wants: keys[:1]}); err != nil {
			break
		}
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled session reported success")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session was still blocked 10 s after its context was cancelled")
	}
}
