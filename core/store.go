package core

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// Limits that hold for every backend.
const (
	// MaxKeySize is the longest datastore key, in bytes, a backend accepts.
	MaxKeySize = 16 << 10
	// MaxValueSize is the longest value, in bytes, a backend accepts.
	MaxValueSize = 8 << 20
)

// Backend is an opened store: a go-datastore Batching with core's rules
// applied (see the package documentation) and its Info. It also implements
// go-datastore's TTL interface exactly when Info().Capabilities.TTL is
// declared, and TxnDatastore exactly when Transactions is.
type Backend interface {
	ds.Batching
	Info() Info
}

// Wrap applies core's rules to the engine b, which is described by info. It
// fails when info declares a capability whose go-datastore interface b does
// not implement. Closing the returned Backend closes b.
//
// The returned Backend is a [StateReporter]: it reports b's states when b
// is one, and fails itself when a write fails for a full disk. Once it is
// failed, every call fails with an error wrapping [ErrFailed] before it
// reaches b.
func Wrap(b ds.Batching, info Info) (Backend, error) {
	s := &store{b: b, info: info, queries: make(map[*results]struct{})}
	caps := info.Capabilities
	var ttl ttlPart
	if caps.TTL {
		t, ok := b.(ds.TTL)
		if !ok {
			return nil, Errorf(ErrRejected, "backend %s declares the ttl capability but does not implement go-datastore's TTL interface", info.Name)
		}
		ttl = ttlPart{s, t}
	}
	var txn txnPart
	if caps.Transactions {
		t, ok := b.(ds.TxnFeature)
		if !ok {
			return nil, Errorf(ErrRejected, "backend %s declares the transactions capability but does not implement go-datastore's TxnDatastore interface", info.Name)
		}
		txn = txnPart{s, t}
	}
	if r, ok := b.(StateReporter); ok {
		s.follow(r)
	}
	switch {
	case caps.TTL && caps.Transactions:
		return &ttlTxnStore{s, ttl, txn}, nil
	case caps.TTL:
		return &ttlStore{s, ttl}, nil
	case caps.Transactions:
		return &txnStore{s, txn}, nil
	}
	return s, nil
}

type ttlStore struct {
	*store
	ttlPart
}

type txnStore struct {
	*store
	txnPart
}

type ttlTxnStore struct {
	*store
	ttlPart
	txnPart
}

var (
	_ Backend            = (*store)(nil)
	_ Seeker             = (*store)(nil)
	_ ds.TTLDatastore    = (*ttlStore)(nil)
	_ ds.TxnDatastore    = (*txnStore)(nil)
	_ ds.TTLDatastore    = (*ttlTxnStore)(nil)
	_ ds.TxnDatastore    = (*ttlTxnStore)(nil)
	_ ds.Txn             = (*txn)(nil)
	_ ds.Batch           = (*batch)(nil)
	_ ds.BatchingFeature = (*store)(nil)
	_ StateReporter      = (*store)(nil)
	_ CallReporter       = (*store)(nil)
)

// store is the rule-keeping wrapper around an engine.
type store struct {
	b    ds.Batching
	info Info

	// mu is held for reading by every operation while it uses b, and for
	// writing by Close, so Close waits for operations in flight and no
	// operation reaches b after it.
	mu     sync.RWMutex
	closed bool

	qmu     sync.Mutex
	queries map[*results]struct{} // open queries, closed by Close

	commit groupCommit // syncs after writes once SyncWrites turned it on

	observer atomic.Pointer[Observer] // hears of every operation; see Observe
	tracer   atomic.Pointer[tracer]   // makes a span of every operation; see Trace

	state    StateFeed     // the engine's states, and the failures core sees
	engine   StateReporter // the engine, when it reports states
	unfollow func()        // stops copying the engine's states
}

// follow copies the engine's states into s.state until Close.
func (s *store) follow(r StateReporter) {
	ctx, cancel := context.WithCancel(context.Background())
	changes := r.StateChanges(ctx) // before State: no change is missed
	s.engine, s.unfollow = r, cancel
	s.state.Set(r.State())
	go func() {
		for st := range changes {
			s.state.Set(st)
		}
	}()
}

// State returns the backend's state.
func (s *store) State() BackendState { return s.state.State() }

// StateChanges yields the backend's changes of state until ctx ends.
func (s *store) StateChanges(ctx context.Context) iter.Seq[BackendState] {
	return s.state.StateChanges(ctx)
}

