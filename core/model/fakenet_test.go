package model_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"iter"
	"slices"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// fakeDHT is the network fake nodes share: the newest envelope per record
// key, and delivery of every published envelope to the other nodes.
type fakeDHT struct {
	mu      sync.Mutex
	records map[string]*envelope.Envelope
	nodes   []*fakeNode
	wall    int64
}

// fakeNode implements model.Network.
type fakeNode struct {
	dht   *fakeDHT
	priv  crypto.PrivKey
	id    peer.ID
	store core.Backend

	mu   sync.Mutex
	subs []chan *envelope.Envelope
	// tamper, when set, changes what FetchRecord returns.
	tamper func(*envelope.Envelope)
}

func newFakeDHT() *fakeDHT { return &fakeDHT{records: map[string]*envelope.Envelope{}} }

// node adds a node with a key from seed and a fresh memory backend.
func (d *fakeDHT) node(t *testing.T, seed uint64) *fakeNode {
	t.Helper()
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(seed)}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{dht: d, priv: priv, id: id, store: memory(t)}
	d.mu.Lock()
	d.nodes = append(d.nodes, n)
	d.mu.Unlock()
	return n
}

func (n *fakeNode) ID() peer.ID             { return n.id }
func (n *fakeNode) Datastore() core.Backend { return n.store }

func (n *fakeNode) PublishRecord(ctx context.Context, name, schema string, version uint32, value []byte) (string, error) {
	n.dht.mu.Lock()
	n.dht.wall++
	ts := envelope.Timestamp{Wall: n.dht.wall}
	n.dht.mu.Unlock()
	env, err := envelope.Seal(n.priv, name, schema, version, ts, value)
	if err != nil {
		return "", err
	}
	n.dht.put(n, env)
	return env.Key, nil
}

// put stores env and hands it to every node but from.
func (d *fakeDHT) put(from *fakeNode, env *envelope.Envelope) {
	d.mu.Lock()
	d.records[env.Key] = env
	nodes := d.nodes
	d.mu.Unlock()
	for _, n := range nodes {
		if n == from {
			continue
		}
		n.mu.Lock()
		for _, ch := range n.subs {
			ch <- env
		}
		n.mu.Unlock()
	}
}

func (n *fakeNode) FetchRecord(ctx context.Context, key string) (*envelope.Envelope, error) {
	n.dht.mu.Lock()
	env, ok := n.dht.records[key]
	n.dht.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("fetch %s: %w", key, core.ErrNotFound)
	}
	cp := *env
	n.mu.Lock()
	tamper := n.tamper
	n.mu.Unlock()
	if tamper != nil {
		tamper(&cp)
	}
	return &cp, nil
}

// ReceivedRecords subscribes when called, as the node does, and delivers
// through a buffer big enough for every test.
func (n *fakeNode) ReceivedRecords(ctx context.Context) iter.Seq[*envelope.Envelope] {
	ch := make(chan *envelope.Envelope, 64)
	n.mu.Lock()
	n.subs = append(n.subs, ch)
	n.mu.Unlock()
	unsubscribe := func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.subs = slices.DeleteFunc(n.subs, func(c chan *envelope.Envelope) bool { return c == ch })
	}
	context.AfterFunc(ctx, unsubscribe)
	return func(yield func(*envelope.Envelope) bool) {
		defer unsubscribe()
		for {
			select {
			case <-ctx.Done():
				return
			case env := <-ch:
				if !yield(env) {
					return
				}
			}
		}
	}
}

// record returns the envelope stored under key, or nil.
func (d *fakeDHT) record(key string) *envelope.Envelope {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.records[key]
}

func (n *fakeNode) setTamper(f func(*envelope.Envelope)) {
	n.mu.Lock()
	n.tamper = f
	n.mu.Unlock()
}
