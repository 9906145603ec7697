package model_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/replica"
)

// fakeDHT is the network fake nodes share: the newest envelope per record
// key, and delivery of every published envelope to the other nodes.
type fakeDHT struct {
	mu       sync.Mutex
	records  map[string]*envelope.Envelope
	nodes    []*fakeNode
	replicas []*fakeReplica
	wall     int64
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

// fakeReplica is a node's replica of a synced collection in the fake
// network: the newest record of every (writer, key), filled by the node's
// writes and, at once, by every other node's replica of the same name,
// unless it is held back.
type fakeReplica struct {
	dht  *fakeDHT
	n    *fakeNode
	name string

	mu   sync.Mutex
	recs map[string]replica.Record // by writer "/" key
	subs []chan replica.Change
	hold bool
	held []replica.Change
	late []replica.Change // stored by CaughtUp, not yet told to the watchers
}

// joinSync returns n's replica of the synced collection called name.
func (n *fakeNode) joinSync(name string) *fakeReplica {
	r := &fakeReplica{dht: n.dht, n: n, name: name, recs: map[string]replica.Record{}}
	n.dht.mu.Lock()
	n.dht.replicas = append(n.dht.replicas, r)
	n.dht.mu.Unlock()
	return r
}

func (r *fakeReplica) Name() string { return r.name }

func (r *fakeReplica) PutVersion(ctx context.Context, key string, version uint32, value []byte) (replica.Record, error) {
	r.dht.mu.Lock()
	r.dht.wall++
	rec := replica.Record{Writer: r.n.id, Key: key, Clock: envelope.Timestamp{Wall: r.dht.wall}, Version: version, Value: slices.Clone(value), Deleted: version == 0}
	all := slices.Clone(r.dht.replicas)
	r.dht.mu.Unlock()
	for _, o := range all {
		if o.name != r.name {
			continue
		}
		from := r.n.id
		if o == r {
			from = ""
		}
		o.deliver(replica.Change{Record: rec, From: from})
	}
	return rec, nil
}

// PutMany writes puts one by one: the fake has no store to fail.
func (r *fakeReplica) PutMany(ctx context.Context, puts []replica.Put) ([]replica.Record, error) {
	var recs []replica.Record
	for _, p := range puts {
		rec, err := r.PutVersion(ctx, p.Key, p.Version, p.Value)
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func (r *fakeReplica) Delete(ctx context.Context, key string) error {
	_, err := r.PutVersion(ctx, key, 0, nil)
	return err
}

// deliver stores c when it is newer than what the replica holds, and
// tells the watchers; while the replica is held, it waits.
func (r *fakeReplica) deliver(c replica.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold && c.From != "" {
		r.held = append(r.held, c)
		return
	}
	k := c.Writer.String() + "/" + c.Key
	if old, ok := r.recs[k]; ok && old.Clock.Wall >= c.Clock.Wall {
		return
	}
	r.recs[k] = c.Record
	for _, ch := range r.subs {
		ch <- c // the buffer holds every test's changes
	}
}

// CaughtUp stores the records held back, as a reconciliation with every
// other node's replica would, and returns those nodes; it tells its
// watchers of the records only at tellLate, as a replica's watch lags
// behind what it stores. With no other node's replica, it is alone.
func (r *fakeReplica) CaughtUp(ctx context.Context, alone time.Duration) ([]peer.ID, error) {
	r.dht.mu.Lock()
	var peers []peer.ID
	for _, o := range r.dht.replicas {
		if o != r && o.name == r.name {
			peers = append(peers, o.n.id)
		}
	}
	r.dht.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.held {
		k := c.Writer.String() + "/" + c.Key
		if old, ok := r.recs[k]; !ok || old.Clock.Wall < c.Clock.Wall {
			r.recs[k] = c.Record
			r.late = append(r.late, c)
		}
	}
	r.held = nil
	return peers, nil
}

// tellLate tells the watchers of the records CaughtUp stored.
func (r *fakeReplica) tellLate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.late {
		for _, ch := range r.subs {
			ch <- c
		}
	}
	r.late = nil
}

// setHold holds back the records of other nodes, or delivers those held,
// in reverse order when reverse is set.
func (r *fakeReplica) setHold(hold, reverse bool) {
	r.mu.Lock()
	r.hold = hold
	held := r.held
	r.held = nil
	r.mu.Unlock()
	if reverse {
		slices.Reverse(held)
	}
	for _, c := range held {
		r.deliver(c)
	}
}

func (r *fakeReplica) Get(ctx context.Context, writer peer.ID, key string) (replica.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.recs[writer.String()+"/"+key]
	if !ok || rec.Deleted {
		return replica.Record{}, fmt.Errorf("no record of %s for %q: %w", writer, key, core.ErrNotFound)
	}
	return rec, nil
}

func (r *fakeReplica) Records(ctx context.Context) iter.Seq2[replica.Record, error] {
	r.mu.Lock()
	var recs []replica.Record
	for _, k := range slices.Sorted(maps.Keys(r.recs)) {
		if !r.recs[k].Deleted {
			recs = append(recs, r.recs[k])
		}
	}
	r.mu.Unlock()
	return func(yield func(replica.Record, error) bool) {
		for _, rec := range recs {
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// Watch subscribes when called, as the node does.
func (r *fakeReplica) Watch(ctx context.Context) iter.Seq[replica.Change] {
	ch := make(chan replica.Change, 1024)
	r.mu.Lock()
	r.subs = append(r.subs, ch)
	r.mu.Unlock()
	return func(yield func(replica.Change) bool) {
		defer func() {
			r.mu.Lock()
			r.subs = slices.DeleteFunc(r.subs, func(c chan replica.Change) bool { return c == ch })
			r.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-ch:
				if !yield(c) {
					return
				}
			}
		}
	}
}