// CallStats forwards the engine's figures of its calls to another process,
// when it is a [CallReporter].
func (s *store) CallStats() (CallStats, bool) {
	if r, ok := s.b.(CallReporter); ok {
		return r.CallStats()
	}
	return CallStats{}, false
}

// failure returns the error of a failed store, and nil otherwise. It asks
// the engine too, so that no call reaches an engine that has just failed.
func (s *store) failure() error {
	if s.engine != nil {
		if st := s.engine.State(); st.State == StateFailed {
			s.state.Set(st)
		}
	}
	return s.state.Err()
}

// fault notes what the engine's error err says about the store: a full disk
// fails it, and so does an engine that failed with it. It returns err, or
// the failure's error in place of a full disk's.
func (s *store) fault(err error) error {
	switch {
	case err == nil:
	case isDiskFull(err):
		return s.state.Fail(DiskFull(err))
	default:
		_ = s.failure() // records the engine's failure now, not when copied
	}
	return err
}

// rules returns the store itself; the types Wrap returns promote it, so
// SyncWrites finds the store whatever the capabilities.
func (s *store) rules() *store { return s }

func (s *store) Info() Info { return s.info }

// enter admits one operation: it fails on a done context, a closed store or
// a failed one, and otherwise holds s.mu for reading until the caller calls
// s.mu.RUnlock.
func (s *store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	if err := s.failure(); err != nil {
		s.mu.RUnlock()
		return err
	}
	return nil
}

// wrap wraps the error of the operation op on key, failing the store when
// it says the disk is full.
func (s *store) wrap(op string, key ds.Key, err error) error {
	return s.wrapOp(op, key.String(), err)
}

func (s *store) wrapOp(op, key string, err error) error {
	return wrapErr(s.info.Name, op, key, s.fault(err))
}

// CheckKey reports whether k is a key every backend accepts: rooted ("/a"),
// clean (no empty, "." or ".." segment, no trailing slash), not the root
// itself, and at most MaxKeySize bytes.
func CheckKey(k ds.Key) error {
	return checkKeyString(k.String())
}

func checkKeyString(s string) error {
	switch {
	case len(s) < 2 || s[0] != '/':
		return fmt.Errorf("%w %q: a key is a rooted path such as /a/b", ErrInvalidKey, s)
	case len(s) > MaxKeySize:
		return Errorf(ErrInvalidKey, "a key of %d bytes is longer than the %d-byte limit", len(s), MaxKeySize)
	}
	start := 1
	for i := 1; i <= len(s); i++ {
		if i < len(s) && s[i] != '/' {
			continue
		}
		if seg := s[start:i]; seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w %q: empty, \".\" and \"..\" segments are not allowed; build keys with datastore.NewKey", ErrInvalidKey, s)
		}
		start = i + 1
	}
	return nil
}

func checkValue(v []byte) error {
	if len(v) > MaxValueSize {
		return Errorf(ErrTooLarge, "a value of %d bytes is more than the %d-byte limit; store large data in pieces", len(v), MaxValueSize)
	}
	return nil
}

func (s *store) get(ctx context.Context, r ds.Read, key ds.Key) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, s.wrap("get", key, err)
	}
	if err := s.enter(ctx); err != nil {
		return nil, s.wrap("get", key, err)
	}
	defer s.mu.RUnlock()
	v, err := r.Get(ctx, key)
	return v, s.wrap("get", key, err)
}

func (s *store) has(ctx context.Context, r ds.Read, key ds.Key) (bool, error) {
	if err := CheckKey(key); err != nil {
		return false, s.wrap("has", key, err)
	}
	if err := s.enter(ctx); err != nil {
		return false, s.wrap("has", key, err)
	}
	defer s.mu.RUnlock()
	ok, err := r.Has(ctx, key)
	return ok, s.wrap("has", key, err)
}

func (s *store) getSize(ctx context.Context, r ds.Read, key ds.Key) (int, error) {
	if err := CheckKey(key); err != nil {
		return -1, s.wrap("get size", key, err)
	}
	if err := s.enter(ctx); err != nil {
		return -1, s.wrap("get size", key, err)
	}
	defer s.mu.RUnlock()
	n, err := r.GetSize(ctx, key)
	if err != nil {
		return -1, s.wrap("get size", key, err)
	}
	return n, nil
}

