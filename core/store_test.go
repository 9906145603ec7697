package core_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

var (
	errBoom = errors.New("boom")
	keyA    = ds.NewKey("/a")
	allCaps = core.Capabilities{TTL: true, Transactions: true}
)

// wrapFake wraps f as a backend named "fake" declaring caps.
func wrapFake(t *testing.T, f ds.Batching, caps core.Capabilities) core.Backend {
	t.Helper()
	b, err := core.Wrap(f, core.Info{Name: "fake", Version: "v1", Build: "b1", Capabilities: caps})
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	return b
}

// op is one call into a backend, with the key and value it is given.
type op func(ctx context.Context, k ds.Key, v []byte) error

// opCase is one kind of backend call that reaches the engine.
type opCase struct {
	name   string
	engOp  string // the engine operation, as fakeEngine names it
	wantOp string // the operation a *core.Error names
	keyed  bool   // the call takes the key, which a *core.Error names
	valued bool   // the call takes the value
	key    string // the key a *core.Error names for a call that takes none
	// prep readies the call on b, a backend declaring TTL and transactions.
	prep func(t *testing.T, b core.Backend) op
}

func (c opCase) wantKey() string {
	if c.keyed {
		return keyA.String()
	}
	return c.key
}

// direct is a call made on the backend itself.
func direct(call func(ctx context.Context, b core.Backend, k ds.Key, v []byte) error) func(*testing.T, core.Backend) op {
	return func(_ *testing.T, b core.Backend) op {
		return func(ctx context.Context, k ds.Key, v []byte) error { return call(ctx, b, k, v) }
	}
}

// inBatch is a call made on a batch opened before the call.
func inBatch(call func(ctx context.Context, bt ds.Batch, k ds.Key, v []byte) error) func(*testing.T, core.Backend) op {
	return func(t *testing.T, b core.Backend) op {
		t.Helper()
		bt, err := b.Batch(context.Background())
		if err != nil {
			t.Fatalf("Batch: %v", err)
		}
		return func(ctx context.Context, k ds.Key, v []byte) error { return call(ctx, bt, k, v) }
	}
}

// inTxn is a call made in a transaction opened before the call.
func inTxn(call func(ctx context.Context, tx ds.Txn, k ds.Key, v []byte) error) func(*testing.T, core.Backend) op {
	return func(t *testing.T, b core.Backend) op {
		t.Helper()
		tx, err := b.(ds.TxnDatastore).NewTransaction(context.Background(), false)
		if err != nil {
			t.Fatalf("NewTransaction: %v", err)
		}
		return func(ctx context.Context, k ds.Key, v []byte) error { return call(ctx, tx, k, v) }
	}
}

// firstResult queries r for prefix /p and returns the query's error or the
// first result's error.
func firstResult(ctx context.Context, r ds.Read) error {
	res, err := r.Query(ctx, dsq.Query{Prefix: "/p"})
	if err != nil {
		return err
	}
	defer res.Close()
	first, _ := res.NextSync()
	return first.Error
}

func ttlOf(b core.Backend) ds.TTL { return b.(ds.TTLDatastore) }

