//go:build !(js && wasm)

// These tests run real libp2p nodes, which do not build for js/wasm.

package model_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

var _ model.Replica = (*node.Synced)(nil)

// startNode starts a node on loopback over a memory store that
// reconciles its synced collections every 200ms.
func startNode(ctx context.Context, t *testing.T, certs string) *node.Node {
	t.Helper()
	cfg := nodetest.Config(t)
	cfg.CertDir, cfg.Mode, cfg.SyncInterval = certs, node.ModeClient, 200*time.Millisecond
	n, err := node.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// TestSyncedNodes runs a synced collection on two real nodes over
// loopback: each sees both writers' values, and a delete reaches the other.
func TestSyncedNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	certs := t.TempDir() // shared: the admission suite runs once
	na, nb := startNode(ctx, t, certs), startNode(ctx, t, certs)
	settings := replica.Settings{Name: "users", Writers: []peer.ID{na.ID(), nb.ID()}}
	open := func(n *node.Node) *model.Collection[string, User] {
		rep, err := n.JoinSync(ctx, settings)
		if err != nil {
			t.Fatal(err)
		}
		s := model.New(n)
		t.Cleanup(func() { _ = s.Close() })
		c, err := model.OpenSynced[string, User](ctx, s, rep)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	onA, onB := open(na), open(nb)
	if err := onA.Put(ctx, User{Name: "ada", Email: "x", Age: 1}); err != nil {
		t.Fatal(err)
	}
	if err := na.Connect(ctx, peer.AddrInfo{ID: nb.ID(), Addrs: nb.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := onB.Put(ctx, User{Name: "ada", Email: "x", Age: 2}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both nodes hold both writers' ada", func() bool { return count(t, onA) == 2 && count(t, onB) == 2 })
	for _, c := range []*model.Collection[string, User]{onA, onB} {
		if v, err := c.GetFrom(ctx, na.ID(), "ada"); err != nil || v.Age != 1 {
			t.Fatalf("A's ada: %+v, %v", v, err)
		}
		if v, err := c.GetFrom(ctx, nb.ID(), "ada"); err != nil || v.Age != 2 {
			t.Fatalf("B's ada: %+v, %v", v, err)
		}
	}
	if err := onB.Delete(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete reaches A", func() bool { return count(t, onA) == 1 })
	checkAll(t, onA, onB)
	// Deleting again, or a key that never held anything, does nothing: the
	// replica gets no tombstone for it.
	for _, key := range []string{"ada", "nobody"} {
		if err := onB.Delete(ctx, key); err != nil {
			t.Errorf("deleting %s, which holds nothing of B's: %v", key, err)
		}
	}
	if st := nb.SyncedCollections()[0].Status(); st.Tombstones != 1 {
		t.Errorf("B's replica holds %d tombstones; want the one of ada's delete", st.Tombstones)
	}
}

// TestSyncedCaughtUpNodes opens a synced collection on a node that meets
// a peer holding values: once CaughtUp returns that peer, the collection
// holds them. Joining again without the peer, the sessions of the first
// join do not count: the node is alone.
func TestSyncedCaughtUpNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	certs := t.TempDir()
	na, nb := startNode(ctx, t, certs), startNode(ctx, t, certs)
	settings := replica.Settings{Name: "users", Writers: []peer.ID{na.ID(), nb.ID()}}
	repA, err := na.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	sA := model.New(na)
	defer sA.Close()
	onA, err := model.OpenSynced[string, User](ctx, sA, repA)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []User{{Name: "ada", Email: "ada@a"}, {Name: "bob", Email: "bob@a"}} {
		if err := onA.Put(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := nb.Connect(ctx, peer.AddrInfo{ID: na.ID(), Addrs: na.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	repB, err := nb.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	sB := model.New(nb)
	onB, err := model.OpenSynced[string, User](ctx, sB, repB)
	if err != nil {
		t.Fatal(err)
	}
	peers, err := onB.CaughtUp(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0] != na.ID() {
		t.Fatalf("B caught up with %v; want A, %s", peers, na.ID())
	}
	if n := count(t, onB); n != 2 {
		t.Errorf("B holds %d values once caught up; want A's 2", n)
	}
	if v, err := onB.GetFrom(ctx, na.ID(), "bob"); err != nil || v.Email != "bob@a" {
		t.Errorf("A's bob on B once caught up: %+v, %v", v, err)
	}

	if err := sB.Close(); err != nil {
		t.Fatal(err)
	}
	if err := nb.LeaveSync("users"); err != nil {
		t.Fatal(err)
	}
	if err := na.Close(); err != nil {
		t.Fatal(err)
	}
	// The node counts alone from its join, so the test's clock starts
	// before it.
	joined := time.Now()
	repB, err = nb.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	if st := repB.Status().Peers[na.ID()]; st.Sessions == 0 {
		t.Fatal("B's replica kept no figures of its sessions with A")
	}
	const alone = 300 * time.Millisecond
	peers, err = repB.CaughtUp(ctx, alone)
	if err != nil || len(peers) != 0 {
		t.Fatalf("B without A caught up with %v, %v; want no peers: it is alone", peers, err)
	}
	if waited := time.Since(joined); waited < alone {
		t.Errorf("B counted itself alone after %v; want %v", waited, alone)
	}
	// Before the bound, a node with no peer is not yet alone: when ctx
	// ends first, CaughtUp says so.
	short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	if _, err := repB.CaughtUp(short, time.Minute); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no peer sharing it is known yet") {
		t.Errorf("CaughtUp ended before the bound: %v; want it to say no peer is known yet, wrapping the deadline", err)
	}
}

// TestSyncPutManyAllOrNone checks that a synced collection's PutMany on a
// node enters the replica whole or not at all: a call with one value too
// large for the bounds, or with more values than a writer may have, stores
// none, in the replica or the collection; a call that fits stores all.
func TestSyncPutManyAllOrNone(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	n := startNode(ctx, t, t.TempDir())
	rep, err := n.JoinSync(ctx, replica.Settings{Name: "users", Writers: []peer.ID{n.ID()}, MaxRecordsPerWriter: 3, MaxBytesPerWriter: 4096})
	if err != nil {
		t.Fatal(err)
	}
	s := model.New(n)
	t.Cleanup(func() { _ = s.Close() })
	c, err := model.OpenSynced[string, User](ctx, s, rep)
	if err != nil {
		t.Fatal(err)
	}
	held := func() int {
		t.Helper()
		k := 0
		for _, err := range rep.Records(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			k++
		}
		return k
	}
	big := User{Name: "big", Email: strings.Repeat("x", 5000)}
	err = c.PutMany(ctx, []User{{Name: "a", Email: "a"}, big, {Name: "c", Email: "c"}})
	if !errors.Is(err, core.ErrTooLarge) || !strings.Contains(err.Error(), `record "`) {
		t.Fatalf("PutMany with a value over the byte bound: %v, want core.ErrTooLarge naming the record", err)
	}
	if h, k := held(), count(t, c); h != 0 || k != 0 {
		t.Fatalf("after a refused PutMany the replica holds %d records and the collection %d values, want none", h, k)
	}
	four := []User{{Name: "a", Email: "a"}, {Name: "b", Email: "b"}, {Name: "c", Email: "c"}, {Name: "d", Email: "d"}}
	if err := c.PutMany(ctx, four); !errors.Is(err, core.ErrTooLarge) || !strings.Contains(err.Error(), "none is stored") {
		t.Fatalf("PutMany of 4 values under a bound of 3 records: %v, want core.ErrTooLarge saying none is stored", err)
	}
	if h, k := held(), count(t, c); h != 0 || k != 0 {
		t.Fatalf("after PutMany past the count bound the replica holds %d records and the collection %d values, want none", h, k)
	}
	if err := c.PutMany(ctx, four[:3]); err != nil {
		t.Fatal(err)
	}
	if h, k := held(), count(t, c); h != 3 || k != 3 {
		t.Fatalf("after PutMany of 3 values the replica holds %d records and the collection %d values, want 3", h, k)
	}
}
