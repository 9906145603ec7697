package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
)

// This file holds the stores the suite's own tests run it on: mapStore, a
// small correct engine, and the deliberately broken stores, each a mapStore
// (or a core-wrapped mapStore) with one behaviour changed.

// mapStore is a correct engine: a map behind a mutex that copies values in
// and out. It also implements go-datastore's TTL and TxnFeature interfaces,
// so a harness over it may declare every capability the suite checks. Close
// keeps the data, so an instance that reopens the same mapStore is
// persistent.
type mapStore struct {
	mu      sync.Mutex
	values  map[string][]byte
	expires map[string]time.Time // when each key put with a TTL expires
	now     func() time.Time     // the clock that expires keys
}

var (
	_ ds.Batching   = (*mapStore)(nil)
	_ ds.TTL        = (*mapStore)(nil)
	_ ds.TxnFeature = (*mapStore)(nil)
)

func newMapStore() *mapStore {
	return &mapStore{values: map[string][]byte{}, expires: map[string]time.Time{}, now: time.Now}
}

// live returns the value stored under k unless it is missing or expired.
// The caller holds s.mu.
func (s *mapStore) live(k string) ([]byte, bool) {
	v, ok := s.values[k]
	if exp, hasTTL := s.expires[k]; ok && hasTTL && !s.now().Before(exp) {
		return nil, false
	}
	return v, ok
}

// set stores v itself under k, without a TTL.
func (s *mapStore) set(k ds.Key, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[k.String()] = v
	delete(s.expires, k.String())
}

func (s *mapStore) Put(_ context.Context, k ds.Key, v []byte) error {
	s.set(k, bytes.Clone(v))
	return nil
}

func (s *mapStore) Get(_ context.Context, k ds.Key) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.live(k.String())
	if !ok {
		return nil, ds.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (s *mapStore) Has(_ context.Context, k ds.Key) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.live(k.String())
	return ok, nil
}

func (s *mapStore) GetSize(_ context.Context, k ds.Key) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.live(k.String())
	if !ok {
		return -1, ds.ErrNotFound
	}
	return len(v), nil
}

func (s *mapStore) Delete(_ context.Context, k ds.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.values, k.String())
	delete(s.expires, k.String())
	return nil
}

// Query snapshots the live entries and leaves the rest to go-datastore's
// naive query engine. A keys-only entry has a size only when asked for.
func (s *mapStore) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	s.mu.Lock()
	entries := make([]dsq.Entry, 0, len(s.values))
	for k := range s.values {
		v, ok := s.live(k)
		if !ok {
			continue
		}
		e := dsq.Entry{Key: k, Size: len(v)}
		switch {
		case !q.KeysOnly:
			e.Value = bytes.Clone(v)
		case !q.ReturnsSizes:
			e.Size = -1
		}
		entries = append(entries, e)
	}
	s.mu.Unlock()
	return dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, entries)), nil
}

func (s *mapStore) Sync(context.Context, ds.Key) error { return nil }

// Close keeps the data: see the type's documentation.
func (s *mapStore) Close() error { return nil }

func (s *mapStore) Batch(context.Context) (ds.Batch, error) { return ds.NewBasicBatch(s), nil }

func (s *mapStore) PutWithTTL(_ context.Context, k ds.Key, v []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[k.String()] = bytes.Clone(v)
	s.expires[k.String()] = s.now().Add(ttl)
	return nil
}

func (s *mapStore) SetTTL(_ context.Context, k ds.Key, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live(k.String()); !ok {
		return ds.ErrNotFound
	}
	s.expires[k.String()] = s.now().Add(ttl)
	return nil
}

// GetExpiration returns when k expires: the zero time for a key without a
// TTL.
func (s *mapStore) GetExpiration(_ context.Context, k ds.Key) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live(k.String()); !ok {
		return time.Time{}, ds.ErrNotFound
	}
	return s.expires[k.String()], nil
}

