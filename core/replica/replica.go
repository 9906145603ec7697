package replica

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// ErrLater is wrapped by the error for a record dated further ahead of
// this node's clock than envelope.MaxClockSkew: a passing, local reason,
// so the record stays out of the set and is taken when a later
// reconciliation offers it again.
var ErrLater = errors.New("dated ahead of this node's clock")

// Reason says why a replica refused a record that a peer sent: one of
// Reasons.
type Reason string

// The reasons a replica refuses a record, whatever carried it: gossip, a
// reconciliation session, a gateway's event stream or sync connection.
const (
	// RefusedMalformed: not a well-formed envelope (SYNC.md §2), filed
	// under another key than the one it is signed for, or a tombstone
	// that carries a value.
	RefusedMalformed Reason = "malformed"
	// RefusedBounds: larger than an envelope may be (envelope.MaxSize).
	RefusedBounds Reason = "bounds"
	// RefusedSignature: not signed by the owner of its key.
	RefusedSignature Reason = "signature"
	// RefusedSchema: not a record of the collection: another schema, or a
	// name outside the collection's.
	RefusedSchema Reason = "schema"
	// RefusedWriter: its owner is not on the collection's writer list.
	RefusedWriter Reason = "writer"
	// RefusedClock: dated further ahead of this node's clock than
	// envelope.MaxClockSkew (ErrLater), a passing reason.
	RefusedClock Reason = "clock"
	// RefusedRate: sent past the rate of the connection that carried it
	// (a gateway's sync connection), a passing reason; the transport
	// counts it (CountRefused), as no record is opened for it.
	RefusedRate Reason = "rate"
)

// Reasons are the reasons a record is refused, in a fixed order.
var Reasons = []Reason{RefusedMalformed, RefusedBounds, RefusedSignature, RefusedSchema, RefusedWriter, RefusedClock, RefusedRate}

// Record is one writer's record of a synced collection.
type Record struct {
	// Writer is the peer that wrote and signed it.
	Writer peer.ID
	// Key is the writer's key for it in the collection.
	Key string
	// Clock is when the writer wrote it.
	Clock envelope.Timestamp
	// Version is the schema version of Value; 0 for a tombstone.
	Version uint32
	// Value is the record's value; empty for a tombstone.
	Value []byte
	// Deleted marks a tombstone: the writer deleted Key.
	Deleted bool
}

// Change is what a watcher of a replica gets (see [Replica.Watch]): a
// record that entered the replica, and who sent it (empty for this node's
// own writes), or, when Missed is not zero, only the word that the watcher
// missed that many changes at this point.
type Change struct {
	Record
	From peer.ID
	// Data is the record's envelope, its bytes as the replica stores
	// them, so that a watcher that forwards the record (a relay's live
	// feed) need not read it back; shared by every watcher, so read it
	// only.
	Data []byte
	// Missed is how many changes the watcher lost here, because it had
	// fallen a full buffer behind; the Change then holds no record.
	Missed uint64
}

// Replica is this node's replica of one synced collection: the set of the
// newest record of every (writer, key) that its settings admit, kept in a
// datastore through a core.RecordStore and, in memory, as a Set for
// reconciliation. It is safe for concurrent use.
type Replica struct {
	settings Settings
	digest   [HashSize]byte
	d        ds.Datastore
	store    *core.RecordStore // the records, in d
	now      func() time.Time

	wmu     sync.Mutex // orders writes to d: Insert's, from its batch's update to its write, and the figures per peer
	mu      sync.Mutex // guards what follows
	index              // the records held
	latest  envelope.Timestamp
	rebuilt string // why Open last rebuilt the index from the records; "" when it read the stored one
	batches bool   // d has atomic batches: a write need not be a checkpoint (disk.go)
	watch   hub
	peers   map[peer.ID]*PeerStats
	refused map[Reason]*atomic.Uint64 // records refused, by reason; the map is fixed at Open
	// fault is why the replica does not hold its set: after a failed
	// write, reading the records back failed too. Every call fails with
	// it until a read succeeds.
	fault error
}

