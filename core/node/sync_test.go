package node_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

// gater cuts a node off from the peers in blocked: a partition.
type gater struct {
	mu      sync.Mutex
	blocked map[peer.ID]bool
}

func (g *gater) set(p peer.ID, blocked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocked == nil {
		g.blocked = make(map[peer.ID]bool)
	}
	g.blocked[p] = blocked
}

func (g *gater) allows(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.blocked[p]
}

func (g *gater) InterceptPeerDial(p peer.ID) bool                 { return g.allows(p) }
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allows(p) }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allows(p)
}
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// syncNet is nodes that each can be cut off from any other.
type syncNet struct {
	t      *testing.T
	nodes  []*node.Node
	gaters []*gater
}

func startSyncNet(t *testing.T, count int) *syncNet {
	t.Helper()
	sn := &syncNet{t: t, gaters: make([]*gater, count)}
	for i := range count {
		cfg := nodeConfig(t)
		sn.gaters[i] = &gater{}
		cfg.ConnectionGater = sn.gaters[i]
		cfg.SyncInterval = 500 * time.Millisecond
		cfg.Mode = "client" // no DHT traffic between the nodes
		sn.nodes = append(sn.nodes, startNode(t, cfg))
	}
	sn.heal()
	return sn
}

// heal lets every node reach every other and connects them all.
func (sn *syncNet) heal() {
	ctx := testContext(sn.t)
	for _, g := range sn.gaters {
		for _, n := range sn.nodes {
			g.set(n.ID(), false)
		}
	}
	for i, a := range sn.nodes {
		for _, b := range sn.nodes[i+1:] {
			if err := a.Connect(ctx, addrInfo(b)); err != nil {
				sn.t.Fatalf("connecting: %v", err)
			}
		}
	}
}

// partition cuts the nodes in side off from the others.
func (sn *syncNet) partition(side map[int]bool) {
	for i, a := range sn.nodes {
		for j, b := range sn.nodes {
			if side[i] != side[j] {
				sn.gaters[i].set(b.ID(), true)
				_ = a.Host().Network().ClosePeer(b.ID())
			}
		}
	}
}

// converge waits until every replica's fingerprint is the same, and then
// checks that their items are too.
func converge(t *testing.T, ctx context.Context, cs []*node.Synced) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		fp := cs[0].Replica().Fingerprint()
		same := true
		for _, c := range cs[1:] {
			same = same && c.Replica().Fingerprint() == fp
		}
		if same {
			break
		}
		select {
		case <-ctx.Done():
			for i, c := range cs {
				t.Logf("replica %d: %+v", i, c.Status().Status)
			}
			t.Fatal("the replicas did not converge")
		case <-tick.C:
		}
	}
	want := cs[0].Replica().Items()
	for i, c := range cs[1:] {
		if !slices.Equal(c.Replica().Items(), want) {
			t.Fatalf("replica %d has the fingerprint of replica 0 but other items", i+1)
		}
	}
}