// NewTransaction returns a transaction that works on a snapshot of the
// store and applies its writes to the store at Commit, all under one lock.
// A read-only transaction is not enforced: nothing in these tests writes to
// one.
func (s *mapStore) NewTransaction(context.Context, bool) (ds.Txn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	view := &mapStore{values: maps.Clone(s.values), expires: maps.Clone(s.expires), now: s.now}
	return &mapTxn{view: view, target: s, written: map[string]bool{}}, nil
}

type mapTxn struct {
	view    *mapStore       // the snapshot, with the transaction's writes applied
	target  *mapStore       // the store Commit writes to
	written map[string]bool // the keys the transaction wrote
}

func (t *mapTxn) Get(ctx context.Context, k ds.Key) ([]byte, error) { return t.view.Get(ctx, k) }
func (t *mapTxn) Has(ctx context.Context, k ds.Key) (bool, error)   { return t.view.Has(ctx, k) }
func (t *mapTxn) GetSize(ctx context.Context, k ds.Key) (int, error) {
	return t.view.GetSize(ctx, k)
}
func (t *mapTxn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return t.view.Query(ctx, q)
}

func (t *mapTxn) Put(ctx context.Context, k ds.Key, v []byte) error {
	t.written[k.String()] = true
	return t.view.Put(ctx, k, v)
}

func (t *mapTxn) Delete(ctx context.Context, k ds.Key) error {
	t.written[k.String()] = true
	return t.view.Delete(ctx, k)
}

func (t *mapTxn) Commit(context.Context) error {
	t.target.mu.Lock()
	defer t.target.mu.Unlock()
	for k := range t.written {
		delete(t.target.expires, k)
		if v, ok := t.view.values[k]; ok {
			t.target.values[k] = v
		} else {
			delete(t.target.values, k)
		}
	}
	return nil
}

func (t *mapTxn) Discard(context.Context) {}

// harness hands out instances that each hold one engine and open it through
// core.Wrap, declaring caps, and then through layer when it is not nil.
type harness struct {
	caps      core.Capabilities
	newEngine func(context.Context) (ds.Batching, error)
	layer     func(core.Backend) ds.Batching
	// forgetful makes each Open of an instance start from a new engine.
	forgetful bool
}

func (h *harness) Capabilities() core.Capabilities { return h.caps }

func (h *harness) NewInstance(ctx context.Context) (conformance.Instance, error) {
	e, err := h.newEngine(ctx)
	if err != nil {
		return nil, err
	}
	i := &instance{h: h, engine: e}
	if _, ok := e.(crashable); ok {
		return crashInstance{i}, nil
	}
	return i, nil
}

type instance struct {
	h      *harness
	engine ds.Batching
}

func (i *instance) Open(ctx context.Context) (ds.Batching, error) {
	if i.h.forgetful {
		e, err := i.h.newEngine(ctx)
		if err != nil {
			return nil, err
		}
		i.engine = e
	}
	b, err := core.Wrap(i.engine, core.Info{Name: "test", Capabilities: i.h.caps})
	if err != nil || i.h.layer == nil {
		return b, err
	}
	return i.h.layer(b), nil
}

func (i *instance) Destroy() error { return nil }

// crashable is an engine a crash can revert to what it made durable.
type crashable interface {
	ds.Batching
	crash()
}

// crashInstance is an instance whose engine is crashable.
type crashInstance struct{ *instance }

var _ conformance.Crasher = crashInstance{}

// Crash reverts the engine to what it made durable, as a crash of its
// process would; the core store over it is dropped.
func (i crashInstance) Crash(context.Context) error {
	i.engine.(crashable).crash()
	return nil
}

// onMapStore returns a harness declaring caps whose engines are mapStores,
// each changed by engine.
func onMapStore(caps core.Capabilities, engine func(*mapStore) ds.Batching) *harness {
	return &harness{caps: caps, newEngine: func(context.Context) (ds.Batching, error) {
		return engine(newMapStore()), nil
	}}
}