var opCases = []opCase{
	{name: "get", engOp: "get", wantOp: "get", keyed: true,
		prep: direct(func(ctx context.Context, b core.Backend, k ds.Key, _ []byte) error {
			_, err := b.Get(ctx, k)
			return err
		})},
	{name: "has", engOp: "has", wantOp: "has", keyed: true,
		prep: direct(func(ctx context.Context, b core.Backend, k ds.Key, _ []byte) error {
			_, err := b.Has(ctx, k)
			return err
		})},
	{name: "get size", engOp: "getsize", wantOp: "get size", keyed: true,
		prep: direct(func(ctx context.Context, b core.Backend, k ds.Key, _ []byte) error {
			_, err := b.GetSize(ctx, k)
			return err
		})},
	{name: "put", engOp: "put", wantOp: "put", keyed: true, valued: true,
		prep: direct(func(ctx context.Context, b core.Backend, k ds.Key, v []byte) error {
			return b.Put(ctx, k, v)
		})},
	{name: "delete", engOp: "delete", wantOp: "delete", keyed: true,
		prep: direct(func(ctx context.Context, b core.Backend, k ds.Key, _ []byte) error {
			return b.Delete(ctx, k)
		})},
	{name: "sync", engOp: "sync", wantOp: "sync", key: "/p",
		prep: direct(func(ctx context.Context, b core.Backend, _ ds.Key, _ []byte) error {
			return b.Sync(ctx, ds.NewKey("/p"))
		})},
	{name: "query", engOp: "query", wantOp: "query", key: "/p",
		prep: direct(func(ctx context.Context, b core.Backend, _ ds.Key, _ []byte) error {
			_, err := b.Query(ctx, dsq.Query{Prefix: "/p"})
			return err
		})},
	{name: "query result", engOp: "next", wantOp: "query", key: "/p",
		prep: direct(func(ctx context.Context, b core.Backend, _ ds.Key, _ []byte) error {
			return firstResult(ctx, b)
		})},
	{name: "batch", engOp: "batch", wantOp: "batch",
		prep: direct(func(ctx context.Context, b core.Backend, _ ds.Key, _ []byte) error {
			_, err := b.Batch(ctx)
			return err
		})},
	{name: "batch put", engOp: "batch.put", wantOp: "put", keyed: true, valued: true,
		prep: inBatch(func(ctx context.Context, bt ds.Batch, k ds.Key, v []byte) error {
			return bt.Put(ctx, k, v)
		})},
	{name: "batch delete", engOp: "batch.delete", wantOp: "delete", keyed: true,
		prep: inBatch(func(ctx context.Context, bt ds.Batch, k ds.Key, _ []byte) error {
			return bt.Delete(ctx, k)
		})},
	{name: "batch commit", engOp: "batch.commit", wantOp: "commit batch",
		prep: inBatch(func(ctx context.Context, bt ds.Batch, _ ds.Key, _ []byte) error {
			return bt.Commit(ctx)
		})},
	{name: "new transaction", engOp: "txn", wantOp: "new transaction",
		prep: direct(func(ctx context.Context, b core.Backend, _ ds.Key, _ []byte) error {
			_, err := b.(ds.TxnDatastore).NewTransaction(ctx, false)
			return err
		})},
	{name: "txn get", engOp: "txn.get", wantOp: "get", keyed: true,
		prep: inTxn(func(ctx context.Context, tx ds.Txn, k ds.Key, _ []byte) error {
			_, err := tx.Get(ctx, k)
			return err
		})},
	{name: "txn has", engOp: "txn.has", wantOp: "has", keyed: true,
		prep: inTxn(func(ctx context.Context, tx ds.Txn, k ds.Key, _ []byte) error {
			_, err := tx.Has(ctx, k)
			return err
		})},
	{name: "txn get size", engOp: "txn.getsize", wantOp: "get size", keyed: true,
		prep: inTxn(func(ctx context.Context, tx ds.Txn, k ds.Key, _ []byte) error {
			_, err := tx.GetSize(ctx, k)
			return err
		})},
	{name: "txn put", engOp: "txn.put", wantOp: "put", keyed: true, valued: true,
		prep: inTxn(func(ctx context.Context, tx ds.Txn, k ds.Key, v []byte) error {
			return tx.Put(ctx, k, v)
		})},
	{name: "txn delete", engOp: "txn.delete", wantOp: "delete", keyed: true,
		prep: inTxn(func(ctx context.Context, tx ds.Txn, k ds.Key, _ []byte) error {
			return tx.Delete(ctx, k)
		})},
	{name: "txn query", engOp: "txn.query", wantOp: "query", key: "/p",
		prep: inTxn(func(ctx context.Context, tx ds.Txn, _ ds.Key, _ []byte) error {
			return firstResult(ctx, tx)
		})},
	{name: "txn commit", engOp: "txn.commit", wantOp: "commit transaction",
		prep: inTxn(func(ctx context.Context, tx ds.Txn, _ ds.Key, _ []byte) error {
			return tx.Commit(ctx)
		})},
	{name: "put with ttl", engOp: "putttl", wantOp: "put with ttl", keyed: true, valued: true,
		prep: direct(func(ctx context.Context, b core.Backend, k ds.Key, v []byte) error {
			return ttlOf(b).PutWithTTL(ctx, k, v, time.Hour)
		})},
	{name: "set ttl", engOp: "setttl", wantOp: "set ttl", keyed: true,
		prep: direct(func(ctx context.Context, b core.Backend, k ds.Key, _ []byte) error {
			return ttlOf(b).SetTTL(ctx, k, time.Hour)
		})},
	{name: "get expiration", engOp: "getexp", wantOp: "get expiration", keyed: true,
		prep: direct(func(ctx context.Context, b core.Backend, k ds.Key, _ []byte) error {
			_, err := ttlOf(b).GetExpiration(ctx, k)
			return err
		})},
}

