package node

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	ds "github.com/ipfs/go-datastore"
	record "github.com/libp2p/go-libp2p-record"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/netabase/netabase/core"
)

// guard sits between the DHT (and the node's own RecordStore and
// ProviderStore) and the namespaced backend. For every value record written
// it
//
//   - keeps records monotonic: a write that the namespace's validator
//     selects below the stored record is refused, whoever makes it, so two
//     writers (the DHT's value store and the node) can never move a record
//     backwards by racing each other;
//   - applies the node's quota to a write from the network (a PUT_VALUE
//     from a peer, a provider record of another peer), refusing one past a
//     limit before it is written, and counts every write and delete, so the
//     quota's counts are the store's;
//   - reports the write, with the origin its context carries, so the node
//     can publish RecordStored and RecordReceived events.
//
// Writes in a batch (kad-dht's buffered provider records, the node's own
// batched records) are counted but never refused.
type guard struct {
	ds.Batching
	validator atomic.Pointer[record.Validator]
	locks     [256]sync.Mutex
	seed      maphash.Seed
	quota     *quota
	stored    func(ctx context.Context, key string, value []byte)
}

var _ ds.Batching = (*guard)(nil)

func newGuard(inner ds.Batching, q *quota, stored func(ctx context.Context, key string, value []byte)) *guard {
	return &guard{Batching: inner, seed: maphash.MakeSeed(), quota: q, stored: stored}
}

func (g *guard) setValidator(v record.Validator) { g.validator.Store(&v) }

// Children makes the guard a go-datastore shim, so that core sees the
// backend under it.
func (g *guard) Children() []ds.Datastore { return []ds.Datastore{g.Batching} }

// origin says who wrote a record; the DHT's own writes carry none.
type origin int

const (
	originRemote  origin = iota // a PUT_VALUE from a peer, or the DHT's own fix-ups
	originLocal                 // the node published it
	originFetched               // the node fetched it from the network
)

type originKey struct{}

func withOrigin(ctx context.Context, o origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

func originOf(ctx context.Context) origin {
	o, _ := ctx.Value(originKey{}).(origin)
	return o
}

func (g *guard) Put(ctx context.Context, k ds.Key, value []byte) error {
	rec, err := g.put(ctx, k, value)
	if err != nil {
		return err
	}
	if rec != nil && g.stored != nil {
		g.stored(ctx, string(rec.GetKey()), rec.GetValue())
	}
	return nil
}

// put writes value at k under k's lock, and returns the value record it
// wrote, if value is one.
func (g *guard) put(ctx context.Context, k ds.Key, value []byte) (*recpb.Record, error) {
	lock := g.lock(k)
	lock.Lock()
	defer lock.Unlock()
	if p, ok := providerOf(k.String()); ok {
		return nil, g.putProvider(ctx, k, p, value)
	}
	rec := new(recpb.Record)
	if proto.Unmarshal(value, rec) != nil || len(rec.GetKey()) == 0 {
		// Not a value record: nothing to guard.
		return nil, g.Batching.Put(ctx, k, value)
	}
	key := string(rec.GetKey())
	old, err := g.Batching.Get(ctx, k)
	had := err == nil
	if err != nil && !errors.Is(err, ds.ErrNotFound) {
		return nil, err
	}
	if err := g.checkNewer(key, old, rec.GetValue()); err != nil {
		return nil, err
	}
	w := valueWrite{dsKey: k.String(), owner: ownerOf(key), had: had, oldSize: int64(len(old)), newSize: int64(len(value))}
	if originOf(ctx) != originRemote {
		// The node's own write: counted, never refused.
		if err := g.Batching.Put(ctx, k, value); err != nil {
			return nil, err
		}
		g.quota.storedValue(w)
		return rec, nil
	}
	undo, err := g.quota.admitValue(w, g.quota.sender(key))
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", key, err)
	}
	if err := g.Batching.Put(ctx, k, value); err != nil {
		undo()
		return nil, err
	}
	g.quota.acceptedRecord()
	return rec, nil
}

// putProvider writes a provider record of p, when it fits the quota or is
// already stored.
func (g *guard) putProvider(ctx context.Context, k ds.Key, p peer.ID, value []byte) error {
	had, err := g.Batching.Has(ctx, k)
	if err != nil {
		return err
	}
	if !had {
		if err := g.quota.admitProvider(p); err != nil {
			return fmt.Errorf("provider record of %s: %w", p, err)
		}
	}
	if err := g.Batching.Put(ctx, k, value); err != nil {
		if !had {
			g.quota.removedProvider(p)
		}
		return err
	}
	if p != g.quota.self {
		g.quota.acceptedProvider()
	}
	return nil
}