// TestSyncPartitionsAndHeals writes on every side of random partitions;
// after the last heal every replica holds exactly the newest version of
// every written key, and no replica ever went back to an older version.
func TestSyncPartitionsAndHeals(t *testing.T) {
	const nodes, rounds, writesPerRound = 5, 4, 6
	sn := startSyncNet(t, nodes)
	ctx := testContext(t)
	cs := make([]*node.Synced, nodes)
	for i, n := range sn.nodes {
		c, err := n.JoinSync(ctx, replica.Settings{Name: "chat"})
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	// Watch every replica: per record key, each change must be newer than
	// the last one seen.
	var backwards sync.Map
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	for i, c := range cs {
		ready := make(chan struct{})
		watchers.Go(func() {
			last := map[string]envelope.Timestamp{}
			changes := c.Watch(watchCtx)
			close(ready)
			for ch := range changes {
				k := string(ch.Writer) + "/" + ch.Key
				if prev, ok := last[k]; ok && ch.Clock.Compare(prev) <= 0 {
					backwards.Store(fmt.Sprint(i, k), true)
				}
				last[k] = ch.Clock
			}
		})
		<-ready
	}
	type want struct {
		value   string
		deleted bool
	}
	expect := map[string]want{} // writer/key → last write
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range rounds {
		side := map[int]bool{}
		for i := range nodes {
			side[i] = rng.IntN(2) == 0
		}
		sn.partition(side)
		for w := range writesPerRound {
			i := rng.IntN(nodes)
			key := fmt.Sprint("k", rng.IntN(4))
			id := string(sn.nodes[i].ID()) + "/" + key
			if rng.IntN(5) == 0 {
				if err := cs[i].Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
				expect[id] = want{deleted: true}
				continue
			}
			v := fmt.Sprintf("round %d write %d by %d", round, w, i)
			if _, err := cs[i].Put(ctx, key, []byte(v)); err != nil {
				t.Fatal(err)
			}
			expect[id] = want{value: v}
		}
		sn.heal()
	}
	converge(t, ctx, cs)
	stopWatch()
	watchers.Wait()
	backwards.Range(func(k, _ any) bool {
		t.Errorf("a replica went back to an older version: %v", k)
		return true
	})
	for i, c := range cs {
		got := map[string]want{}
		for rec, err := range c.Replica().Records(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			got[string(rec.Writer)+"/"+rec.Key] = want{value: string(rec.Value), deleted: rec.Deleted}
		}
		if len(got) != len(expect) {
			t.Fatalf("replica %d holds %d records, %d were written", i, len(got), len(expect))
		}
		for k, w := range expect {
			if got[k] != w {
				t.Fatalf("replica %d: %q is %+v, the last write was %+v", i, k, got[k], w)
			}
		}
	}
}

// TestSyncRestartCatchesUp: a node that was closed while others wrote gets
// every record when it comes back, from its stored replica and a session.
func TestSyncRestartCatchesUp(t *testing.T) {
	ctx := testContext(t)
	a := startNode(t, nodeConfig(t))
	bcfg := nodeConfig(t)
	bcfg.Storage = "memory://"
	b := startNode(t, bcfg)
	if err := b.Connect(ctx, addrInfo(a)); err != nil {
		t.Fatal(err)
	}
	settings := replica.Settings{Name: "notes", Writers: []peer.ID{a.ID(), b.ID()}}
	ca, err := a.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Put(ctx, "from-b", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Put(ctx, "first", []byte("1")); err != nil {
		t.Fatal(err)
	}
	converge(t, ctx, []*node.Synced{ca, cb})
	if err := b.LeaveSync("notes"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := ca.Put(ctx, fmt.Sprint("while-away-", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ca.Delete(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	cb, err = b.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Reconcile(ctx, a.ID()); err != nil {
		t.Fatal(err)
	}
	converge(t, ctx, []*node.Synced{ca, cb})
	if _, err := cb.Get(ctx, a.ID(), "first"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a deleted record: %v", err)
	}
	n := 0
	for _, err := range cb.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 21 {
		t.Fatalf("%d live records after catching up, want 21", n)
	}
}

// TestSyncWriteFollowsWhatItSaw checks that a write is dated after every
// record the replica holds, even one whose writer's clock runs ahead.
func TestSyncWriteFollowsWhatItSaw(t *testing.T) {
	ctx := testContext(t)
	n := startNode(t, nodeConfig(t))
	c, err := n.JoinSync(ctx, replica.Settings{Name: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	ahead := envelope.Timestamp{Wall: time.Now().Add(10 * time.Minute).UnixNano()}
	e, err := envelope.Seal(other, "chat/hello", "chat", 1, ahead, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Replica().Verify(data)
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := c.Replica().Insert(ctx, "", []replica.Verified{v}); err != nil || stored != 1 {
		t.Fatalf("inserting a record: %d stored, %v", stored, err)
	}
	rec, err := c.Put(ctx, "reply", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Clock.Compare(ahead) <= 0 {
		t.Fatalf("a reply is dated %v, before the record it follows (%v)", rec.Clock, ahead)
	}
}