func (s *store) put(ctx context.Context, w ds.Write, key ds.Key, value []byte) error {
	if err := CheckKey(key); err != nil {
		return s.wrap("put", key, err)
	}
	if err := checkValue(value); err != nil {
		return s.wrap("put", key, err)
	}
	if err := s.enter(ctx); err != nil {
		return s.wrap("put", key, err)
	}
	defer s.mu.RUnlock()
	return s.wrap("put", key, w.Put(ctx, key, value))
}

func (s *store) delete(ctx context.Context, w ds.Write, key ds.Key) error {
	if err := CheckKey(key); err != nil {
		return s.wrap("delete", key, err)
	}
	if err := s.enter(ctx); err != nil {
		return s.wrap("delete", key, err)
	}
	defer s.mu.RUnlock()
	return s.wrap("delete", key, w.Delete(ctx, key))
}

func (s *store) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	ctx, pr := s.begin(ctx, OpGet)
	v, err := s.get(ctx, s.b, key)
	return v, s.end(OpGet, pr, err)
}

func (s *store) Has(ctx context.Context, key ds.Key) (bool, error) {
	ctx, pr := s.begin(ctx, OpHas)
	ok, err := s.has(ctx, s.b, key)
	return ok, s.end(OpHas, pr, err)
}

func (s *store) GetSize(ctx context.Context, key ds.Key) (int, error) {
	ctx, pr := s.begin(ctx, OpGetSize)
	n, err := s.getSize(ctx, s.b, key)
	return n, s.end(OpGetSize, pr, err)
}

func (s *store) Put(ctx context.Context, key ds.Key, value []byte) error {
	ctx, pr := s.begin(ctx, OpPut)
	return s.end(OpPut, pr, s.durable(ctx, "put", key.String(), s.put(ctx, s.b, key, value)))
}

func (s *store) Delete(ctx context.Context, key ds.Key) error {
	ctx, pr := s.begin(ctx, OpDelete)
	return s.end(OpDelete, pr, s.durable(ctx, "delete", key.String(), s.delete(ctx, s.b, key)))
}

func (s *store) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	ctx, pr := s.begin(ctx, OpQuery)
	res, err := s.query(ctx, s.b, q)
	return res, s.end(OpQuery, pr, err)
}

func (s *store) Sync(ctx context.Context, prefix ds.Key) error {
	ctx, pr := s.begin(ctx, OpSync)
	if err := s.enter(ctx); err != nil {
		return s.end(OpSync, pr, s.wrap("sync", prefix, err))
	}
	defer s.mu.RUnlock()
	return s.end(OpSync, pr, s.wrap("sync", prefix, s.b.Sync(ctx, prefix)))
}

func (s *store) Batch(ctx context.Context) (ds.Batch, error) {
	if err := s.enter(ctx); err != nil {
		return nil, wrapErr(s.info.Name, "batch", "", err)
	}
	defer s.mu.RUnlock()
	b, err := s.b.Batch(ctx)
	if err != nil {
		return nil, wrapErr(s.info.Name, "batch", "", err)
	}
	return &batch{s: s, b: b}, nil
}

// Close closes every open query, then the engine. Operations in flight finish
// first; every later call returns ErrClosed. Closing twice is not an error.
func (s *store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.unfollow != nil {
		s.unfollow()
	}

	s.qmu.Lock()
	open := make([]*results, 0, len(s.queries))
	for r := range s.queries {
		open = append(open, r)
	}
	s.qmu.Unlock()
	for _, r := range open {
		r.abort(ErrClosed)
	}
	return wrapErr(s.info.Name, "close", "", s.b.Close())
}

type batch struct {
	s *store
	b ds.Batch
}

// Put queues a copy of value: engines may hold on to a batched slice until
// Commit, and the caller may reuse it before then.
func (b *batch) Put(ctx context.Context, key ds.Key, value []byte) error {
	return b.s.put(ctx, b.b, key, bytes.Clone(value))
}

func (b *batch) Delete(ctx context.Context, key ds.Key) error {
	return b.s.delete(ctx, b.b, key)
}

func (b *batch) Commit(ctx context.Context) error {
	ctx, pr := b.s.begin(ctx, OpCommit)
	if err := b.s.enter(ctx); err != nil {
		return b.s.end(OpCommit, pr, wrapErr(b.s.info.Name, "commit batch", "", err))
	}
	err := b.b.Commit(ctx)
	b.s.mu.RUnlock()
	return b.s.end(OpCommit, pr, b.s.durable(ctx, "commit batch", "", b.s.wrapOp("commit batch", "", err)))
}