// durableMap is a mapStore that makes its data durable at each Sync and at
// Close: a crash reverts it to the data it had then. Sync makes every key
// durable, whatever its prefix.
type durableMap struct {
	*mapStore
	durable *mapStore // the data at the last Sync or Close
}

var _ crashable = durableMap{}

func newDurableMap(s *mapStore) durableMap {
	return durableMap{mapStore: s, durable: newMapStore()}
}

func durably(s *mapStore) ds.Batching { return newDurableMap(s) }

// keep makes the current data durable.
func (s durableMap) keep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durable.values, s.durable.expires = maps.Clone(s.values), maps.Clone(s.expires)
}

func (s durableMap) Sync(context.Context, ds.Key) error {
	s.keep()
	return nil
}

func (s durableMap) Close() error {
	s.keep()
	return nil
}

func (s durableMap) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values, s.expires = maps.Clone(s.durable.values), maps.Clone(s.durable.expires)
}

// overCore returns a harness whose stores are a correct mapStore behind
// core, changed by layer: the way to break a rule that core itself keeps.
func overCore(layer func(core.Backend) ds.Batching) *harness {
	h := onMapStore(core.Capabilities{}, func(s *mapStore) ds.Batching { return s })
	h.layer = layer
	return h
}

// The broken engines. Each changes one behaviour of a mapStore.

// keepsFirst ignores a Put to a key that already holds a value.
type keepsFirst struct{ *mapStore }

func (s keepsFirst) Put(ctx context.Context, k ds.Key, v []byte) error {
	if ok, _ := s.mapStore.Has(ctx, k); ok {
		return nil
	}
	return s.mapStore.Put(ctx, k, v)
}

// errNoSuchKey is an engine's own not-found error, which is not ErrNotFound.
var errNoSuchKey = errors.New("no such key")

// ownNotFound reports a missing key with its own error.
type ownNotFound struct{ *mapStore }

func (s ownNotFound) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	v, err := s.mapStore.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return nil, errNoSuchKey
	}
	return v, err
}

// deleteMissingFails fails to delete a key that holds nothing.
type deleteMissingFails struct{ *mapStore }

func (s deleteMissingFails) Delete(ctx context.Context, k ds.Key) error {
	if ok, _ := s.mapStore.Has(ctx, k); !ok {
		return ds.ErrNotFound
	}
	return s.mapStore.Delete(ctx, k)
}

// emptyIsDeletion stores an empty value by deleting the key.
type emptyIsDeletion struct{ *mapStore }

func (s emptyIsDeletion) Put(ctx context.Context, k ds.Key, v []byte) error {
	if len(v) == 0 {
		return s.mapStore.Delete(ctx, k)
	}
	return s.mapStore.Put(ctx, k, v)
}

// textValues stores values as UTF-8 text, replacing bytes that are not.
type textValues struct{ *mapStore }

func (s textValues) Put(ctx context.Context, k ds.Key, v []byte) error {
	return s.mapStore.Put(ctx, k, []byte(strings.ToValidUTF8(string(v), "\uFFFD")))
}

// truncatesValues stores at most 1 MiB of a value.
type truncatesValues struct{ *mapStore }

func (s truncatesValues) Put(ctx context.Context, k ds.Key, v []byte) error {
	return s.mapStore.Put(ctx, k, v[:min(len(v), 1<<20)])
}

// keepsCallerSlice stores the caller's slice instead of a copy.
type keepsCallerSlice struct{ *mapStore }

func (s keepsCallerSlice) Put(_ context.Context, k ds.Key, v []byte) error {
	s.set(k, v)
	return nil
}

// rewritesQueries runs every query as rewrite changes it.
type rewritesQueries struct {
	*mapStore
	rewrite func(dsq.Query) dsq.Query
}

func (s rewritesQueries) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return s.mapStore.Query(ctx, s.rewrite(q))
}

// hidesInQueries leaves out of every query's results the keys hide selects.
type hidesInQueries struct {
	*mapStore
	hide func(key string) bool
}

