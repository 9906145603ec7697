package node_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"

	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// TestSyncVersionsMix: a node that speaks only reconciliation protocol
// version 1, as nodes did before version 2, catches up with one that
// speaks both, each starting the session, while no gossip can carry the
// records (they were written before the nodes met). A node of version 2
// alone cannot reconcile with it, so the sessions that succeed ran in
// version 1; a node of both answers version 2 in its wire form.
func TestSyncVersionsMix(t *testing.T) {
	ctx := nodetest.Context(t)
	newer := nodetest.Start(t, nodetest.Config(t))
	oldCfg := nodetest.Config(t)
	oldCfg.SyncVersions = []replica.Version{replica.Version1}
	old := nodetest.Start(t, oldCfg)
	onlyCfg := nodetest.Config(t)
	onlyCfg.SyncVersions = []replica.Version{replica.Version2}
	only2 := nodetest.Start(t, onlyCfg)
	settings := replica.Settings{Name: "mix"}
	var cs []*node.Synced
	for i, n := range []*node.Node{newer, old, only2} {
		c, err := n.JoinSync(ctx, settings)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 30 {
			if _, err := c.Put(ctx, fmt.Sprintf("n%d-%02d", i, j), []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		cs = append(cs, c)
	}
	if err := old.Connect(ctx, addrInfo(newer)); err != nil {
		t.Fatal(err)
	}
	if err := old.Connect(ctx, addrInfo(only2)); err != nil {
		t.Fatal(err)
	}
	// Both directions between the old node and the newer one.
	if _, err := cs[1].Reconcile(ctx, newer.ID()); err != nil {
		t.Fatalf("the old node's session with the newer one: %v", err)
	}
	if _, err := cs[0].Reconcile(ctx, old.ID()); err != nil {
		t.Fatalf("the newer node's session with the old one: %v", err)
	}
	converge(t, ctx, cs[:2])
	if n := cs[1].Status().Records; n < 60 {
		t.Fatalf("the old node holds %d records after the sessions, want at least 60", n)
	}
	// Version 2 alone and version 1 alone share no protocol.
	if _, err := cs[2].Reconcile(ctx, old.ID()); err == nil {
		t.Fatal("a session between a node of version 2 alone and one of version 1 alone succeeded")
	}
	if _, err := cs[1].Reconcile(ctx, only2.ID()); err == nil {
		t.Fatal("a session between a node of version 1 alone and one of version 2 alone succeeded")
	}

	// A peer that opens a stream of version 2 gets answers in version 2's
	// wire form.
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, addrInfo(newer)); err != nil {
		t.Fatal(err)
	}
	st, err := h.NewStream(ctx, newer.ID(), node.SyncProtocol2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := cs[0].Replica().Digest()
	var hello bytes.Buffer
	if _, err := replica.Version2.WriteMessage(&hello, &replica.Message{Collection: "mix", Digest: d[:], Ranges: []replica.Range{{Mode: replica.ModeFingerprint, Fingerprint: make([]byte, replica.HashSize)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(hello.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, _, err := replica.Version2.ReadMessage(st)
	if err != nil || m.Error != "" || len(m.Ranges) == 0 {
		t.Fatalf("the node's answer to a version 2 hello: %+v, %v", m, err)
	}
	if _, err := node.New(ctx, func() node.Config { c := nodetest.Config(t); c.SyncVersions = []replica.Version{9}; return c }()); err == nil {
		t.Fatal("a node of an unknown version started")
	}
}