type ttlPart struct {
	s *store
	t ds.TTL
}

func (p ttlPart) PutWithTTL(ctx context.Context, key ds.Key, value []byte, ttl time.Duration) error {
	ctx, pr := p.s.begin(ctx, OpPut)
	return p.s.end(OpPut, pr, p.putWithTTL(ctx, key, value, ttl))
}

func (p ttlPart) putWithTTL(ctx context.Context, key ds.Key, value []byte, ttl time.Duration) error {
	if err := CheckKey(key); err != nil {
		return p.s.wrap("put with ttl", key, err)
	}
	if err := checkValue(value); err != nil {
		return p.s.wrap("put with ttl", key, err)
	}
	if err := p.s.enter(ctx); err != nil {
		return p.s.wrap("put with ttl", key, err)
	}
	err := p.t.PutWithTTL(ctx, key, value, ttl)
	p.s.mu.RUnlock()
	return p.s.durable(ctx, "put with ttl", key.String(), p.s.wrap("put with ttl", key, err))
}

func (p ttlPart) SetTTL(ctx context.Context, key ds.Key, ttl time.Duration) error {
	if err := CheckKey(key); err != nil {
		return p.s.wrap("set ttl", key, err)
	}
	if err := p.s.enter(ctx); err != nil {
		return p.s.wrap("set ttl", key, err)
	}
	err := p.t.SetTTL(ctx, key, ttl)
	p.s.mu.RUnlock()
	return p.s.durable(ctx, "set ttl", key.String(), p.s.wrap("set ttl", key, err))
}

func (p ttlPart) GetExpiration(ctx context.Context, key ds.Key) (time.Time, error) {
	if err := CheckKey(key); err != nil {
		return time.Time{}, p.s.wrap("get expiration", key, err)
	}
	if err := p.s.enter(ctx); err != nil {
		return time.Time{}, p.s.wrap("get expiration", key, err)
	}
	defer p.s.mu.RUnlock()
	t, err := p.t.GetExpiration(ctx, key)
	return t, p.s.wrap("get expiration", key, err)
}

type txnPart struct {
	s *store
	t ds.TxnFeature
}

func (p txnPart) NewTransaction(ctx context.Context, readOnly bool) (ds.Txn, error) {
	if err := p.s.enter(ctx); err != nil {
		return nil, wrapErr(p.s.info.Name, "new transaction", "", err)
	}
	defer p.s.mu.RUnlock()
	t, err := p.t.NewTransaction(ctx, readOnly)
	if err != nil {
		return nil, wrapErr(p.s.info.Name, "new transaction", "", err)
	}
	return &txn{s: p.s, t: t}, nil
}

// txn applies the store's rules to one engine transaction.
type txn struct {
	s *store
	t ds.Txn
}

func (t *txn) Get(ctx context.Context, key ds.Key) ([]byte, error) { return t.s.get(ctx, t.t, key) }
func (t *txn) Has(ctx context.Context, key ds.Key) (bool, error)   { return t.s.has(ctx, t.t, key) }
func (t *txn) GetSize(ctx context.Context, key ds.Key) (int, error) {
	return t.s.getSize(ctx, t.t, key)
}
func (t *txn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return t.s.query(ctx, t.t, q)
}

// Put queues a copy of value, as a batch does.
func (t *txn) Put(ctx context.Context, key ds.Key, value []byte) error {
	return t.s.put(ctx, t.t, key, bytes.Clone(value))
}
func (t *txn) Delete(ctx context.Context, key ds.Key) error { return t.s.delete(ctx, t.t, key) }

func (t *txn) Commit(ctx context.Context) error {
	ctx, pr := t.s.begin(ctx, OpTxnCommit)
	if err := t.s.enter(ctx); err != nil {
		return t.s.end(OpTxnCommit, pr, wrapErr(t.s.info.Name, "commit transaction", "", err))
	}
	err := t.t.Commit(ctx)
	t.s.mu.RUnlock()
	return t.s.end(OpTxnCommit, pr, t.s.durable(ctx, "commit transaction", "", t.s.wrapOp("commit transaction", "", err)))
}

// Discard drops the transaction. On a closed store it does nothing: the
// engine dropped every transaction when it closed.
func (t *txn) Discard(ctx context.Context) {
	if t.s.enter(context.WithoutCancel(ctx)) != nil {
		return
	}
	defer t.s.mu.RUnlock()
	t.t.Discard(ctx)
}