func (s hidesInQueries) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	res, err := s.mapStore.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return dsq.NaiveFilter(res, filterFunc(func(e dsq.Entry) bool { return !s.hide(e.Key) })), nil
}

// filterFunc is a query filter made of a function.
type filterFunc func(dsq.Entry) bool

func (f filterFunc) Filter(e dsq.Entry) bool { return f(e) }

// writesThrough is a batch or a transaction that writes straight to the
// store, before Commit.
type writesThrough struct{ *mapStore }

func (writesThrough) Commit(context.Context) error { return nil }
func (writesThrough) Discard(context.Context)      {}

// unbufferedBatches hands out batches that write straight to the store.
type unbufferedBatches struct{ *mapStore }

func (s unbufferedBatches) Batch(context.Context) (ds.Batch, error) {
	return writesThrough{s.mapStore}, nil
}

// stagedOp is one operation of a batch: a Put of value, or a Delete.
type stagedOp struct {
	key   ds.Key
	value []byte
	del   bool
}

// rewritesCommits hands out batches that apply at Commit the operations
// rewrite returns in place of those staged.
type rewritesCommits struct {
	*mapStore
	rewrite func([]stagedOp) []stagedOp
}

func (s rewritesCommits) Batch(context.Context) (ds.Batch, error) {
	return &rewritingBatch{s: s}, nil
}

type rewritingBatch struct {
	s   rewritesCommits
	ops []stagedOp
}

func (b *rewritingBatch) Put(_ context.Context, k ds.Key, v []byte) error {
	b.ops = append(b.ops, stagedOp{key: k, value: bytes.Clone(v)})
	return nil
}

func (b *rewritingBatch) Delete(_ context.Context, k ds.Key) error {
	b.ops = append(b.ops, stagedOp{key: k, del: true})
	return nil
}

func (b *rewritingBatch) Commit(ctx context.Context) error {
	for _, o := range b.s.rewrite(b.ops) {
		if o.del {
			_ = b.s.mapStore.Delete(ctx, o.key)
		} else {
			_ = b.s.mapStore.Put(ctx, o.key, o.value)
		}
	}
	b.ops = nil
	return nil
}

// tombstones keeps a deleted key as a tombstone that Get, Has and GetSize
// honour, and drops tombstones from a query's results only after the
// engine applied its offset and limit: deleted keys count toward both.
type tombstones struct {
	*mapStore
	mu   sync.Mutex
	dead map[string]bool
}

func newTombstones(s *mapStore) *tombstones {
	return &tombstones{mapStore: s, dead: map[string]bool{}}
}

func (s *tombstones) isDead(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead[k]
}

func (s *tombstones) Put(ctx context.Context, k ds.Key, v []byte) error {
	s.mu.Lock()
	delete(s.dead, k.String())
	s.mu.Unlock()
	return s.mapStore.Put(ctx, k, v)
}

func (s *tombstones) Delete(ctx context.Context, k ds.Key) error {
	s.mu.Lock()
	s.dead[k.String()] = true
	s.mu.Unlock()
	return s.mapStore.Put(ctx, k, nil)
}

func (s *tombstones) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if s.isDead(k.String()) {
		return nil, ds.ErrNotFound
	}
	return s.mapStore.Get(ctx, k)
}

func (s *tombstones) Has(ctx context.Context, k ds.Key) (bool, error) {
	if s.isDead(k.String()) {
		return false, nil
	}
	return s.mapStore.Has(ctx, k)
}

func (s *tombstones) GetSize(ctx context.Context, k ds.Key) (int, error) {
	if s.isDead(k.String()) {
		return -1, ds.ErrNotFound
	}
	return s.mapStore.GetSize(ctx, k)
}

func (s *tombstones) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	res, err := s.mapStore.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return dsq.NaiveFilter(res, filterFunc(func(e dsq.Entry) bool { return !s.isDead(e.Key) })), nil
}

func (s *tombstones) Batch(context.Context) (ds.Batch, error) { return ds.NewBasicBatch(s), nil }