// Open loads the replica of the collection kept in d (a namespace of the
// node's backend that holds nothing else). settings must be normalized.
// Records that the settings no longer admit, or that do not decode, are
// dropped from d; the bounds are applied.
func Open(ctx context.Context, d ds.Datastore, settings Settings) (*Replica, error) {
	r := &Replica{
		settings: settings,
		digest:   settings.Digest(),
		d:        d,
		store:    core.NewRecordStore(d),
		now:      time.Now,
		peers:    make(map[peer.ID]*PeerStats),
		refused:  make(map[Reason]*atomic.Uint64, len(Reasons)),
	}
	for _, reason := range Reasons {
		r.refused[reason] = new(atomic.Uint64)
	}
	if bd, ok := d.(ds.Batching); ok {
		// An empty batch tells whether d has batches (a namespace over a
		// datastore without them answers ErrBatchUnsupported); it is
		// committed, as some engines complain of a batch left open.
		b, err := bd.Batch(ctx)
		if err == nil {
			err = b.Commit(ctx)
		}
		switch {
		case err == nil:
			r.batches = true
		case !errors.Is(err, ds.ErrBatchUnsupported):
			return nil, fmt.Errorf("opening the replica of collection %s: %w", settings.Name, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(ctx); err != nil {
		return nil, fmt.Errorf("loading the replica of collection %s: %w", settings.Name, err)
	}
	if err := r.openArrivals(ctx); err != nil {
		return nil, fmt.Errorf("giving the records of collection %s an arrival order: %w", settings.Name, err)
	}
	if err := r.loadPeers(ctx); err != nil {
		return nil, fmt.Errorf("loading the reconciliation figures of collection %s: %w", settings.Name, err)
	}
	return r, nil
}

// Settings returns the collection's settings.
func (r *Replica) Settings() Settings { return r.settings }

// Digest identifies the collection's settings.
func (r *Replica) Digest() [HashSize]byte { return r.digest }

// load opens the replica's stored index without reading the records: it
// checks the summary against the trees' roots and the writers' figures,
// then applies the index's log. An index that is missing while records
// are stored (a collection stored before replicas kept one), unfinished,
// of another format, at odds with its summary or whose log has a gap is
// rebuilt from the records, and the log says why; a new collection's index
// starts with a summary. The bounds are applied then, as the settings may
// have changed. The caller holds r.mu.
func (r *Replica) load(ctx context.Context) error {
	r.forget()
	r.rebuilt = ""
	raw, err := r.d.Get(ctx, metaKey)
	var why string
	switch {
	case errors.Is(err, ds.ErrNotFound):
		held, err := r.holdsRecords(ctx)
		if err != nil {
			return err
		}
		if held {
			why = "the collection has no index yet (it was stored before replicas kept one)"
			break
		}
		// A new collection: its index starts with a summary, so that its
		// log has one to follow.
		if err := r.clearIndex(ctx); err != nil {
			return err
		}
		return r.commit(ctx, nil, nil, true)
	case err != nil:
		return err
	default:
		m, err := decodeMeta(raw)
		if err != nil {
			why = err.Error()
			break
		}
		x, reason, err := openStored(ctx, r.d, m, r.digest)
		if err != nil {
			return err
		}
		if why = reason; why == "" {
			r.index, r.latest = x, m.latest
			if why, err = r.replay(ctx, r.d, m.logBase, r.observe); err != nil {
				return err
			}
		}
	}
	if why != "" {
		r.rebuilt = why
		slog.Warn("rebuilding a synced collection's index from its records", "collection", r.settings.Name, "reason", why)
		return r.rebuild(ctx)
	}
	if evicted := r.evict(r.now(), r.settings, nil); len(evicted) > 0 {
		return r.commit(ctx, nil, evicted, true)
	}
	return nil
}

// holdsRecords reports whether d holds a record.
func (r *Replica) holdsRecords(ctx context.Context) (bool, error) {
	res, err := r.d.Query(ctx, dsq.Query{Prefix: "/" + envelope.Namespace, KeysOnly: true, Limit: 1})
	if err != nil {
		return false, err
	}
	defer res.Close()
	for e := range res.Next() {
		return e.Error == nil, e.Error
	}
	return false, nil
}

// rebuildChunk is how many changed nodes a rebuild holds before it writes
// them.
var rebuildChunk = 256

// rebuild makes the index anew from the stored records: it deletes the
// stored index, marks the new one unfinished, reads every record (dropping
// those the settings no longer admit or that do not decode), applies the
// bounds and marks the index whole. It writes as it goes, so that its
// memory stays bounded; a crash meanwhile leaves the index unfinished, and
// the next Open rebuilds it again. The caller holds r.mu.
func (r *Replica) rebuild(ctx context.Context) error {
	if err := r.clearIndex(ctx); err != nil {
		return err
	}
	r.forget()
	if err := r.commit(ctx, nil, nil, false); err != nil {
		return err
	}
	var bad []string
	for rec, err := range r.store.Records(ctx, envelope.Namespace) {
		if err != nil {
			return err
		}
		e, err := envelope.Decode(rec.Key, rec.Value)
		if err == nil {
			_, err = r.check(e)
		}
		if err != nil || int64(len(rec.Value)) > r.settings.recordCap() {
			bad = append(bad, rec.Key)
			continue
		}
		it := ItemOf(rec.Key, e.Clock, rec.Value)
		r.observe(it.Clock)
		r.put(it, len(rec.Value), e.Version == 0)
		if r.dirtyNodes() >= rebuildChunk {
			if err := r.commit(ctx, nil, bad, false); err != nil {
				return err
			}
			bad = nil
		}
	}
	if err := r.failed(); err != nil {
		return err
	}
	evicted := r.evict(r.now(), r.settings, nil)
	return r.commit(ctx, nil, append(bad, evicted...), true)
}

// clearIndex deletes every stored entry of the index.
func (r *Replica) clearIndex(ctx context.Context) error {
	for {
		res, err := r.d.Query(ctx, dsq.Query{Prefix: indexRoot.String(), KeysOnly: true, Limit: 4096})
		if err != nil {
			return err
		}
		keys, err := res.Rest()
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		ops := make([]op, len(keys))
		for i, e := range keys {
			ops[i] = op{key: ds.RawKey(e.Key)}
		}
		if err := r.write(ctx, nil, nil, ops); err != nil {
			return err
		}
	}
}

// commit writes puts, the removal of removes and what changed in the
// index, in one batch, and settles the index; whole marks the stored index
// whole. The caller holds r.mu.
func (r *Replica) commit(ctx context.Context, puts []core.Record, removes []string, whole bool) error {
	if err := r.failed(); err != nil {
		return err
	}
	ops, _ := r.stage(r.digest, r.latest, whole, true)
	if err := r.write(ctx, puts, removes, ops); err != nil {
		return err
	}
	r.settle(true)
	return nil
}

// write stores puts, removes removes and applies ops (the index's log
// entries, or a checkpoint with the index's summary last), in one batch
// when d has batches. A backend's batch
// must commit atomically (all of it or none, across a crash too) for the
// index to agree with the records after a crash: pebble's, LevelDB's,
// IndexedDB's and a plugin's do, and Badger's while the batch fits in one
// of its transactions (go-ds-badger4 splits a larger one), as a replica's
// batches of records and index entries do. On a datastore without batches every write
// is a checkpoint, and the summary is first marked unfinished, so that a
// crash part way is found by the next Open, which rebuilds the index.
func (r *Replica) write(ctx context.Context, puts []core.Record, removes []string, ops []op) error {
	var w ds.Write = r.d
	var b ds.Batch
	if bd, ok := r.d.(ds.Batching); ok {
		var err error
		b, err = bd.Batch(ctx)
		switch {
		case err == nil:
			w = b
		case !errors.Is(err, ds.ErrBatchUnsupported):
			return err
		}
	}
	if last := len(ops) - 1; b == nil && last >= 0 && ops[last].key == metaKey && ops[last].val != nil {
		m, err := decodeMeta(ops[last].val)
		if err != nil {
			return err
		}
		m.whole = false
		if err := r.d.Put(ctx, metaKey, m.encode()); err != nil {
			return err
		}
		if err := r.d.Sync(ctx, indexRoot); err != nil {
			return err
		}
	}
	for i := range puts {
		if puts[i].Received.IsZero() {
			puts[i].Received = time.Now()
		}
	}
	add, drop, err := r.arrivalOps(ctx, puts, removes)
	if err != nil {
		return err
	}
	// The arrival order's new entries go first and its old ones last, so
	// that a datastore without batches that fails part way holds an
	// entry too many, never one too few (see arrivalNS).
	for _, o := range add {
		if err := w.Put(ctx, o.key, o.val); err != nil {
			return err
		}
	}
	if err := r.store.WriteTo(ctx, w, puts, removes); err != nil {
		return err
	}
	for _, o := range append(ops, drop...) {
		var err error
		if o.val == nil {
			err = w.Delete(ctx, o.key)
		} else {
			err = w.Put(ctx, o.key, o.val)
		}
		if err != nil {
			return err
		}
	}
	if b != nil {
		return b.Commit(ctx)
	}
	return nil
}

// reload reads the stored records into memory again, after a write
// failed: the memory then holds the write's records, which the store may
// not. When the read fails, the replica holds no set until a later read
// succeeds, and reload returns the error every call fails with meanwhile.
// The caller holds r.wmu and r.mu.
func (r *Replica) reload(ctx context.Context) error {
	if err := r.load(ctx); err != nil {
		r.forget()
		r.fault = fmt.Errorf("collection %s is unavailable: a write failed, and reading its records back failed too (they stay in the store, and the replica reads them again once the store works): %w", r.settings.Name, err)
		return r.fault
	}
	r.fault = nil
	return nil
}

// repair reads the records back when the replica does not hold its set,
// and returns the error of the read when it fails again. The caller holds
// r.wmu and r.mu.
func (r *Replica) repair(ctx context.Context) error {
	if r.fault == nil && r.failed() == nil {
		return nil
	}
	return r.reload(ctx)
}

// Err returns nil when the replica holds its set, and otherwise why it
// does not: a write failed on a store that then failed to read the
// records back too (a full disk, a plugin backend that is restarting).
// Meanwhile Insert, Records, Reconcile and Wins fail, Status says the
// error in place of figures, and Items and Fingerprint are empty: a
// caller that serves them checks Err first. Each call of Err, Insert,
// Records and Reconcile tries the read again, so the replica is whole
// again once the store works.
func (r *Replica) Err() error {
	r.mu.Lock()
	fault := r.fault
	if fault == nil {
		fault = r.failed()
	}
	r.mu.Unlock()
	if fault == nil {
		return nil
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.repair(context.Background())
}

// forget drops the index from memory, for an empty one over d. The caller
// holds r.mu.
func (r *Replica) forget() { r.index = newStoredIndex(r.d) }

// observe notes a clock of a record the replica takes, for Latest. The
// caller holds r.mu.
func (r *Replica) observe(c envelope.Timestamp) {
	if c.Compare(r.latest) > 0 {
		r.latest = c
	}
}

// RecordKey is the record key of writer's record for key in the collection.
func (r *Replica) RecordKey(writer peer.ID, key string) string {
	return envelope.Key(writer, r.settings.Name+"/"+key)
}

// check refuses an envelope the collection does not admit, whatever its
// signature: another schema or record name, a writer not on the list, a
// tombstone that carries a value. The error wraps core.ErrRejected, and
// the reason says which.
func (r *Replica) check(e *envelope.Envelope) (Reason, error) {
	owner, name, err := envelope.ParseKey(e.Key)
	if err != nil {
		return RefusedMalformed, core.Errorf(core.ErrRejected, "%w", err)
	}
	switch {
	case e.Schema != r.settings.Name || !strings.HasPrefix(name, r.settings.Name+"/") || len(name) == len(r.settings.Name)+1:
		return RefusedSchema, core.Errorf(core.ErrRejected, "record %s (schema %q) is not a record of collection %s", e.Key, e.Schema, r.settings.Name)
	case !r.settings.allows(owner):
		return RefusedWriter, core.Errorf(core.ErrRejected, "record %s: writer %s is not on collection %s's writer list", e.Key, owner, r.settings.Name)
	case e.Version == 0 && len(e.Value) > 0:
		return RefusedMalformed, core.Errorf(core.ErrRejected, "record %s: version 0 marks a tombstone, which carries no value", e.Key)
	}
	return "", nil
}

// Verified is a record whose signature and admission Verify checked.
type Verified struct {
	Env  *envelope.Envelope
	Data []byte
}

// Verify opens data, the bytes of an envelope, as a record of the
// collection: well-formed, signed by the owner of its key, admitted by the
// settings, and dated no further ahead of the clock than
// envelope.MaxClockSkew (else the error wraps ErrLater). Other errors wrap
// core.ErrRejected. Every transport opens the records peers send with
// Verify, which counts each refusal by its reason (Refused).
func (r *Replica) Verify(data []byte) (Verified, error) {
	v, reason, err := r.verify(data)
	if err != nil {
		r.CountRefused(reason)
	}
	return v, err
}

func (r *Replica) verify(data []byte) (Verified, Reason, error) {
	e, err := envelope.OpenRecord(data)
	switch {
	case err == nil:
	case len(data) > envelope.MaxSize:
		return Verified{}, RefusedBounds, err
	case errors.Is(err, envelope.ErrSignature):
		return Verified{}, RefusedSignature, err
	default:
		return Verified{}, RefusedMalformed, err
	}
	if reason, err := r.check(e); err != nil {
		return Verified{}, reason, err
	}
	if err := e.CheckClock(r.now()); err != nil {
		return Verified{}, RefusedClock, fmt.Errorf("%w: %w", ErrLater, err)
	}
	return Verified{e, data}, "", nil
}

// verifyResult is what verify says of one record.
type verifyResult struct {
	v      Verified
	reason Reason
	err    error
}

// verifyMin is the fewest records worth a goroutine of verifyEach.
const verifyMin = 32

// verifyEach verifies the envelope of each of recs as verify does, on up
// to GOMAXPROCS goroutines (signature checks are most of what a session's
// round costs the side that receives it), and returns what it says of
// each, in order; it counts nothing, so the caller counts the refusals it
// acts on, as Verify would have.
func (r *Replica) verifyEach(recs []WireRecord) []verifyResult {
	out := make([]verifyResult, len(recs))
	check := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i].v, out[i].reason, out[i].err = r.verify(recs[i].Envelope)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(recs)/verifyMin)
	if workers < 2 {
		check(0, len(recs))
		return out
	}
	per := (len(recs) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(recs); lo += per {
		wg.Go(func() { check(lo, min(lo+per, len(recs))) })
	}
	wg.Wait()
	return out
}

// CountRefused counts a record refused for reason, one of Reasons, in
// Refused: Verify counts its refusals so, and a transport that refuses a
// record before opening it (RefusedRate) counts it so too.
func (r *Replica) CountRefused(reason Reason) { r.refused[reason].Add(1) }

// Refused returns how many records from peers the replica refused since it
// was opened, by reason (every reason, those of none included).
func (r *Replica) Refused() map[Reason]uint64 {
	out := make(map[Reason]uint64, len(r.refused))
	for reason, n := range r.refused {
		out[reason] = n.Load()
	}
	return out
}

// Wins reports whether v would replace what the replica holds under its
// key (or fill an empty key): the same rule the DHT's selector applies.
// While Err is not nil, nothing wins.
func (r *Replica) Wins(ctx context.Context, v Verified) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fault == nil && r.wins(ctx, v, nil)
}

// wins is Wins against the replica and the puts of a batch under way. The
// caller holds r.mu.
func (r *Replica) wins(ctx context.Context, v Verified, pending map[string]Verified) bool {
	if p, ok := pending[v.Env.Key]; ok {
		return v.Env.Newer(p.Env)
	}
	cur, ok := r.set.Get(v.Env.Key)
	if !ok {
		return true
	}
	it := ItemOf(v.Env.Key, v.Env.Clock, v.Data)
	switch {
	case it.Hash == cur.Hash:
		return false
	case it.Clock.Compare(cur.Clock) != 0:
		return it.Newer(cur)
	}
	// Equal clocks: the signatures decide.
	old, err := r.envelope(ctx, v.Env.Key)
	return err != nil || v.Env.Newer(old)
}

// envelope reads the stored envelope under key.
func (r *Replica) envelope(ctx context.Context, key string) (*envelope.Envelope, error) {
	rec, err := r.store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return envelope.Decode(key, rec.Value)
}

// Insert stores the records that win over what the replica holds, in one
// write, and returns how many it stored. Records dated too far ahead, past
// the tombstone horizon, or dropped at once by the bounds are left out.
// from is the peer that sent them, empty for this node's own.
func (r *Replica) Insert(ctx context.Context, from peer.ID, vs []Verified) (int, error) {
	return r.insert(ctx, from, vs, false)
}

// insert is Insert; with all, it stores every record of vs or, with an
// error saying which record is left out and why, none (see PutOwn).
func (r *Replica) insert(ctx context.Context, from peer.ID, vs []Verified, all bool) (int, error) {
	// r.wmu orders the batches' writes as their in-memory updates; r.mu
	// is let go while the store writes (and syncs), so that validating
	// gossip, sessions and Status need not wait on the disk. Meanwhile
	// they see the batch's items, which the store may not hold yet: a
	// record asked for then is not sent, and a later session sends it.
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	locked := true
	defer func() {
		if locked {
			r.mu.Unlock()
		}
	}()
	if err := r.repair(ctx); err != nil {
		return 0, err
	}
	now := r.now()
	horizon := now.Add(-r.settings.TombstoneHorizon).UnixNano()
	pending := make(map[string]Verified)
	touched := make(map[string]bool)
	var order []string
	for _, v := range vs {
		e := v.Env
		// A record larger than a byte bound (or, under BoundsSameSet,
		// than the bound per record) can never be kept: left out, it drops
		// none of the writer's other records.
		tooLarge := int64(len(v.Data)) > r.settings.recordCap()
		if tooLarge || e.CheckClock(now) != nil || e.Version == 0 && e.Clock.Wall < horizon || !r.wins(ctx, v, pending) {
			if all {
				return 0, r.leftOut(v, tooLarge, len(vs))
			}
			continue
		}
		if _, ok := pending[e.Key]; !ok {
			order = append(order, e.Key)
		}
		pending[e.Key] = v
	}
	if len(pending) == 0 {
		return 0, nil
	}
	held := make(map[string]bool) // keys the store holds a version of
	for _, k := range order {
		v := pending[k]
		_, held[k] = r.set.Get(k)
		it := ItemOf(k, v.Env.Clock, v.Data)
		r.observe(it.Clock)
		r.put(it, len(v.Data), v.Env.Version == 0)
		touched[writerPart(k)] = true
	}
	evicted := r.evict(now, r.settings, touched)
	var puts []core.Record
	var removes []string
	var changes []Change
	for _, k := range evicted {
		if _, ok := pending[k]; ok && all {
			// The bounds drop a record of the call at once: the memory
			// holds changes the store does not, and is read back.
			err := r.overBounds(len(vs))
			if lerr := r.reload(context.WithoutCancel(ctx)); lerr != nil {
				err = errors.Join(err, lerr)
			}
			return 0, err
		}
		if _, ok := pending[k]; ok {
			delete(pending, k)
			if !held[k] {
				continue // never stored: nothing to remove
			}
		}
		removes = append(removes, k)
	}
	for _, k := range order {
		v, ok := pending[k]
		if !ok {
			continue
		}
		puts = append(puts, core.Record{Key: k, Value: v.Data, Received: now})
		changes = append(changes, Change{Record: r.RecordOf(v.Env), From: from, Data: v.Data})
	}
	if err := r.failed(); err != nil {
		// A node of the index did not read: the batch is not written, and
		// the index is read again.
		err = fmt.Errorf("collection %s: storing %d records: %w", r.settings.Name, len(puts), err)
		if lerr := r.reload(context.WithoutCancel(ctx)); lerr != nil {
			err = errors.Join(err, lerr)
		}
		return 0, err
	}
	ops, checkpoint := r.stage(r.digest, r.latest, true, !r.batches)
	r.mu.Unlock()
	locked = false
	err := r.write(ctx, puts, removes, ops)
	r.mu.Lock()
	locked = true
	if err != nil {
		// The store holds what it held, records and index: read it back.
		err = fmt.Errorf("collection %s: storing %d records: %w", r.settings.Name, len(puts), err)
		if lerr := r.reload(context.WithoutCancel(ctx)); lerr != nil {
			err = errors.Join(err, lerr)
		}
		return 0, err
	}
	r.settle(checkpoint)
	r.mu.Unlock()
	locked = false
	for _, c := range changes {
		r.watch.send(c)
	}
	return len(puts), nil
}

// RecordOf is the public view of an envelope of the collection, one Verify
// or the replica admitted.
func (r *Replica) RecordOf(e *envelope.Envelope) Record {
	owner, name, _ := envelope.ParseKey(e.Key)
	return Record{
		Writer:  owner,
		Key:     name[len(r.settings.Name)+1:],
		Clock:   e.Clock,
		Version: e.Version,
		Value:   e.Value,
		Deleted: e.Version == 0,
	}
}

// Get returns writer's record for key, a tombstone included; the error
// wraps core.ErrNotFound when the replica holds none.
func (r *Replica) Get(ctx context.Context, writer peer.ID, key string) (Record, error) {
	e, err := r.envelope(ctx, r.RecordKey(writer, key))
	if err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return Record{}, core.Errorf(core.ErrNotFound, "collection %s holds no record of %s for key %q", r.settings.Name, writer, key)
		}
		return Record{}, err
	}
	return r.RecordOf(e), nil
}

