package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
)

// syncLog is an engine, the fake underneath, that logs when each Put
// completed and when each Sync started and ended, so a test can check that a
// write was acknowledged only after a Sync that started after it.
type syncLog struct {
	ds.Batching
	putDone chan string // receives each completed Put's key when not nil

	mu     sync.Mutex
	events []string // "put <key>", "sync start", "sync end", in order
	// syncCtxErrs holds, for each Sync, its context's error when it ended.
	syncCtxErrs []error
}

func (l *syncLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *syncLog) Put(ctx context.Context, k ds.Key, v []byte) error {
	err := l.Batching.Put(ctx, k, v)
	l.add("put " + k.String())
	if l.putDone != nil {
		l.putDone <- k.String()
	}
	return err
}

func (l *syncLog) Sync(ctx context.Context, prefix ds.Key) error {
	l.add("sync start")
	err := l.Batching.Sync(ctx, prefix)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, "sync end")
	l.syncCtxErrs = append(l.syncCtxErrs, ctx.Err())
	return err
}

func (l *syncLog) syncs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.syncCtxErrs)
}

// checkSyncedAfter fails the test unless, by now, a Sync started after the
// Put of key completed and that Sync has ended. Syncs never overlap, so the
// first "sync end" after a "sync start" is that Sync's.
func (l *syncLog) checkSyncedAfter(t *testing.T, key string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	put := slices.Index(l.events, "put "+key)
	if put < 0 {
		t.Errorf("put %s returned without reaching the engine", key)
		return
	}
	start := slices.Index(l.events[put:], "sync start")
	if start < 0 || !slices.Contains(l.events[put+start:], "sync end") {
		t.Errorf("put %s was acknowledged before a Sync that started after it had ended: %q", key, l.events)
	}
}

// newSynced wraps a syncLog over a fake engine and turns on SyncWrites.
func newSynced(t *testing.T) (*fakeEngine, *syncLog, core.Backend) {
	t.Helper()
	f := newFakeEngine()
	l := &syncLog{Batching: f}
	b := wrapFake(t, l, core.Capabilities{})
	if err := core.SyncWrites(b); err != nil {
		t.Fatalf("SyncWrites: %v", err)
	}
	return f, l, b
}

func TestSyncWritesWaitsForASyncStartedAfterTheWrite(t *testing.T) {
	f, l, b := newSynced(t)
	l.putDone = make(chan string, 2)
	ctx := context.Background()

	first := f.holdNext("sync")
	got := make(chan error, 2)
	go func() { got <- b.Put(ctx, ds.NewKey("/k1"), []byte("1")) }()
	<-l.putDone
	<-first.entered // the Sync for /k1 runs, and is held

	second := f.holdNext("sync")
	go func() { got <- b.Put(ctx, ds.NewKey("/k2"), []byte("2")) }()
	<-l.putDone // /k2 is written while the first Sync runs: it needs the next
	close(first.release)
	if err := <-got; err != nil {
		t.Fatalf("the first put: %v", err)
	}
	l.checkSyncedAfter(t, "/k1")
	<-second.entered
	select {
	case err := <-got:
		t.Fatalf("put /k2 returned (%v) before the Sync that started after it ended", err)
	default:
	}
	close(second.release)
	if err := <-got; err != nil {
		t.Fatalf("the second put: %v", err)
	}
	l.checkSyncedAfter(t, "/k2")
	if n := l.syncs(); n != 2 {
		t.Errorf("%d Syncs, want 2", n)
	}
}

func TestSyncWritesConcurrentWritersShareSyncs(t *testing.T) {
	const writers = 64
	f, l, b := newSynced(t)
	l.putDone = make(chan string, writers)
	ctx := context.Background()

	held := f.holdNext("sync")
	errs := make(chan error, writers)
	for i := range writers {
		go func() { errs <- b.Put(ctx, ds.NewKey(fmt.Sprintf("/w%d", i)), []byte("v")) }()
	}
	for range writers {
		<-l.putDone
	}
	// Every write is done; the first Sync is still held, so every writer
	// not in its round waits for the next: far fewer Syncs than writes.
	<-held.entered
	close(held.release)
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	for i := range writers {
		l.checkSyncedAfter(t, fmt.Sprintf("/w%d", i))
	}
	n := l.syncs()
	t.Logf("%d writers, %d Syncs (%.3f Syncs per write)", writers, n, float64(n)/writers)
	if n > writers/8 {
		t.Errorf("%d concurrent writers caused %d Syncs; they should share them", writers, n)
	}
}