// pagesByOffset reads a query in pages, each resumed by the number of
// entries read so far rather than after the last key read: a key deleted
// before the query's position while it is open makes it skip a key. It
// leaves the rest of the query to go-datastore's helpers.
type pagesByOffset struct{ *mapStore }

func (s pagesByOffset) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	const pageSize = 16
	var page []dsq.Entry
	read, done := 0, false
	next := func() (dsq.Result, bool) {
		if len(page) == 0 && !done {
			res, err := s.mapStore.Query(ctx, dsq.Query{Prefix: q.Prefix, Orders: []dsq.Order{dsq.OrderByKey{}}, Offset: read, Limit: pageSize})
			if err != nil {
				return dsq.Result{Error: err}, true
			}
			es, err := res.Rest()
			if err != nil {
				return dsq.Result{Error: err}, true
			}
			page, read, done = es, read+len(es), len(es) < pageSize
		}
		if len(page) == 0 {
			return dsq.Result{}, false
		}
		e := page[0]
		page = page[1:]
		return dsq.Result{Entry: e}, true
	}
	rest := q
	rest.Prefix = ""
	if len(rest.Orders) == 1 && rest.Orders[0] == (dsq.OrderByKey{}) {
		rest.Orders = nil // already in key order
	}
	return dsq.NaiveQueryApply(rest, dsq.ResultsFromIterator(q, dsq.Iterator{Next: next})), nil
}

// unisolatedTxns hands out transactions that write straight to the store.
type unisolatedTxns struct{ *mapStore }

func (s unisolatedTxns) NewTransaction(context.Context, bool) (ds.Txn, error) {
	return writesThrough{s.mapStore}, nil
}

// syncsOnlyAtClose makes its data durable at Close, never at Sync: a
// crash loses everything written since the store was last closed.
type syncsOnlyAtClose struct{ durableMap }

func (syncsOnlyAtClose) Sync(context.Context, ds.Key) error { return nil }

// errSyncFailed is the I/O error syncFails reports.
var errSyncFailed = errors.New("fsync: input/output error")

// syncFails cannot flush.
type syncFails struct{ *mapStore }

func (syncFails) Sync(context.Context, ds.Key) error { return errSyncFailed }

// frozenClock returns a mapStore whose clock stands still at its creation:
// no TTL it records ever passes.
func frozenClock() *mapStore {
	s := newMapStore()
	at := time.Now()
	s.now = func() time.Time { return at }
	return s
}

// overlapWait bounds how long the first Put of an overlapLoses store waits
// for a second Put to overlap it.
const overlapWait = 500 * time.Millisecond

// overlapLoses loses a Put that starts while another Put is in flight, as a
// store with a racy write path does. So that the loss does not depend on
// the scheduler, the store's first Put stays in flight until a second Put
// arrives, or overlapWait passes when nobody else writes.
type overlapLoses struct {
	*mapStore
	inFlight   atomic.Int32
	firstPut   sync.Once
	overlapped chan struct{} // closed at the first overlap
	overlap    sync.Once
}

func newOverlapLoses(s *mapStore) *overlapLoses {
	return &overlapLoses{mapStore: s, overlapped: make(chan struct{})}
}

func (s *overlapLoses) Put(ctx context.Context, k ds.Key, v []byte) error {
	defer s.inFlight.Add(-1)
	if s.inFlight.Add(1) > 1 {
		s.overlap.Do(func() { close(s.overlapped) })
		return nil // the write is lost
	}
	s.firstPut.Do(func() {
		t := time.NewTimer(overlapWait)
		defer t.Stop()
		select {
		case <-s.overlapped:
		case <-t.C:
		case <-ctx.Done():
		}
	})
	return s.mapStore.Put(ctx, k, v)
}

// The broken layers over core, for the rules core keeps itself.

// acceptsInvalidKeys drops a Put to an invalid key without an error.
type acceptsInvalidKeys struct{ core.Backend }

func (s acceptsInvalidKeys) Put(ctx context.Context, k ds.Key, v []byte) error {
	if core.CheckKey(k) != nil {
		return nil
	}
	return s.Backend.Put(ctx, k, v)
}

