package core_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
)

// nextState reads the next change from changes, failing after a while.
func nextState(t *testing.T, changes <-chan core.BackendState) core.BackendState {
	t.Helper()
	select {
	case st := <-changes:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no change of state within 10s")
		return core.BackendState{}
	}
}

// watch returns the changes of r's state from now on, until the test ends.
func watch(t *testing.T, r core.StateReporter) <-chan core.BackendState {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := make(chan core.BackendState, 64)
	changes := r.StateChanges(ctx)
	go func() {
		for st := range changes {
			out <- st
		}
	}()
	return out
}

func TestStateFeedKeepsOrderAndFailureIsFinal(t *testing.T) {
	var f core.StateFeed
	if st := f.State(); st.State != core.StateUp || f.Err() != nil {
		t.Fatalf("the zero feed is %+v (err %v), want up", st, f.Err())
	}
	changes := watch(t, &f)
	f.Set(core.BackendState{State: core.StateDown, Detail: "process 1 died"})
	f.Set(core.BackendState{State: core.StateRestarting})
	f.Set(core.BackendState{State: core.StateUp})
	err := f.Fail("the disk is full")
	if f.Set(core.BackendState{State: core.StateUp}) {
		t.Error("a failed feed went back up")
	}
	for _, want := range []core.State{core.StateDown, core.StateRestarting, core.StateUp, core.StateFailed} {
		if got := nextState(t, changes); got.State != want {
			t.Fatalf("got state %v, want %v", got.State, want)
		}
	}
	if !errors.Is(err, core.ErrFailed) || !strings.Contains(err.Error(), "the disk is full") {
		t.Errorf("Fail returned %v, want an error wrapping core.ErrFailed that says why", err)
	}
}

func TestStateFeedSlowReaderSkipsToTheLatest(t *testing.T) {
	var f core.StateFeed
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := f.StateChanges(ctx)
	for i := range 100 {
		f.Set(core.BackendState{State: core.State(i % 3), Detail: string(rune('a' + i%26))})
	}
	var last core.BackendState
	n := 0
	for st := range changes {
		last, n = st, n+1
		if last == f.State() {
			break
		}
	}
	if n > 16 || last != f.State() {
		t.Errorf("a reader behind by 100 changes read %d, the last %+v; want at most 16, ending with %+v", n, last, f.State())
	}
}

func TestDiskFullFailsTheStore(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, allCaps)
	changes := watch(t, b.(core.StateReporter))
	calls := make([]func(context.Context, ds.Key, []byte) error, len(opCases))
	for i, tc := range opCases {
		calls[i] = tc.prep(t, b) // batches and transactions begun before the fault
	}
	f.fail("put", &fs.PathError{Op: "write", Path: "/data/000004.log", Err: syscall.ENOSPC})
	err := b.Put(context.Background(), keyA, []byte("v"))
	if !errors.Is(err, core.ErrFailed) || !strings.Contains(err.Error(), "the disk is full") || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("a put on a full disk returned %v; want core.ErrFailed saying the disk is full and what to do", err)
	}
	if st := nextState(t, changes); st.State != core.StateFailed || !strings.Contains(st.Detail, syscall.ENOSPC.Error()) {
		t.Errorf("the store reported %+v, want failed with the engine's error", st)
	}
	n := f.callCount()
	for i, call := range calls {
		if err := call(context.Background(), keyA, []byte("v")); !errors.Is(err, core.ErrFailed) {
			t.Errorf("%s on a failed store: %v, want core.ErrFailed", opCases[i].name, err)
		}
	}
	if calls := f.callsSince(n); len(calls) > 0 {
		t.Errorf("the engine was called after it failed: %q", calls)
	}
}

// reportingEngine is an engine that reports its own states.
type reportingEngine struct {
	*fakeEngine
	core.StateFeed
}

func TestWrapPassesTheEngineStatesThrough(t *testing.T) {
	e := &reportingEngine{fakeEngine: newFakeEngine()}
	e.Set(core.BackendState{State: core.StateDown, Detail: "not yet"})
	b := wrapFake(t, e, core.Capabilities{})
	r := b.(core.StateReporter)
	if st := r.State(); st.State != core.StateDown {
		t.Errorf("the wrapped store is %+v, want the engine's state at Wrap (down)", st)
	}
	changes := watch(t, r)
	e.Set(core.BackendState{State: core.StateUp})
	if st := nextState(t, changes); st.State != core.StateUp {
		t.Errorf("got %+v, want up", st)
	}
	e.Fail("pebble: corrupt block; restore from a backup")
	// No call reaches the engine once it has failed, even before the
	// change has been copied.
	n := e.callCount()
	if _, err := b.Get(context.Background(), keyA); !errors.Is(err, core.ErrFailed) || !strings.Contains(err.Error(), "restore from a backup") {
		t.Errorf("Get on a failed engine: %v, want core.ErrFailed with the engine's detail", err)
	}
	if calls := e.callsSince(n); len(calls) > 0 {
		t.Errorf("the engine was called after it failed: %q", calls)
	}
	if st := nextState(t, changes); st.State != core.StateFailed {
		t.Errorf("got %+v, want failed", st)
	}
}