// Envelope returns the stored envelope bytes of a record key.
func (r *Replica) Envelope(ctx context.Context, key string) ([]byte, error) {
	rec, err := r.store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return rec.Value, nil
}

// Stored returns what the store holds under a record key: the envelope's
// bytes and when this node stored them (a gateway uses the time as a
// cursor for clients that resume a stream). The error wraps
// core.ErrNotFound when the replica holds no record under key.
func (r *Replica) Stored(ctx context.Context, key string) (core.Record, error) {
	return r.store.Get(ctx, key)
}

// Records yields every record the replica holds, tombstones included, in
// key order (writer, then key); while Err is not nil, it yields Err's
// error only. It reads the keys a chunk at a time, so that its memory stays
// bounded, and records that change meanwhile are read as they are then; a
// record dropped meanwhile is passed over.
func (r *Replica) Records(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		if err := r.Err(); err != nil {
			yield(Record{}, err)
			return
		}
		const chunk = 1024
		var keys []string
		for lower, first := "", true; ; first = false {
			r.mu.Lock()
			lo := 0
			if !first {
				lo = r.set.t.rank(r.set.probe(lower + "\x00"))
			}
			keys = keys[:0]
			r.set.t.each(lo, lo+chunk, func(e entry) bool {
				keys = append(keys, e.it.Key)
				return true
			})
			r.mu.Unlock()
			for _, k := range keys {
				e, err := r.envelope(ctx, k)
				if errors.Is(err, core.ErrNotFound) {
					continue
				}
				if err != nil {
					yield(Record{}, err)
					return
				}
				if !yield(r.RecordOf(e), nil) {
					return
				}
			}
			if len(keys) < chunk {
				return
			}
			lower = keys[len(keys)-1]
		}
	}
}