// offsetBeforeFilters skips a filtered query's offset before it applies the
// filters, as go-ds-badger4 does.
type offsetBeforeFilters struct{ core.Backend }

func (s offsetBeforeFilters) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if len(q.Filters) == 0 {
		return s.Backend.Query(ctx, q)
	}
	res, err := s.Backend.Query(ctx, dsq.Query{Prefix: q.Prefix, Orders: q.Orders, Offset: q.Offset, KeysOnly: q.KeysOnly})
	if err != nil {
		return nil, err
	}
	for _, f := range q.Filters {
		res = dsq.NaiveFilter(res, f)
	}
	return dsq.NaiveLimit(res, q.Limit), nil
}

// limitBeforeFilters hands a filtered query's limit to the store below
// when there is no offset, and applies the filters to what comes back.
type limitBeforeFilters struct{ core.Backend }

func (s limitBeforeFilters) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if len(q.Filters) == 0 || q.Offset > 0 {
		return s.Backend.Query(ctx, q)
	}
	res, err := s.Backend.Query(ctx, dsq.Query{Prefix: q.Prefix, Orders: q.Orders, Limit: q.Limit, KeysOnly: q.KeysOnly})
	if err != nil {
		return nil, err
	}
	for _, f := range q.Filters {
		res = dsq.NaiveFilter(res, f)
	}
	return res, nil
}

// prefixAfterLimit reads the whole store in the query's order, applies its
// offset and limit, and only then keeps the keys under its prefix.
type prefixAfterLimit struct{ *mapStore }

func (s prefixAfterLimit) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	all := q
	all.Prefix = ""
	res, err := s.mapStore.Query(ctx, all)
	if err != nil || q.Prefix == "" {
		return res, err
	}
	return dsq.NaiveFilter(res, dsq.FilterKeyPrefix{Prefix: strings.TrimSuffix(q.Prefix, "/") + "/"}), nil
}

// ignoresCancel puts even when the context is cancelled.
type ignoresCancel struct{ core.Backend }

func (s ignoresCancel) Put(ctx context.Context, k ds.Key, v []byte) error {
	return s.Backend.Put(context.WithoutCancel(ctx), k, v)
}

// panicsAfterClose panics on a Get after Close, as go-ds-pebble does.
type panicsAfterClose struct {
	core.Backend
	closed atomic.Bool
}

func (s *panicsAfterClose) Close() error {
	s.closed.Store(true)
	return s.Backend.Close()
}

func (s *panicsAfterClose) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if s.closed.Load() {
		panic("get on a closed store")
	}
	return s.Backend.Get(ctx, k)
}

// descendingAsAscending turns every descending order into an ascending one.
func descendingAsAscending(q dsq.Query) dsq.Query {
	q.Orders = slices.Clone(q.Orders)
	for i, o := range q.Orders {
		switch o.(type) {
		case dsq.OrderByKeyDescending:
			q.Orders[i] = dsq.OrderByKey{}
		case dsq.OrderByValueDescending:
			q.Orders[i] = dsq.OrderByValue{}
		}
	}
	return q
}

// valuesAsKeys orders by key where a query asks to order by value.
func valuesAsKeys(q dsq.Query) dsq.Query {
	q.Orders = slices.Clone(q.Orders)
	for i, o := range q.Orders {
		switch o.(type) {
		case dsq.OrderByValue:
			q.Orders[i] = dsq.OrderByKey{}
		case dsq.OrderByValueDescending:
			q.Orders[i] = dsq.OrderByKeyDescending{}
		}
	}
	return q
}

// seeksWithoutLimit is a core.Seeker that returns every entry from the
// start, whatever the limit.
type seeksWithoutLimit struct{ *mapStore }

func (s seeksWithoutLimit) QueryFrom(ctx context.Context, q core.SeekQuery) (dsq.Results, error) {
	q.Limit = 0
	return core.QueryFrom(ctx, s.mapStore, q)
}
