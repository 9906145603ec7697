package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	kb "github.com/libp2p/go-libp2p-kbucket"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// putTimeout bounds sending a record or provider record to one peer, as
// kad-dht bounds it.
const putTimeout = 30 * time.Second

// ErrNetabaseOnIPFS is returned for a netabase record on a node whose
// protocol prefix is /ipfs.
var ErrNetabaseOnIPFS = core.Errorf(core.ErrUnsupported, "netabase records need a netabase network: this node uses the protocol prefix %s (the public IPFS DHT), whose peers accept only pk and ipns records and would reject them; use the prefix %s", PrefixIPFS, PrefixNetabase)

// cutNamespace splits a record key "/<namespace>/<rest>".
func cutNamespace(key string) (ns, rest string, err error) {
	return record.SplitKey(key)
}

// checkKey says whether the node can put or get records under key.
func (n *Node) checkKey(d *dht.IpfsDHT, key string) error {
	ns, _, err := cutNamespace(key)
	if err != nil {
		return core.Errorf(core.ErrInvalidKey, "record key %q: keys look like /<namespace>/<name>, such as /netabase/<peer ID>/<name>", key)
	}
	if ns == envelope.Namespace && n.prefix == dht.DefaultPrefix {
		return ErrNetabaseOnIPFS
	}
	if nsv, ok := d.Validator.(record.NamespacedValidator); ok && nsv.ValidatorByKey(key) == nil {
		return core.Errorf(core.ErrUnsupported, "no validator for the %q namespace, so peers would reject its records; register one in node.Config.Validators", ns)
	}
	if ns == envelope.Namespace {
		if _, _, err := envelope.ParseKey(key); err != nil {
			return err
		}
	}
	return nil
}

// PutResult says where a record went.
type PutResult struct {
	Key string
	// Peers is how many of the peers closest to the key the node found
	// and sent the record to.
	Peers int
	// Accepted is how many of them stored it.
	Accepted int
}

// PublishRecord seals value as this node's record called name (schema and
// version describe the value), stores it locally and puts it to the DHT; it
// returns the record key.
func (n *Node) PublishRecord(ctx context.Context, name, schema string, version uint32, value []byte) (key string, err error) {
	res, err := n.Publish(ctx, name, schema, version, value)
	return res.Key, err
}

// observe moves the node's clock past e's reading: in full when e is one
// of the node's own records, which its next records must outrank; at most
// envelope.MaxObservedSkew past the wall clock when another owner's, so
// that no peer can date the node's records ahead (see core/envelope).
func (n *Node) observe(e *envelope.Envelope) {
	if owner, _, err := envelope.ParseKey(e.Key); err == nil && owner == n.id {
		n.clock.Advance(e.Clock)
		return
	}
	n.clock.Observe(e.Clock)
}

// Publish is PublishRecord saying how many peers accepted the record.
func (n *Node) Publish(ctx context.Context, name, schema string, version uint32, value []byte) (_ PutResult, err error) {
	ctx, span := startSpan(ctx, "node publish", name)
	defer endSpan(span, &err)
	if n.prefix == dht.DefaultPrefix {
		return PutResult{}, ErrNetabaseOnIPFS
	}
	key := envelope.Key(n.id, name)
	if _, _, err := envelope.ParseKey(key); err != nil {
		return PutResult{}, err
	}
	// The clock must pass the stored version, even one written before a
	// restart by a wall clock that ran ahead, or the new one would lose.
	if old, err := n.records.Get(ctx, key); err == nil {
		if e, err := n.opens.open(key, old.Value); err == nil {
			n.clock.Advance(e.Clock)
		}
	}
	env, err := envelope.Seal(n.priv, name, schema, version, n.clock.Now(), value)
	if err != nil {
		return PutResult{}, err
	}
	b, err := env.Marshal()
	if err != nil {
		return PutResult{}, err
	}
	return n.PutRecord(ctx, key, b)
}

