package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
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
		cfg := nodetest.Config(t)
		sn.gaters[i] = &gater{}
		cfg.ConnectionGater = sn.gaters[i]
		cfg.SyncInterval = 500 * time.Millisecond
		cfg.Mode = "client" // no DHT traffic between the nodes
		sn.nodes = append(sn.nodes, nodetest.Start(t, cfg))
	}
	sn.heal()
	return sn
}

// heal lets every node reach every other and connects them all.
func (sn *syncNet) heal() {
	ctx := nodetest.Context(sn.t)
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
	ctx := nodetest.Context(t)
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
				err := cs[i].Delete(ctx, key)
				if w, ok := expect[id]; !ok || w.deleted {
					// Node i holds no value for key: nothing is removed.
					if !errors.Is(err, core.ErrNotFound) {
						t.Fatalf("node %d deleting %s, which holds no value of its own: %v; want core.ErrNotFound", i, key, err)
					}
					continue
				}
				if err != nil {
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
	ctx := nodetest.Context(t)
	a := nodetest.Start(t, nodetest.Config(t))
	bcfg := nodetest.Config(t)
	bcfg.Storage = "memory://"
	b := nodetest.Start(t, bcfg)
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

// rawPeer is a libp2p host with gossipsub speaking the sync topic's
// options, but none of netabase's checks: what a hostile peer runs.
type rawPeer struct {
	h     host.Host
	topic *pubsub.Topic
}

func startRawPeer(t *testing.T, ctx context.Context, topic string) *rawPeer {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithNoAuthor(), pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithFloodPublish(true),
		pubsub.WithMessageIdFn(func(m *pubsubpb.Message) string {
			sum := sha256.Sum256(m.Data)
			return string(sum[:])
		}))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ps.Join(topic)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	return &rawPeer{h: h, topic: tp}
}

// ready waits until the raw peer knows p is in the topic and has its
// gossipsub stream to p open: a message published before then is not sent
// to p.
func (r *rawPeer) ready(t *testing.T, ctx context.Context, p peer.ID) {
	t.Helper()
	nodetest.Eventually(t, ctx, "the raw peer's gossip stream", func() bool {
		return slices.Contains(r.topic.ListPeers(), p) && gossipStream(r.h, p)
	})
}

// gossipStream reports whether h has its gossipsub stream to p open.
func gossipStream(h host.Host, p peer.ID) bool {
	for _, c := range h.Network().ConnsToPeer(p) {
		for _, st := range c.GetStreams() {
			if st.Stat().Direction == network.DirOutbound && strings.HasPrefix(string(st.Protocol()), "/meshsub/") {
				return true
			}
		}
	}
	return false
}

func sealRecord(t testing.TB, priv crypto.PrivKey, coll, key string, value []byte) []byte {
	t.Helper()
	e, err := envelope.Seal(priv, coll+"/"+key, coll, 1, envelope.Timestamp{Wall: time.Now().UnixNano()}, value)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSyncRefusesHostileRecords: a peer publishes garbage, forged records
// and records of writers not on the list; none is stored, each is counted
// by its reason, and a listed writer's record relayed by the same peer
// still is.
func TestSyncRefusesHostileRecords(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	listed, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	listedID, _ := peer.IDFromPrivateKey(listed)
	settings := replica.Settings{Name: "board", Writers: []peer.ID{n.ID(), listedID}}
	c, err := n.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	norm, _ := settings.Normalize()
	stranger, _, _ := crypto.GenerateEd25519Key(nil)
	forged := sealRecord(t, listed, "board", "forged", []byte("v"))
	forged[len(forged)-3] ^= 0xff
	// Each from a raw peer of its own: a rejected message graylists its
	// relay, whose next messages go unheard.
	for i, msg := range []struct {
		data   []byte
		reason replica.Reason
	}{
		{[]byte("garbage"), replica.RefusedMalformed},
		{sealRecord(t, stranger, "board", "k", []byte("not on the list")), replica.RefusedWriter},
		{forged, replica.RefusedSignature},
		{sealRecord(t, listed, "other", "k", []byte("another collection")), replica.RefusedSchema},
	} {
		raw := startRawPeer(t, ctx, norm.Topic())
		if err := raw.h.Connect(ctx, addrInfo(n)); err != nil {
			t.Fatal(err)
		}
		raw.ready(t, ctx, n.ID())
		nodetest.Eventually(t, ctx, "the raw peer in the node's topic", func() bool { return len(c.Status().TopicPeers) == i+1 })
		if err := raw.topic.Publish(ctx, msg.data); err != nil {
			t.Fatal(err)
		}
		nodetest.Eventually(t, ctx, "the refusal of a record ("+string(msg.reason)+")", func() bool { return c.Status().Refused[msg.reason] == 1 })
	}
	// Rejected messages lower the raw peers' score; a new peer's first
	// valid message must still arrive, so send it from a fresh raw peer.
	relay := startRawPeer(t, ctx, norm.Topic())
	if err := relay.h.Connect(ctx, addrInfo(n)); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, ctx, "the relay in the node's topic", func() bool { return len(c.Status().TopicPeers) == 5 })
	relay.ready(t, ctx, n.ID())
	if err := relay.topic.Publish(ctx, sealRecord(t, listed, "board", "ok", []byte("listed"))); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, ctx, "the listed writer's record", func() bool {
		_, err := c.Get(ctx, listedID, "ok")
		return err == nil
	})
	if st := c.Status(); st.Records != 1 || st.Writers != 1 {
		t.Fatalf("the replica holds %d records of %d writers; want only the listed writer's one", st.Records, st.Writers)
	}
	want := map[replica.Reason]uint64{
		replica.RefusedMalformed: 1, replica.RefusedWriter: 1, replica.RefusedSignature: 1, replica.RefusedSchema: 1,
		replica.RefusedBounds: 0, replica.RefusedClock: 0, replica.RefusedRate: 0,
	}
	if got := c.Status().Refused; !maps.Equal(got, want) {
		t.Fatalf("refused %v, want %v", got, want)
	}
}