func TestEngineErrorsAreWrappedOnce(t *testing.T) {
	for _, tc := range opCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine()
			call := tc.prep(t, wrapFake(t, f, allCaps))
			f.fail(tc.engOp, errBoom)
			err := call(context.Background(), keyA, []byte("v"))
			var ce *core.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v (%T), want a *core.Error", err, err)
			}
			if ce.Backend != "fake" || ce.Op != tc.wantOp || ce.Key != tc.wantKey() {
				t.Errorf("got backend %q, op %q, key %q; want fake, %q, %q", ce.Backend, ce.Op, ce.Key, tc.wantOp, tc.wantKey())
			}
			if ce.Err != errBoom {
				t.Errorf("the *core.Error holds %v (%T), want the engine's error itself: wrapped exactly once", ce.Err, ce.Err)
			}
			want := "fake: " + tc.wantOp + ": boom"
			if tc.wantKey() != "" {
				want = "fake: " + tc.wantOp + " " + tc.wantKey() + ": boom"
			}
			if err.Error() != want {
				t.Errorf("message %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestEngineCoreErrorIsNotWrappedAgain(t *testing.T) {
	for _, tc := range opCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine()
			call := tc.prep(t, wrapFake(t, f, allCaps))
			inner := &core.Error{Backend: "inner", Op: "get", Key: "/x", Err: errBoom}
			f.fail(tc.engOp, inner)
			if err := call(context.Background(), keyA, []byte("v")); err != error(inner) {
				t.Fatalf("got %v, want the engine's *core.Error unchanged", err)
			}
		})
	}
}

func TestEngineNotFoundIsExactlyErrNotFound(t *testing.T) {
	for _, notFound := range []error{
		ds.ErrNotFound,
		fmt.Errorf("engine lookup: %w", ds.ErrNotFound),
		&core.Error{Backend: "inner", Op: "get", Err: ds.ErrNotFound},
	} {
		for _, tc := range opCases {
			t.Run(fmt.Sprintf("%s/%v", tc.name, notFound), func(t *testing.T) {
				f := newFakeEngine()
				call := tc.prep(t, wrapFake(t, f, allCaps))
				f.fail(tc.engOp, notFound)
				// go-libp2p-kad-dht compares with ==.
				if err := call(context.Background(), keyA, []byte("v")); err != ds.ErrNotFound {
					t.Fatalf("got %v (%T), want ds.ErrNotFound itself", err, err)
				}
			})
		}
	}
}

func TestMissingKeyIsExactlyErrNotFound(t *testing.T) {
	b := wrapFake(t, newFakeEngine(), core.Capabilities{})
	ctx := context.Background()
	if _, err := b.Get(ctx, keyA); err != ds.ErrNotFound {
		t.Errorf("Get of a missing key: got %v, want ds.ErrNotFound itself", err)
	}
	if n, err := b.GetSize(ctx, keyA); err != ds.ErrNotFound || n != -1 {
		t.Errorf("GetSize of a missing key: got %d, %v; want -1, ds.ErrNotFound itself", n, err)
	}
	if ok, err := b.Has(ctx, keyA); ok || err != nil {
		t.Errorf("Has of a missing key: got %v, %v; want false, nil", ok, err)
	}
}

func TestCloseErrorIsWrapped(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, core.Capabilities{})
	f.fail("close", errBoom)
	err := b.Close()
	var ce *core.Error
	if !errors.As(err, &ce) || ce.Op != "close" || ce.Key != "" || ce.Err != errBoom {
		t.Fatalf("got %#v, want a *core.Error for op close holding the engine's error", err)
	}
}

