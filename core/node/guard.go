package node

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	ds "github.com/ipfs/go-datastore"
	record "github.com/libp2p/go-libp2p-record"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"google.golang.org/protobuf/proto"

	"github.com/netabase/netabase/core"
)

// guard sits between the DHT (and the node's own RecordStore) and the
// namespaced backend. For every value record written it
//
//   - keeps records monotonic: a write that the namespace's validator
//     selects below the stored record is refused, whoever makes it, so two
//     writers (the DHT's value store and the node) can never move a record
//     backwards by racing each other;
//   - reports the write, with the origin its context carries, so the node
//     can publish RecordStored and RecordReceived events.
//
// Provider records and everything else pass through untouched.
type guard struct {
	ds.Batching
	validator atomic.Pointer[record.Validator]
	locks     [256]sync.Mutex
	stored    func(ctx context.Context, key string, value []byte)
}

var _ ds.Batching = (*guard)(nil)

func newGuard(inner ds.Batching, stored func(ctx context.Context, key string, value []byte)) *guard {
	return &guard{Batching: inner, stored: stored}
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
	if strings.HasPrefix(k.String(), "/providers/") {
		return g.Batching.Put(ctx, k, value)
	}
	rec := new(recpb.Record)
	if proto.Unmarshal(value, rec) != nil || len(rec.GetKey()) == 0 {
		// Not a value record: nothing to guard.
		return g.Batching.Put(ctx, k, value)
	}
	key := string(rec.GetKey())
	lock := &g.locks[lockIndex(key)]
	lock.Lock()
	err := g.checkNewer(ctx, k, key, rec.GetValue())
	if err == nil {
		err = g.Batching.Put(ctx, k, value)
	}
	lock.Unlock()
	if err != nil {
		return err
	}
	if g.stored != nil {
		g.stored(ctx, key, rec.GetValue())
	}
	return nil
}

// checkNewer refuses value when the record stored at k is better by the
// validator of key's namespace. A missing, damaged or invalid stored record
// never blocks a write.
func (g *guard) checkNewer(ctx context.Context, k ds.Key, key string, value []byte) error {
	vp := g.validator.Load()
	if vp == nil {
		return nil
	}
	old, err := g.Batching.Get(ctx, k)
	if err != nil {
		if err == ds.ErrNotFound {
			return nil
		}
		return err
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

func lockIndex(key string) byte {
	if key == "" {
		return 0
	}
	return key[len(key)-1]
}