func TestSyncWritesEveryWriteSyncs(t *testing.T) {
	writes := []string{"put", "delete", "batch.commit", "txn.commit", "putttl", "setttl"}
	for _, tc := range opCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine()
			b := wrapFake(t, f, allCaps)
			if err := core.SyncWrites(b); err != nil {
				t.Fatal(err)
			}
			if err := b.Put(context.Background(), keyA, []byte("v")); err != nil {
				t.Fatal(err)
			}
			call := tc.prep(t, b)
			n := f.callCount()
			if err := call(context.Background(), keyA, []byte("v")); err != nil && !errors.Is(err, ds.ErrNotFound) {
				t.Fatalf("%s: %v", tc.name, err)
			}
			calls := f.callsSince(n)
			synced := slices.Index(calls, "sync /")
			if slices.Contains(writes, tc.engOp) {
				if op := slices.IndexFunc(calls, func(c string) bool { return c == tc.engOp+" "+tc.wantKey() }); synced < 0 || op < 0 || synced < op {
					t.Errorf("engine calls %q: want %s, then a Sync of /", calls, tc.engOp)
				}
			} else if synced >= 0 {
				t.Errorf("engine calls %q: %s is not a write, yet the engine was synced", calls, tc.name)
			}
		})
	}
}

func TestSyncWritesFailedWriteDoesNotSync(t *testing.T) {
	f, l, b := newSynced(t)
	f.fail("put", errBoom)
	if err := b.Put(context.Background(), keyA, []byte("v")); !errors.Is(err, errBoom) {
		t.Fatalf("got %v, want the engine's error", err)
	}
	if n := l.syncs(); n != 0 {
		t.Errorf("a failed write caused %d Syncs", n)
	}
}

func TestSyncWritesSyncErrorReachesEveryWaiter(t *testing.T) {
	const writers = 8
	f, l, b := newSynced(t)
	l.putDone = make(chan string, writers)
	f.fail("sync", errBoom)
	held := f.holdNext("sync")
	errs := make(chan error, writers)
	for i := range writers {
		go func() { errs <- b.Put(context.Background(), ds.NewKey(fmt.Sprintf("/w%d", i)), []byte("v")) }()
	}
	for range writers {
		<-l.putDone
	}
	<-held.entered
	close(held.release)
	for range writers {
		err := <-errs
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Err != errBoom || ce.Op != "sync after put" || ce.Backend != "fake" {
			t.Fatalf("got %#v, want a *core.Error for op \"sync after put\" holding the engine's error itself", err)
		}
		if want := "fake: sync after put " + ce.Key + ": boom"; err.Error() != want {
			t.Errorf("message %q, want %q", err.Error(), want)
		}
	}
}

func TestSyncWritesCancelledWaiterLeavesTheSync(t *testing.T) {
	f, l, b := newSynced(t)
	l.putDone = make(chan string, 2)
	held := f.holdNext("sync")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { got <- b.Put(ctx, ds.NewKey("/gives-up"), []byte("v")) }()
	<-held.entered
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the caller's context error", err)
	}
	close(held.release)
	if err := b.Put(context.Background(), ds.NewKey("/next"), []byte("v")); err != nil {
		t.Fatalf("a put after a cancelled one: %v", err)
	}
	l.checkSyncedAfter(t, "/next")
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, err := range l.syncCtxErrs {
		if err != nil {
			t.Errorf("Sync %d ended with its context done (%v): a caller's cancel reached the shared Sync", i+1, err)
		}
	}
}

func TestSyncWritesCloseWithPendingRound(t *testing.T) {
	f, l, b := newSynced(t)
	l.putDone = make(chan string, 2)
	ctx := context.Background()
	held := f.holdNext("sync")
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- b.Put(ctx, ds.NewKey("/k1"), []byte("1")) }()
	<-held.entered
	go func() { second <- b.Put(ctx, ds.NewKey("/k2"), []byte("2")) }()
	<-l.putDone
	<-l.putDone // /k2 waits for the round after the held one
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	close(held.release)
	if err := <-first; err != nil {
		t.Errorf("the put whose Sync ran: %v", err)
	}
	// Whether the next round's Sync ran before Close or found the store
	// closed, the put returns: durable, or saying it is not known to be.
	if err := <-second; err != nil && !errors.Is(err, core.ErrClosed) {
		t.Errorf("the put waiting at Close: got %v, want nil or core.ErrClosed", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := b.Put(ctx, keyA, []byte("v")); !errors.Is(err, core.ErrClosed) {
		t.Errorf("put after Close: got %v, want core.ErrClosed", err)
	}
}

func TestSyncWritesNeedsWrap(t *testing.T) {
	var notWrapped struct{ core.Backend }
	err := core.SyncWrites(notWrapped)
	if err == nil {
		t.Fatal("SyncWrites accepted a backend core.Wrap did not make")
	}
	t.Log(err)
}