// Fingerprint is the fingerprint of the whole replica: equal replicas have
// equal fingerprints. While Err is not nil, it is the empty set's.
func (r *Replica) Fingerprint() Fingerprint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set.Fingerprint()
}

// Latest returns the latest clock of the records the replica has held
// since it was opened (those it loaded included): a clock that observes it
// before a write dates the write after every record this node has seen.
func (r *Replica) Latest() envelope.Timestamp {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest
}

// Items returns a copy of the replica's items in key order (none while Err
// is not nil).
func (r *Replica) Items() []Item {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set.Items()
}

// AllItems yields the replica's items in key order, as Items returns
// them, but reads them from the index a page at a time (some hundreds of
// items under the replica's lock, the rest of the index untouched), so
// that it costs nothing before it is iterated and its memory stays bounded
// however many records the replica holds. An item put or removed meanwhile
// is yielded as the page that reaches its key finds it. It yields nothing
// while Err is not nil.
func (r *Replica) AllItems() iter.Seq[Item] {
	return func(yield func(Item) bool) {
		const pageSize = 256
		var page []Item
		for lower, first := "", true; first || len(page) == pageSize; first = false {
			r.mu.Lock()
			page = r.set.page(page[:0], lower, first, pageSize)
			r.mu.Unlock()
			for _, it := range page {
				if !yield(it) {
					return
				}
			}
			if len(page) > 0 {
				lower = page[len(page)-1].Key
			}
		}
	}
}

// Watch yields every record that enters the replica, in the order the
// replica took them, until ctx ends; the watch starts when Watch is called,
// not when it is iterated.
//
// A watcher gets every change in order, or the word that it missed some:
// writers never wait for watchers, so a watcher that falls a full buffer
// (1,024 changes) behind misses the changes that come while its buffer is
// full, and, once it has taken what the buffer held, gets a Change whose
// Missed says how many, in their place, before any later change. A watcher
// that must hold what the replica holds re-reads the replica then
// ([Replica.Records], [Replica.Items]); a watcher that forwards changes
// ends its stream so that its reader catches up.
func (r *Replica) Watch(ctx context.Context) iter.Seq[Change] {
	return r.watch.subscribe(ctx)
}