// PutRecord stores a record locally and puts it to the peers closest to its
// key. The value must pass the validator of the key's namespace: for
// netabase records, a sealed envelope (see Publish). With no peers known the
// record is only stored locally, and Peers is 0.
func (n *Node) PutRecord(ctx context.Context, key string, value []byte) (_ PutResult, err error) {
	ctx, span := startSpan(ctx, "node put", key)
	defer endSpan(span, &err)
	d, ctx, release, err := n.use(ctx)
	if err != nil {
		return PutResult{}, err
	}
	defer release()
	res := PutResult{Key: key}
	if err := n.checkKey(d, key); err != nil {
		return res, err
	}
	if err := d.Validator.Validate(key, value); err != nil {
		// The netabase validator's errors name the record already.
		if errors.Is(err, core.ErrRejected) {
			return res, err
		}
		return res, core.Errorf(core.ErrRejected, "record %s: %w", key, err)
	}
	if err := n.records.Put(withOrigin(ctx, originLocal), core.Record{Key: key, Value: value}); err != nil {
		return res, fmt.Errorf("storing record %s locally: %w", key, err)
	}
	peers, err := d.GetClosestPeers(ctx, key)
	if errors.Is(err, kb.ErrLookupFailure) {
		return res, nil // no peers known: stored locally only
	}
	if err != nil {
		return res, fmt.Errorf("record %s is stored locally, but finding the peers to send it to failed: %w", key, err)
	}
	res.Peers = len(peers)
	rec := record.MakePutRecord(key, value)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, putTimeout)
			defer cancel()
			if n.messenger.PutValue(ctx, p, rec) == nil {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	res.Accepted = int(accepted.Load())
	return res, ctx.Err()
}

// Source says where a record that was got came from.
type Source string

// The sources of a record.
const (
	// SourceLocal: the local copy was the newest found.
	SourceLocal Source = "local"
	// SourceNetwork: a peer had a newer copy than the local one, or the
	// only one; the node now stores it.
	SourceNetwork Source = "network"
)

// GetResult is a record that was got.
type GetResult struct {
	Key string
	// Value is the record's value: the value inside the envelope of a
	// netabase record, the record itself in other namespaces.
	Value []byte
	// Record is the record as stored and as peers exchange it: the
	// signed envelope of a netabase record, to serve or relay unchanged.
	Record []byte
	// Envelope is the opened envelope of a netabase record, nil for other
	// namespaces.
	Envelope *envelope.Envelope
	Source   Source
}

// GetRecord returns the newest valid record under key: the local copy,
// unless the peers closest to the key hold a newer one. A record found only
// on the network is stored locally. With no record anywhere the error wraps
// core.ErrNotFound.
func (n *Node) GetRecord(ctx context.Context, key string) (_ GetResult, err error) {
	ctx, span := startSpan(ctx, "node get", key)
	defer endSpan(span, &err)
	d, ctx, release, err := n.use(ctx)
	if err != nil {
		return GetResult{}, err
	}
	defer release()
	res := GetResult{Key: key}
	if err := n.checkKey(d, key); err != nil {
		return res, err
	}
	// A local copy that cannot be read, such as one whose stored bytes
	// are damaged, is no copy: the peers may hold the record, and storing
	// theirs replaces it.
	local, lerr := n.records.Get(ctx, key)
	// kad-dht's lookup starts from the local copy and keeps the best
	// value by the namespace's selector.
	best, err := d.GetValue(ctx, key)
	if best == nil {
		if err == nil || errors.Is(err, routing.ErrNotFound) || errors.Is(err, kb.ErrLookupFailure) {
			if lerr != nil && !errors.Is(lerr, core.ErrNotFound) {
				return res, fmt.Errorf("no record %s at the peers closest to its key, and the local copy cannot be read: %w", key, lerr)
			}
			return res, core.Errorf(core.ErrNotFound, "no record %s here or at the peers closest to its key", key)
		}
		return res, fmt.Errorf("record %s: %w", key, err)
	}
	res.Value, res.Record, res.Source = best, best, SourceLocal
	if lerr != nil || !bytes.Equal(local.Value, best) {
		res.Source = SourceNetwork
		if err := n.records.Put(withOrigin(ctx, originFetched), core.Record{Key: key, Value: best}); err != nil && !errors.Is(err, core.ErrRejected) {
			return res, fmt.Errorf("storing the fetched record %s: %w", key, err)
		}
	}
	if ns, _, _ := cutNamespace(key); ns == envelope.Namespace {
		if res.Envelope, err = n.opens.open(key, best); err != nil {
			return res, err
		}
		res.Value = res.Envelope.Value
		n.observe(res.Envelope)
	}
	return res, nil
}