func TestCancelledContextNeverReachesEngine(t *testing.T) {
	for _, cause := range []struct {
		name string
		ctx  func() context.Context
		want error
	}{
		{"canceled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, context.Canceled},
		{"deadline", func() context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
			defer cancel()
			return ctx
		}, context.DeadlineExceeded},
	} {
		for _, tc := range opCases {
			t.Run(cause.name+"/"+tc.name, func(t *testing.T) {
				f := newFakeEngine()
				call := tc.prep(t, wrapFake(t, f, allCaps))
				n := f.callCount()
				err := call(cause.ctx(), keyA, []byte("v"))
				if !errors.Is(err, cause.want) {
					t.Errorf("got %v, want an error matching %v", err, cause.want)
				}
				if calls := f.callsSince(n); len(calls) > 0 {
					t.Errorf("the engine was called: %q", calls)
				}
			})
		}
	}
}

func TestClosedStoreNeverReachesEngine(t *testing.T) {
	for _, tc := range opCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine()
			b := wrapFake(t, f, allCaps)
			call := tc.prep(t, b)
			if err := b.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			n := f.callCount()
			if err := call(context.Background(), keyA, []byte("v")); !errors.Is(err, core.ErrClosed) {
				t.Errorf("got %v, want an error matching core.ErrClosed", err)
			}
			if calls := f.callsSince(n); len(calls) > 0 {
				t.Errorf("the engine was called after Close: %q", calls)
			}
		})
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, allCaps)
	tx, err := b.(ds.TxnDatastore).NewTransaction(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if f.closeCount() != 1 {
		t.Errorf("the engine was closed %d times, want 1", f.closeCount())
	}
	n := f.callCount()
	tx.Discard(context.Background())
	if calls := f.callsSince(n); len(calls) > 0 {
		t.Errorf("Discard after Close reached the engine: %q", calls)
	}
}

func TestCloseWaitsForOperationsInFlight(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, core.Capabilities{})
	ctx := context.Background()
	if err := b.Put(ctx, keyA, []byte("v")); err != nil {
		t.Fatal(err)
	}

	h := f.holdNext("get")
	got := make(chan error, 1)
	go func() {
		_, err := b.Get(ctx, keyA)
		got <- err
	}()
	<-h.entered // the Get is now inside the engine

	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	// Give Close every chance to run ahead: one that did not wait would
	// close the engine and return now. Yielding is no synchronisation
	// here; a Close that waits passes however the goroutines are scheduled.
	for range 1000 {
		runtime.Gosched()
		select {
		case err := <-closed:
			t.Fatalf("Close returned (%v) while a Get was in flight", err)
		default:
		}
		if f.closeCount() != 0 {
			t.Fatal("the engine was closed while a Get was in flight")
		}
	}
	close(h.release)
	if err := <-got; err != nil {
		t.Errorf("the Get in flight failed: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if f.closedMidOp {
		t.Error("the engine was closed while an operation was in flight")
	}
	if _, err := b.Get(ctx, keyA); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Get after Close: got %v, want core.ErrClosed", err)
	}
}

