package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// acceptAll is a validator that lets anything through, so a raw client can
// send what a netabase node must refuse.
type acceptAll struct{}

func (acceptAll) Validate(string, []byte) error        { return nil }
func (acceptAll) Select(string, [][]byte) (int, error) { return 0, nil }

// rawClient is a stock kad-dht client on the netabase protocol whose
// validator accepts anything: it sends PUT_VALUE requests as crafted.
type rawClient struct {
	h         host.Host
	messenger *pb.ProtocolMessenger
}

func newRawClient(t *testing.T, prefix string) *rawClient {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	d, err := dht.New(h, dht.ProtocolPrefix(protocol.ID(prefix)), dht.Mode(dht.ModeClient),
		dht.NamespacedValidator(envelope.Namespace, acceptAll{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Close()
		_ = h.Close()
	})
	m, err := pb.NewProtocolMessenger(d.MessageSender())
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{h: h, messenger: m}
}

// putTo sends a PUT_VALUE of key and value straight to n.
func (c *rawClient) putTo(ctx context.Context, n *node.Node, key string, value []byte) error {
	if err := c.h.Connect(ctx, addrInfo(n)); err != nil {
		return err
	}
	return c.messenger.PutValue(ctx, n.ID(), record.MakePutRecord(key, value))
}

// TestStrangerCannotOverwrite: a record's owner alone can replace it. A
// stranger's forgeries, sent through its own node or straight to every
// peer, are refused everywhere, and every node still gets the owner's.
func TestStrangerCannotOverwrite(t *testing.T) {
	nodes := startNetwork(t, 10, nil)
	ctx := nodetest.Context(t)
	owner, stranger := nodes[2], nodes[7]
	old, err := owner.Publish(ctx, "balance", "number", 1, []byte("100"))
	if err != nil {
		t.Fatal(err)
	}
	oldEnv, err := owner.FetchRecord(ctx, old.Key)
	if err != nil {
		t.Fatal(err)
	}
	oldBytes, _ := oldEnv.Marshal()
	if _, err := owner.Publish(ctx, "balance", "number", 1, []byte("50")); err != nil {
		t.Fatal(err)
	}

	// The owner's envelope with another value: the signature breaks.
	tampered := *oldEnv
	tampered.Value = []byte("1000000")
	tamperedBytes, _ := tampered.Marshal()
	// The stranger's own valid envelope, filed under the owner's key.
	own, err := stranger.Publish(ctx, "balance", "number", 1, []byte("1000000"))
	if err != nil {
		t.Fatal(err)
	}
	strangers, err := stranger.FetchRecord(ctx, own.Key)
	if err != nil {
		t.Fatal(err)
	}
	strangersBytes, _ := strangers.Marshal()

	forgeries := []struct {
		name  string
		value []byte
		why   string
	}{
		{"tampered value", tamperedBytes, "signature does not verify"},
		{"signed by the stranger", strangersBytes, "signed for"},
		{"replay of an older version", oldBytes, ""},
	}
	raw := newRawClient(t, "/netabase")
	for _, f := range forgeries {
		t.Run(f.name, func(t *testing.T) {
			if f.why != "" {
				_, err := stranger.PutRecord(ctx, old.Key, f.value)
				if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), f.why) {
					t.Errorf("the stranger's node put it: %v", err)
				}
			}
			for i, n := range nodes {
				if err := raw.putTo(ctx, n, old.Key, f.value); err == nil {
					t.Errorf("node %d accepted the forgery", i)
				}
			}
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() {
			got, err := n.GetRecord(ctx, old.Key)
			if err != nil {
				errs[i] = err
			} else if !bytes.Equal(got.Envelope.Value, []byte("50")) {
				errs[i] = fmt.Errorf("got %q, want the owner's latest, 50", got.Envelope.Value)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
}

// TestMalformedRecordRefused: a PUT_VALUE whose netabase record is not a
// well-formed envelope is refused, and nothing is stored.
func TestMalformedRecordRefused(t *testing.T) {
	target := nodetest.Start(t, nodetest.Config(t))
	ctx := nodetest.Context(t)
	raw := newRawClient(t, "/netabase")
	key := envelope.Key(target.ID(), "x")
	big := bytes.Repeat([]byte{0x41}, envelope.MaxSize+1)
	for name, value := range map[string][]byte{
		"not cbor":             []byte("\xff\xfe garbage"),
		"empty":                {},
		"cbor not an envelope": {0x83, 0x01, 0x02, 0x03},
		"oversized":            big,
	} {
		if err := raw.putTo(ctx, target, key, value); err == nil {
			t.Errorf("%s: the node accepted it", name)
		}
	}
	// A key that names no owner.
	if err := raw.putTo(ctx, target, "/netabase/not-a-peer/x", []byte{0xa0}); err == nil {
		t.Error("a key without an owner was accepted")
	}
	for r, err := range target.LocalRecords(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("the node stored %q", r.Key)
	}
}

// TestFarFutureRecordRefused: a record its owner dated more than
// envelope.MaxClockSkew ahead is refused by a PUT_VALUE and not stored, so
// it cannot outrank the owner's later updates or drag the node's clock
// ahead; the owner's next, correctly dated record is stored.
func TestFarFutureRecordRefused(t *testing.T) {
	target := nodetest.Start(t, nodetest.Config(t))
	ctx := nodetest.Context(t)
	raw := newRawClient(t, "/netabase")
	priv := raw.h.Peerstore().PrivKey(raw.h.ID())
	sealed := func(at time.Time, value string) (string, []byte) {
		e, err := envelope.Seal(priv, "x", "s", 1, envelope.Timestamp{Wall: at.UnixNano()}, []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return e.Key, b
	}
	key, far := sealed(time.Now().Add(2*envelope.MaxClockSkew), "far")
	if err := raw.putTo(ctx, target, key, far); err == nil {
		t.Error("the node accepted a record dated two skews ahead")
	}
	if _, err := target.PutRecord(ctx, key, far); !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "ahead of this node's clock") {
		t.Errorf("PutRecord of the far-future record = %v; want an ErrRejected saying it is ahead", err)
	}
	for r, err := range target.LocalRecords(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("the node stored %q", r.Key)
	}
	_, now := sealed(time.Now(), "now")
	if err := raw.putTo(ctx, target, key, now); err != nil {
		t.Fatalf("the owner's correctly dated record was refused: %v", err)
	}
	got, err := target.GetRecord(ctx, key)
	if err != nil || string(got.Envelope.Value) != "now" {
		t.Fatalf("GetRecord = %+v, %v; want the owner's record now", got.Envelope, err)
	}
}

// TestClockNotMovedByOthers: a record another owner dated 50 minutes
// ahead, within the window the validator accepts, is stored but moves the
// node's clock no more than envelope.MaxObservedSkew past its wall clock,
// so the node's next record is accepted by a peer whose clock is 2 s
// behind. The node's own record dated ahead still moves the clock in
// full: its next record outranks it.
func TestClockNotMovedByOthers(t *testing.T) {
	cfg := nodetest.Config(t)
	target := nodetest.Start(t, cfg)
	ctx := nodetest.Context(t)
	raw := newRawClient(t, "/netabase")
	sealed := func(priv crypto.PrivKey, name string, at time.Time) (string, []byte) {
		e, err := envelope.Seal(priv, name, "s", 1, envelope.Timestamp{Wall: at.UnixNano()}, []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return e.Key, b
	}
	clockOf := func(key string) envelope.Timestamp {
		t.Helper()
		got, err := target.GetRecord(ctx, key)
		if err != nil || got.Envelope == nil {
			t.Fatalf("GetRecord(%s) = %+v, %v", key, got, err)
		}
		return got.Envelope.Clock
	}

	key, ahead := sealed(raw.h.Peerstore().PrivKey(raw.h.ID()), "x", time.Now().Add(50*time.Minute))
	if err := raw.putTo(ctx, target, key, ahead); err != nil {
		t.Fatalf("a record 50 minutes ahead, within the window, was refused: %v", err)
	}
	if c := clockOf(key); c.Wall <= time.Now().Add(49*time.Minute).UnixNano() {
		t.Fatalf("the stored record is dated %s, not the one 50 minutes ahead", c)
	}
	res, err := target.Publish(ctx, "mine", "s", 1, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	mine := clockOf(res.Key)
	if bound := time.Now().Add(envelope.MaxObservedSkew).UnixNano(); mine.Wall > bound {
		t.Errorf("the node's record is dated %s, %s past its wall clock; another owner's record moved its clock more than %s",
			mine, time.Duration(mine.Wall-time.Now().UnixNano()), envelope.MaxObservedSkew)
	}
	got, err := target.GetRecord(ctx, res.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Envelope.CheckClock(time.Now().Add(-2 * time.Second)); err != nil {
		t.Errorf("a peer whose clock is 2 s behind refuses the node's record: %v", err)
	}

	// The node's own record dated ahead (as by a wall clock that ran ahead
	// before a restart) is outranked by its next one.
	priv, _, err := node.LoadIdentity(cfg.DataDir, false)
	if err != nil {
		t.Fatal(err)
	}
	ownKey, own := sealed(priv, "own", time.Now().Add(50*time.Minute))
	if _, err := target.PutRecord(ctx, ownKey, own); err != nil {
		t.Fatal(err)
	}
	before := clockOf(ownKey)
	if _, err := target.Publish(ctx, "own", "s", 1, []byte("newer")); err != nil {
		t.Fatal(err)
	}
	if after := clockOf(ownKey); after.Compare(before) <= 0 {
		t.Errorf("the node's record after its own dated %s is dated %s: not newer", before, after)
	}
}

// TestProviderKeyNotAMultihash: a peer announcing itself as the provider
// of bytes that are not a multihash is refused (and gets no ProviderAdded
// event with a malformed CID); its announcement of a real one is stored.
func TestProviderKeyNotAMultihash(t *testing.T) {
	target := nodetest.Start(t, nodetest.Config(t))
	ctx := nodetest.Context(t)
	raw := newRawClient(t, "/netabase")
	if err := raw.h.Connect(ctx, addrInfo(target)); err != nil {
		t.Fatal(err)
	}
	sub := target.Subscribe(16)
	defer sub.Close()
	self := peer.AddrInfo{ID: raw.h.ID(), Addrs: raw.h.Addrs()}
	if err := raw.messenger.PutProviderAddrs(ctx, target.ID(), multihash.Multihash("not a multihash"), self); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, ctx, "the refusal counted", func() bool { return target.Refused()[node.RefusedProviderKey] == 1 })
	good, err := multihash.Sum([]byte("good"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	// The refusal reset the stream, and an ADD_PROVIDER gets no answer, so
	// the client may write the next one to the dead stream: it repeats it.
	repeat, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		ctx := repeat
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			_ = raw.messenger.PutProviderAddrs(ctx, target.ID(), good, self)
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	for ev := range sub.Events(ctx) {
		added, ok := ev.(node.ProviderAdded)
		if !ok {
			continue
		}
		if !bytes.Equal(added.Key.Hash(), good) {
			t.Fatalf("a ProviderAdded event for %s (multihash %x), not a key", added.Key, []byte(added.Key.Hash()))
		}
		return
	}
	t.Fatal("no ProviderAdded event for the real key")
}