// FetchRecord returns the newest valid envelope stored under key: from the
// network when reachable, else the local copy; an error wrapping
// core.ErrNotFound when there is none.
func (n *Node) FetchRecord(ctx context.Context, key string) (*envelope.Envelope, error) {
	if _, _, err := envelope.ParseKey(key); err != nil {
		return nil, err
	}
	res, err := n.GetRecord(ctx, key)
	if err != nil {
		return nil, err
	}
	return res.Envelope, nil
}

// RemoveRecord deletes the local copy of the record under key, a damaged
// one too; peers keep theirs. The error wraps core.ErrNotFound when there is
// no local copy.
func (n *Node) RemoveRecord(ctx context.Context, key string) (err error) {
	ctx, span := startSpan(ctx, "node remove", key)
	defer endSpan(span, &err)
	if _, err := n.records.Get(ctx, key); errors.Is(err, core.ErrNotFound) {
		return core.Errorf(core.ErrNotFound, "this node holds no copy of record %s, so there is nothing to remove", key)
	}
	if err := n.records.Remove(ctx, key); err != nil {
		return err
	}
	n.publish(RecordRemoved{At: now(), Key: key})
	return nil
}

// LocalRecord is a record in the node's store.
type LocalRecord struct {
	core.Record
	// Envelope is the opened envelope of a netabase record; nil for other
	// namespaces, or when the stored bytes do not open.
	Envelope *envelope.Envelope
}

// LocalRecords yields the records in the node's store, of one namespace
// ("netabase") or of all when namespace is empty.
func (n *Node) LocalRecords(ctx context.Context, namespace string) iter.Seq2[LocalRecord, error] {
	return func(yield func(LocalRecord, error) bool) {
		for r, err := range n.records.Records(ctx, namespace) {
			lr := LocalRecord{Record: r}
			if err == nil {
				if ns, _, _ := cutNamespace(r.Key); ns == envelope.Namespace {
					lr.Envelope, _ = n.opens.open(r.Key, r.Value)
				}
			}
			if !yield(lr, err) || err != nil {
				return
			}
		}
	}
}

// receivedBuffer is how many received envelopes ReceivedRecords holds for
// a consumer that is behind.
const receivedBuffer = 1 << 14

// ReceivedRecords yields, until ctx ends, every netabase record envelope
// this node accepts from another peer (stored by a remote PUT_VALUE or
// fetched). The same envelope may come more than once. It holds up to
// 16384 envelopes for a consumer that falls behind; past that it drops
// them and logs how many (they remain in the local store, see
// LocalRecords). Records accepted after the call and before the first
// iteration are not lost.
func (n *Node) ReceivedRecords(ctx context.Context) iter.Seq[*envelope.Envelope] {
	sub := n.bus.subscribe(receivedBuffer, func(ev Event) bool {
		r, ok := ev.(RecordReceived)
		return ok && r.Envelope != nil
	})
	context.AfterFunc(ctx, sub.Close)
	return func(yield func(*envelope.Envelope) bool) {
		defer sub.Close()
		for ev := range sub.Events(ctx) {
			switch ev := ev.(type) {
			case RecordReceived:
				if !yield(ev.Envelope) {
					return
				}
			case EventsLost:
				n.log.Warn("a ReceivedRecords consumer fell behind and lost records", "lost", ev.Count)
			}
		}
	}
}