func TestCloseEndsOpenQueries(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, allCaps)
	ctx := context.Background()
	for _, k := range []string{"/q/1", "/q/2", "/q/3"} {
		if err := b.Put(ctx, ds.NewKey(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := b.(ds.TxnDatastore).NewTransaction(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var open []dsq.Results
	for _, r := range []ds.Read{b, tx} {
		res, err := r.Query(ctx, dsq.Query{Prefix: "/q"})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		if first, ok := res.NextSync(); !ok || first.Error != nil || first.Key != "/q/1" {
			t.Fatalf("first result: %+v, %v", first, ok)
		}
		open = append(open, res)
	}
	if f.open() != 2 {
		t.Fatalf("the engine has %d open queries, want 2", f.open())
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if f.open() != 0 {
		t.Errorf("Close left %d engine queries open", f.open())
	}
	calls := f.callsSince(0)
	if i := slices.Index(calls, "close "); i < 0 || slices.ContainsFunc(calls[i:], func(c string) bool {
		return strings.HasPrefix(c, "close results")
	}) {
		t.Errorf("the engine's queries were not closed before the engine: %q", calls)
	}
	for i, res := range open {
		r, ok := res.NextSync()
		if !ok || !errors.Is(r.Error, core.ErrClosed) {
			t.Errorf("query %d after Close: got %+v, %v; want an error matching core.ErrClosed", i, r, ok)
		}
		if r, ok := res.NextSync(); ok {
			t.Errorf("query %d after Close and its error: got %+v, want the end", i, r)
		}
	}
}

// drain reads every entry of res and its first error, and closes it.
func drain(t *testing.T, res dsq.Results) ([]dsq.Entry, error) {
	t.Helper()
	defer res.Close()
	var out []dsq.Entry
	for range 1000 {
		r, ok := res.NextSync()
		if !ok {
			return out, nil
		}
		if r.Error != nil {
			return out, r.Error
		}
		out = append(out, r.Entry)
	}
	t.Fatal("the query did not end after 1000 results")
	return nil, nil
}

func keysOf(es []dsq.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func TestQueryStopsAtFirstEngineError(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, core.Capabilities{})
	ctx := context.Background()
	for _, k := range []string{"/p/1", "/p/2", "/p/3"} {
		if err := b.Put(ctx, ds.NewKey(k), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	f.fail("next", errBoom)
	f.nextFaultAfter = 1
	res, err := b.Query(ctx, dsq.Query{Prefix: "/p"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if r, ok := res.NextSync(); !ok || r.Error != nil || r.Key != "/p/1" {
		t.Fatalf("first result: %+v, %v; want /p/1", r, ok)
	}
	r, ok := res.NextSync()
	var ce *core.Error
	if !ok || !errors.As(r.Error, &ce) || ce.Err != errBoom || ce.Op != "query" || ce.Key != "/p" {
		t.Fatalf("second result: %+v, %v; want the engine's error wrapped once", r, ok)
	}
	n := f.callCount()
	if r, ok := res.NextSync(); ok {
		t.Errorf("after the error: got %+v, want the end", r)
	}
	if calls := f.callsSince(n); len(calls) > 0 {
		t.Errorf("the engine was read after its error: %q", calls)
	}
	if f.open() != 0 {
		t.Error("the engine's query was left open after its error")
	}
}

func TestQueryStopsWhenContextEnds(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, core.Capabilities{})
	for _, k := range []string{"/p/1", "/p/2", "/p/3"} {
		if err := b.Put(context.Background(), ds.NewKey(k), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := b.Query(ctx, dsq.Query{Prefix: "/p"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if r, ok := res.NextSync(); !ok || r.Error != nil {
		t.Fatalf("first result: %+v, %v", r, ok)
	}
	cancel()
	n := f.callCount()
	if r, ok := res.NextSync(); !ok || !errors.Is(r.Error, context.Canceled) {
		t.Fatalf("after cancel: got %+v, %v; want an error matching context.Canceled", r, ok)
	}
	if r, ok := res.NextSync(); ok {
		t.Errorf("after the error: got %+v, want the end", r)
	}
	if calls := f.callsSince(n); slices.Contains(calls, "next /p") {
		t.Errorf("the engine was read after the context ended: %q", calls)
	}
	if f.open() != 0 {
		t.Error("the engine's query was left open after the context ended")
	}
}

// evenFilter passes entries whose key ends in an even digit.
type evenFilter struct{}

func (evenFilter) Filter(e dsq.Entry) bool { return (e.Key[len(e.Key)-1]-'0')%2 == 0 }
func (evenFilter) String() string          { return "even" }

func TestQueryFiltersOffsetLimit(t *testing.T) {
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("/q/%d", i)
	}
	even := []dsq.Filter{evenFilter{}}
	for _, tc := range []struct {
		name string
		q    dsq.Query
		want []string
	}{
		{"filter", dsq.Query{Filters: even}, []string{"/q/0", "/q/2", "/q/4", "/q/6", "/q/8"}},
		{"filter offset", dsq.Query{Filters: even, Offset: 2}, []string{"/q/4", "/q/6", "/q/8"}},
		{"filter limit", dsq.Query{Filters: even, Limit: 2}, []string{"/q/0", "/q/2"}},
		{"filter offset limit", dsq.Query{Filters: even, Offset: 1, Limit: 2}, []string{"/q/2", "/q/4"}},
		{"filter offset past the end", dsq.Query{Filters: even, Offset: 5}, nil},
		{"filter limit past the end", dsq.Query{Filters: even, Offset: 3, Limit: 5}, []string{"/q/6", "/q/8"}},
		{"offset limit", dsq.Query{Offset: 3, Limit: 2}, []string{"/q/3", "/q/4"}},
	} {
		for _, offsetFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/offsetFirst=%v", tc.name, offsetFirst), func(t *testing.T) {
				f := newFakeEngine()
				f.offsetFirst = offsetFirst
				b := wrapFake(t, f, core.Capabilities{})
				ctx := context.Background()
				for _, k := range keys {
					if err := b.Put(ctx, ds.NewKey(k), []byte(k)); err != nil {
						t.Fatal(err)
					}
				}
				q := tc.q
				q.Prefix = "/q"
				res, err := b.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				got, err := drain(t, res)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(keysOf(got), tc.want) {
					t.Errorf("got %q, want %q", keysOf(got), tc.want)
				}
				sent := f.lastQuery()
				wantOffset, wantLimit := q.Offset, q.Limit
				if len(q.Filters) > 0 {
					wantOffset, wantLimit = 0, 0
				}
				if sent.Offset != wantOffset || sent.Limit != wantLimit || len(sent.Filters) != len(q.Filters) {
					t.Errorf("the engine got offset %d, limit %d, %d filters; want %d, %d, %d",
						sent.Offset, sent.Limit, len(sent.Filters), wantOffset, wantLimit, len(q.Filters))
				}
			})
		}
	}
}

func TestQueryEntriesCarrySizeOrNoValue(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, allCaps)
	ctx := context.Background()
	values := map[string]string{"/q/1": "", "/q/2": "two", "/q/3": "three!"}
	for k, v := range values {
		if err := b.Put(ctx, ds.NewKey(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := b.(ds.TxnDatastore).NewTransaction(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Discard(ctx)
	for _, r := range []struct {
		name string
		r    ds.Read
	}{{"store", b}, {"txn", tx}} {
		for _, keysOnly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/keysOnly=%v", r.name, keysOnly), func(t *testing.T) {
				res, err := r.r.Query(ctx, dsq.Query{Prefix: "/q", KeysOnly: keysOnly})
				if err != nil {
					t.Fatal(err)
				}
				got, err := drain(t, res)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(values) {
					t.Fatalf("got %d entries, want %d", len(got), len(values))
				}
				for _, e := range got {
					switch {
					case keysOnly && e.Value != nil:
						t.Errorf("%s: a keys-only entry carries value %q", e.Key, e.Value)
					case !keysOnly && (string(e.Value) != values[e.Key] || e.Size != len(e.Value)):
						t.Errorf("%s: value %q size %d, want %q size %d", e.Key, e.Value, e.Size, values[e.Key], len(values[e.Key]))
					}
				}
			})
		}
	}
}

func TestInvalidKeysNeverReachEngine(t *testing.T) {
	badKeys := []struct {
		name string
		key  ds.Key
	}{
		{"empty", ds.Key{}},
		{"root", ds.RawKey("/")},
		{"empty segment", ds.RawKey("/a//b")},
		{"dot segment", ds.RawKey("/a/./b")},
		{"dot-dot segment", ds.RawKey("/a/../b")},
		{"too long", ds.RawKey("/" + strings.Repeat("k", core.MaxKeySize))},
	}
	for _, tc := range opCases {
		if !tc.keyed {
			continue
		}
		for _, bad := range badKeys {
			t.Run(tc.name+"/"+bad.name, func(t *testing.T) {
				f := newFakeEngine()
				call := tc.prep(t, wrapFake(t, f, allCaps))
				n := f.callCount()
				if err := call(context.Background(), bad.key, []byte("v")); !errors.Is(err, core.ErrInvalidKey) {
					t.Errorf("got %v, want an error matching core.ErrInvalidKey", err)
				}
				if calls := f.callsSince(n); len(calls) > 0 {
					t.Errorf("the engine was called: %q", calls)
				}
			})
		}
	}
}

func TestValueSizeLimit(t *testing.T) {
	tooLarge := make([]byte, core.MaxValueSize+1)
	largest := tooLarge[:core.MaxValueSize]
	for _, tc := range opCases {
		if !tc.valued {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine()
			call := tc.prep(t, wrapFake(t, f, allCaps))
			n := f.callCount()
			if err := call(context.Background(), keyA, tooLarge); !errors.Is(err, core.ErrTooLarge) {
				t.Errorf("%d bytes: got %v, want an error matching core.ErrTooLarge", len(tooLarge), err)
			}
			if calls := f.callsSince(n); len(calls) > 0 {
				t.Errorf("a value too large reached the engine: %q", calls)
			}
			if err := call(context.Background(), keyA, largest); err != nil {
				t.Errorf("%d bytes: %v", len(largest), err)
			}
			if calls := f.callsSince(n); !slices.Equal(calls, []string{tc.engOp + " /a"}) {
				t.Errorf("the largest value reached the engine as %q, want one %s", calls, tc.engOp)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  ds.Key
		ok   bool
	}{
		{"one segment", ds.NewKey("/a"), true},
		{"nested", ds.NewKey("/a/b/c"), true},
		{"binary", ds.RawKey("/\x00\xff\x01/b\n\t/\xc3"), true},
		{"dots inside a segment", ds.RawKey("/a.b/.c/c./.../..d"), true},
		{"spaces", ds.RawKey("/ /a b"), true},
		{"longest", ds.RawKey("/" + strings.Repeat("k", core.MaxKeySize-1)), true},
		{"empty", ds.Key{}, false},
		{"root", ds.RawKey("/"), false},
		{"empty segment", ds.RawKey("/a//b"), false},
		{"leading empty segment", ds.RawKey("//a"), false},
		{"dot segment", ds.RawKey("/a/./b"), false},
		{"trailing dot segment", ds.RawKey("/a/."), false},
		{"dot-dot segment", ds.RawKey("/a/../b"), false},
		{"leading dot-dot segment", ds.RawKey("/../a"), false},
		{"too long", ds.RawKey("/" + strings.Repeat("k", core.MaxKeySize)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := core.CheckKey(tc.key)
			switch {
			case tc.ok && err != nil:
				t.Errorf("CheckKey(%q): %v", tc.key, err)
			case !tc.ok && !errors.Is(err, core.ErrInvalidKey):
				t.Errorf("CheckKey(%q): got %v, want an error matching core.ErrInvalidKey", tc.key, err)
			}
		})
	}
}

func TestBatchAndTxnPutCopyValue(t *testing.T) {
	type writer interface {
		Put(ctx context.Context, key ds.Key, value []byte) error
		Commit(ctx context.Context) error
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		open func(b core.Backend) (writer, error)
	}{
		{"batch", func(b core.Backend) (writer, error) { return b.Batch(ctx) }},
		{"txn", func(b core.Backend) (writer, error) { return b.(ds.TxnDatastore).NewTransaction(ctx, false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := wrapFake(t, newFakeEngine(), allCaps)
			w, err := tc.open(b)
			if err != nil {
				t.Fatal(err)
			}
			buf := []byte("first")
			if err := w.Put(ctx, keyA, buf); err != nil {
				t.Fatal(err)
			}
			copy(buf, "reuse") // the caller reuses its slice before Commit
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			copy(buf, "again") // and after
			got, err := b.Get(ctx, keyA)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "first" {
				t.Errorf("stored %q, want %q: Put kept the caller's slice", got, "first")
			}
		})
	}
}

func TestTTLAndTxnReachEngine(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, allCaps)
	ctx := context.Background()
	if err := ttlOf(b).PutWithTTL(ctx, keyA, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := ttlOf(b).SetTTL(ctx, keyA, time.Hour); err != nil {
		t.Fatal(err)
	}
	if exp, err := ttlOf(b).GetExpiration(ctx, keyA); err != nil || !exp.Equal(time.Unix(0, 0).Add(time.Hour)) {
		t.Errorf("GetExpiration: %v, %v", exp, err)
	}

	tx, err := b.(ds.TxnDatastore).NewTransaction(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	keyB := ds.NewKey("/b")
	if err := tx.Put(ctx, keyB, []byte("w")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Delete(ctx, keyA); err != nil {
		t.Fatal(err)
	}
	if has, err := b.Has(ctx, keyB); has || err != nil {
		t.Errorf("before Commit: Has(/b) = %v, %v; want false", has, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, keyB); err != nil || string(v) != "w" {
		t.Errorf("after Commit: Get(/b) = %q, %v", v, err)
	}
	if _, err := b.Get(ctx, keyA); err != ds.ErrNotFound {
		t.Errorf("after Commit: Get(/a) = %v, want ds.ErrNotFound", err)
	}
	n := f.callCount()
	tx.Discard(ctx)
	if calls := f.callsSince(n); !slices.Equal(calls, []string{"txn.discard "}) {
		t.Errorf("Discard reached the engine as %q", calls)
	}
}

func TestWrapCapabilities(t *testing.T) {
	full := newFakeEngine()
	for _, tc := range []struct {
		name    string
		engine  ds.Batching
		caps    core.Capabilities
		wantErr string // the capability named in the refusal
	}{
		{"plain engine, none declared", plainEngine{full}, core.Capabilities{}, ""},
		{"full engine, none declared", full, core.Capabilities{Persistent: true, Durable: true}, ""},
		{"full engine, ttl declared", full, core.Capabilities{TTL: true}, ""},
		{"full engine, transactions declared", full, core.Capabilities{Transactions: true}, ""},
		{"full engine, both declared", full, allCaps, ""},
		{"ttl engine, ttl declared", ttlEngine{full, full}, core.Capabilities{TTL: true}, ""},
		{"txn engine, transactions declared", txnEngine{full, full}, core.Capabilities{Transactions: true}, ""},
		{"plain engine, ttl declared", plainEngine{full}, core.Capabilities{TTL: true}, "ttl"},
		{"plain engine, transactions declared", plainEngine{full}, core.Capabilities{Transactions: true}, "transactions"},
		{"ttl engine, both declared", ttlEngine{full, full}, allCaps, "transactions"},
		{"txn engine, both declared", txnEngine{full, full}, allCaps, "ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := core.Info{Name: "fake", Version: "v1", Build: "b1", Capabilities: tc.caps}
			b, err := core.Wrap(tc.engine, info)
			if tc.wantErr != "" {
				if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), tc.wantErr) || b != nil {
					t.Fatalf("got %v, %v; want a nil backend and an error matching core.ErrRejected naming %s", b, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Info() != info {
				t.Errorf("Info() = %+v, want %+v", b.Info(), info)
			}
			if _, ok := b.(ds.TTLDatastore); ok != tc.caps.TTL {
				t.Errorf("implements ds.TTLDatastore: %v, declared ttl: %v", ok, tc.caps.TTL)
			}
			if _, ok := b.(ds.TxnDatastore); ok != tc.caps.Transactions {
				t.Errorf("implements ds.TxnDatastore: %v, declared transactions: %v", ok, tc.caps.Transactions)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	for _, tc := range []struct {
		caps    core.Capabilities
		names   []string
		str     string
		missing []string // of allCaps
	}{
		{core.Capabilities{}, nil, "none", []string{"ttl", "transactions"}},
		{core.Capabilities{Persistent: true, Transactions: true}, []string{"persistent", "transactions"}, "persistent,transactions", []string{"ttl"}},
		{core.Capabilities{Persistent: true, Durable: true, TTL: true, Transactions: true},
			[]string{"persistent", "durable", "ttl", "transactions"}, "persistent,durable,ttl,transactions", nil},
	} {
		if got := tc.caps.Names(); !slices.Equal(got, tc.names) {
			t.Errorf("%+v.Names() = %q, want %q", tc.caps, got, tc.names)
		}
		if got := tc.caps.String(); got != tc.str {
			t.Errorf("%+v.String() = %q, want %q", tc.caps, got, tc.str)
		}
		if got := tc.caps.Missing(allCaps); !slices.Equal(got, tc.missing) {
			t.Errorf("%+v.Missing(ttl,transactions) = %q, want %q", tc.caps, got, tc.missing)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *core.Error
		want string
	}{
		{&core.Error{Backend: "pebble", Op: "put", Key: "/a/b", Err: errBoom}, "pebble: put /a/b: boom"},
		{&core.Error{Backend: "pebble", Op: "commit batch", Err: errBoom}, "pebble: commit batch: boom"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
		if !errors.Is(tc.err, errBoom) {
			t.Errorf("%v does not unwrap to its Err", tc.err)
		}
	}
}