// Delete deletes the entry at k, counting what it held.
func (g *guard) Delete(ctx context.Context, k ds.Key) error {
	lock := g.lock(k)
	lock.Lock()
	defer lock.Unlock()
	old, err := g.Batching.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return g.Batching.Delete(ctx, k)
	}
	if err != nil {
		return err
	}
	if err := g.Batching.Delete(ctx, k); err != nil {
		return err
	}
	g.uncount(k, old)
	return nil
}

// uncount tells the quota that the entry at k, which held old, is gone.
func (g *guard) uncount(k ds.Key, old []byte) {
	if p, ok := providerOf(k.String()); ok {
		g.quota.removedProvider(p)
		return
	}
	if key, ok := recordKeyOf(old); ok {
		g.quota.removedValue(valueWrite{dsKey: k.String(), owner: ownerOf(key), had: true, oldSize: int64(len(old))})
	}
}

// count tells the quota that the entry at k, which held old (had says
// whether it held anything), now holds value.
func (g *guard) count(k ds.Key, had bool, old, value []byte) {
	if p, ok := providerOf(k.String()); ok {
		if !had {
			g.quota.addProviderUnchecked(p)
		}
		return
	}
	if had {
		g.uncount(k, old)
	}
	if key, ok := recordKeyOf(value); ok {
		g.quota.storedValue(valueWrite{dsKey: k.String(), owner: ownerOf(key), newSize: int64(len(value))})
	}
}

// Batch returns a batch whose writes are counted when it commits.
func (g *guard) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := g.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &guardBatch{Batch: b, g: g, ops: map[ds.Key][]byte{}}, nil
}

// guardBatch is a batch of the guard's store: it remembers the last write
// to each key (nil for a delete) and counts them at Commit.
type guardBatch struct {
	ds.Batch
	g   *guard
	ops map[ds.Key][]byte
}

func (b *guardBatch) Put(ctx context.Context, k ds.Key, value []byte) error {
	if err := b.Batch.Put(ctx, k, value); err != nil {
		return err
	}
	b.ops[k] = slices.Clone(value)
	if b.ops[k] == nil {
		b.ops[k] = []byte{}
	}
	return nil
}

func (b *guardBatch) Delete(ctx context.Context, k ds.Key) error {
	if err := b.Batch.Delete(ctx, k); err != nil {
		return err
	}
	b.ops[k] = nil
	return nil
}

// Commit commits the batch holding the locks of its keys, so that what it
// replaced is known exactly, and counts its writes.
func (b *guardBatch) Commit(ctx context.Context) error {
	var idx []byte
	for k := range b.ops {
		idx = append(idx, b.g.lockIndex(k))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		b.g.locks[i].Lock()
	}
	defer func() {
		for _, i := range idx {
			b.g.locks[i].Unlock()
		}
	}()
	type before struct {
		had bool
		old []byte
	}
	olds := make(map[ds.Key]before, len(b.ops))
	for k := range b.ops {
		old, err := b.g.Batching.Get(ctx, k)
		if err != nil && !errors.Is(err, ds.ErrNotFound) {
			return err
		}
		olds[k] = before{err == nil, old}
	}
	if err := b.Batch.Commit(ctx); err != nil {
		return err
	}
	for k, value := range b.ops {
		o := olds[k]
		switch {
		case value != nil:
			b.g.count(k, o.had, o.old, value)
		case o.had:
			b.g.uncount(k, o.old)
		}
	}
	clear(b.ops)
	return nil
}

func (g *guard) lock(k ds.Key) *sync.Mutex { return &g.locks[g.lockIndex(k)] }

func (g *guard) lockIndex(k ds.Key) byte { return byte(maphash.String(g.seed, k.String())) }

// checkNewer refuses value when old, the record stored under key, is
// better by the validator of key's namespace. A missing, damaged or invalid
// stored record never blocks a write.
func (g *guard) checkNewer(key string, old, value []byte) error {
	vp := g.validator.Load()
	if vp == nil || old == nil {
		return nil
	}
	oldRec := new(recpb.Record)
	if proto.Unmarshal(old, oldRec) != nil || string(oldRec.GetKey()) != key {
		return nil
	}
	v := *vp
	if v.Validate(key, oldRec.GetValue()) != nil {
		return nil
	}
	best, err := v.Select(key, [][]byte{value, oldRec.GetValue()})
	if err != nil || best != 0 {
		return core.Errorf(core.ErrRejected, "a newer record is already stored under %s", key)
	}
	return nil
}