// TestSyncEmptyValuesAreBytes: a tombstone and an empty put are sealed
// with their value as empty bytes (0x40), as SYNC.md §2 says field 6 is,
// not as null: a node that follows the spec takes them.
func TestSyncEmptyValuesAreBytes(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	c, err := n.JoinSync(ctx, replica.Settings{Name: "board"})
	if err != nil {
		t.Fatal(err)
	}
	// A tombstone replaces a value of this node's (Delete of a key it holds
	// no value of writes nothing).
	if _, err := c.Put(ctx, "gone", []byte("soon")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "blank", nil); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"gone", "blank"} {
		data, err := c.Replica().Envelope(ctx, c.Replica().RecordKey(n.ID(), key))
		if err != nil {
			t.Fatal(err)
		}
		var fields map[uint64]cbor.RawMessage
		if err := cbor.Unmarshal(data, &fields); err != nil {
			t.Fatal(err)
		}
		if got := fields[6]; !bytes.Equal(got, []byte{0x40}) {
			t.Errorf("record %q is sealed with its value as %x, not as empty bytes (40)", key, got)
		}
	}
}

// TestSyncSessionRefusals: a peer that opens a session and sends garbage,
// names a collection the node does not replicate, sends a forged record,
// or stops answering, is refused with an error message saying why; the
// replica is unchanged, and the forged record is counted.
func TestSyncSessionRefusals(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	c, err := n.JoinSync(ctx, replica.Settings{Name: "board"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	before := c.Replica().Items()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, addrInfo(n)); err != nil {
		t.Fatal(err)
	}
	session := func(send []byte) (*replica.Message, error) {
		st, err := h.NewStream(ctx, n.ID(), node.SyncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Write(send); err != nil {
			return nil, err
		}
		_ = st.CloseWrite()
		_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, _, err := replica.ReadMessage(st)
		return m, err
	}
	hello := func(m *replica.Message) []byte {
		var buf bytes.Buffer
		if _, err := replica.WriteMessage(&buf, m); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if m, err := session(hello(&replica.Message{Collection: "unknown", Digest: make([]byte, replica.HashSize)})); err != nil || !strings.Contains(m.Error, "does not replicate") {
		t.Fatalf("a session for an unknown collection: %+v, %v", m, err)
	}
	// A session carries only the digest: it is refused as another
	// collection's. A join with other settings is refused naming them.
	if m, err := session(hello(&replica.Message{Collection: "board", Digest: make([]byte, replica.HashSize)})); err != nil || !strings.Contains(m.Error, `collection "board" has other settings here`) {
		t.Fatalf("a session with another digest: %+v, %v", m, err)
	}
	if _, err := n.JoinSync(ctx, replica.Settings{Name: "board", MaxRecords: 5}); !errors.Is(err, replica.ErrOtherSettings) || !strings.Contains(err.Error(), "max_records is 5 there and 1000000 here") {
		t.Fatalf("a join with other bounds: %v", err)
	}
	d := c.Replica().Digest()
	// The stream still works: the node says why it ends the session,
	// rather than reset it.
	if m, err := session(hello(&replica.Message{Collection: "board", Digest: d[:], Ranges: []replica.Range{{Mode: 9}}})); err != nil || !strings.Contains(m.Error, "unknown mode 9") {
		t.Fatalf("a malformed first message: %+v, %v; want an error message saying why", m, err)
	}
	if m, err := session([]byte{0xff, 0xff, 0xff, 0xff, 0x7f}); err != nil || !strings.Contains(m.Error, "larger than") {
		t.Fatalf("an oversized frame: %+v, %v; want an error message saying why", m, err)
	}
	// A session cut off mid-way: the hello only, then nothing more; the
	// node answers, then gives up when the peer goes away.
	if m, err := session(hello(&replica.Message{Collection: "board", Digest: d[:], Ranges: []replica.Range{{Mode: replica.ModeList}}})); err != nil || m.Error != "" {
		t.Fatalf("a valid hello: %+v, %v", m, err)
	}
	// A forged record, offered in the first message: the node refuses it
	// and ends the session saying why.
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := sealRecord(t, priv, "board", "forged", []byte("v"))
	forged[len(forged)-3] ^= 0xff
	if m, err := session(hello(&replica.Message{Collection: "board", Digest: d[:], Ranges: []replica.Range{{Mode: replica.ModeList}},
		Records: []replica.WireRecord{{Key: []byte(envelopeKey(t, priv, "board/forged")), Envelope: forged}}})); err != nil || !strings.Contains(m.Error, "signature") {
		t.Fatalf("a session with a forged record: %+v, %v", m, err)
	}
	if n := c.Status().Refused[replica.RefusedSignature]; n != 1 {
		t.Fatalf("%d records refused for their signature, want 1", n)
	}
	if !slices.Equal(c.Replica().Items(), before) {
		t.Fatal("the replica changed")
	}
}

// envelopeKey is the record key of priv's owner's record called name.
func envelopeKey(t *testing.T, priv crypto.PrivKey, name string) string {
	t.Helper()
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return envelope.Key(id, name)
}

// TestSyncWriterBound: a writer who writes past its bound keeps only its
// newest records, on its own replica and on a peer's alike.
func TestSyncWriterBound(t *testing.T) {
	ctx := nodetest.Context(t)
	a, b := nodetest.Start(t, nodetest.Config(t)), nodetest.Start(t, nodetest.Config(t))
	if err := b.Connect(ctx, addrInfo(a)); err != nil {
		t.Fatal(err)
	}
	settings := replica.Settings{Name: "log", MaxRecordsPerWriter: 10}
	ca, err := a.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := ca.Put(ctx, fmt.Sprintf("%03d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cb.Reconcile(ctx, a.ID()); err != nil {
		t.Fatal(err)
	}
	converge(t, ctx, []*node.Synced{ca, cb})
	var keys []string
	for rec, err := range cb.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, rec.Key)
	}
	if len(keys) != 10 || keys[0] != "090" || keys[9] != "099" {
		t.Fatalf("b holds %v; want a's 10 newest, 090 to 099", keys)
	}
}

// TestSyncWriteFollowsWhatItSaw checks that a write is dated after every
// record the replica holds, even one whose writer's clock runs ahead (by
// less than envelope.MaxObservedSkew, the most another owner's record may
// move the node's clock).
func TestSyncWriteFollowsWhatItSaw(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	c, err := n.JoinSync(ctx, replica.Settings{Name: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	ahead := envelope.Timestamp{Wall: time.Now().Add(envelope.MaxObservedSkew / 2).UnixNano()}
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

// TestSyncCatchesUpFromGraylistedRelay: a relay that sent an invalid
// record is graylisted, and gossipsub drops the valid record it relays
// next unseen; the node catches up with it by a session at once, not at
// the next sync interval.
func TestSyncCatchesUpFromGraylistedRelay(t *testing.T) {
	ctx := nodetest.Context(t)
	cfg := nodetest.Config(t)
	cfg.SyncInterval = time.Hour
	n := nodetest.Start(t, cfg)
	settings, err := replica.Settings{Name: "board"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.JoinSync(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	// The relay answers sessions from a replica of its own.
	raw := startRawPeer(t, ctx, settings.Topic())
	r, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), settings)
	if err != nil {
		t.Fatal(err)
	}
	raw.h.SetStreamHandler(node.SyncProtocol, func(st network.Stream) {
		defer st.Close()
		first, _, err := replica.ReadMessage(st)
		if err != nil {
			_ = st.Reset()
			return
		}
		_, _ = r.Reconcile(ctx, st, st.Conn().RemotePeer(), first)
	})
	if err := raw.h.Connect(ctx, addrInfo(n)); err != nil {
		t.Fatal(err)
	}
	raw.ready(t, ctx, n.ID())
	nodetest.Eventually(t, ctx, "the relay in the node's topic", func() bool { return len(c.Status().TopicPeers) == 1 })
	sessions := func() int { return c.Status().Peers[raw.h.ID()].Sessions }
	before := 0
	if n.ID() < raw.h.ID() {
		// The node starts a session with a peer it meets in the topic.
		before = 1
		nodetest.Eventually(t, ctx, "the session on meeting", func() bool { return sessions() == before })
	}

	if err := raw.topic.Publish(ctx, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, ctx, "the refusal of the invalid record", func() bool { return c.Status().Refused[replica.RefusedMalformed] == 1 })
	writer, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	writerID, _ := peer.IDFromPrivateKey(writer)
	data := sealRecord(t, writer, "board", "k", []byte("relayed while graylisted"))
	v, err := r.Verify(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Insert(ctx, "", []replica.Verified{v}); err != nil {
		t.Fatal(err)
	}
	if err := raw.topic.Publish(ctx, data); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, ctx, "a catch-up session with the relay", func() bool { return sessions() > before })
	nodetest.Eventually(t, ctx, "the record the graylisted relay sent", func() bool {
		_, err := c.Get(ctx, writerID, "k")
		return err == nil
	})
}

// TestSyncInboundBound: a peer runs replica.MaxPeerSessions sessions with
// a node at once, and as many wait; a session past that, or one that
// waited replica.AdmitWait in vain, is refused with an error message
// before anything of it is read. The sessions here announce a frame and
// stall, so the ones admitted do not answer.
func TestSyncInboundBound(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	if _, err := n.JoinSync(ctx, replica.Settings{Name: "board"}); err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, addrInfo(n)); err != nil {
		t.Fatal(err)
	}
	answers := make(chan string, 3*replica.MaxPeerSessions)
	streams := 2*replica.MaxPeerSessions + 1
	for range streams {
		st, err := h.NewStream(ctx, n.ID(), node.SyncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Reset()
		if _, err := st.Write(binary.AppendUvarint(nil, replica.MaxFrame)); err != nil {
			t.Fatal(err)
		}
		go func() {
			m, _, err := replica.ReadMessage(st)
			if err != nil {
				answers <- err.Error()
			} else {
				answers <- m.Error
			}
		}()
	}
	for range streams - replica.MaxPeerSessions {
		select {
		case a := <-answers:
			if !strings.Contains(a, "bound of reconciliation sessions") {
				t.Errorf("a session past the bound was answered %q", a)
			}
		case <-ctx.Done():
			t.Fatalf("sessions past the bound were not refused: %v", ctx.Err())
		}
	}
	select {
	case a := <-answers:
		t.Errorf("more sessions than the bound's were answered: %q", a)
	default:
	}
}
