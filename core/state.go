package core

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"syscall"
)

// State is a backend's condition while it is open.
type State int

// The states of an open backend. The zero value is StateUp.
const (
	// StateUp: the backend serves calls.
	StateUp State = iota
	// StateDown: the backend cannot serve calls for now (an out-of-process
	// backend whose process died); calls fail fast until it is up again.
	StateDown
	// StateRestarting: the backend is down and a restart is scheduled.
	StateRestarting
	// StateFailed: the engine hit a fault it cannot recover from (a full
	// disk, corrupt data, a fatal engine error). It is final until the
	// store is reopened: every call fails with an error wrapping
	// ErrFailed, and no call reaches the engine.
	StateFailed
)

func (s State) String() string {
	switch s {
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	case StateRestarting:
		return "restarting"
	case StateFailed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// BackendState is a backend's state and why it is in it.
type BackendState struct {
	State State
	// Detail says why, for any state but up; for StateFailed, what
	// happened and what to do about it.
	Detail string
}

// StateReporter is implemented by a backend whose state can change while
// it is open: an out-of-process backend that goes down and restarts, or
// an engine that can fail. [Wrap] passes the engine's states through, adds
// the failures it detects itself (a write refused for a full disk), and
// refuses every call once the state is failed; the node watches the
// result and reports it. A backend that does not implement it is up from
// open to Close, unless Wrap sees it fail.
type StateReporter interface {
	// State returns the current state.
	State() BackendState
	// StateChanges yields each change of state after the call, in order,
	// until ctx ends. A reader that falls behind by more than a few changes
	// skips to the latest. It never blocks the backend.
	StateChanges(ctx context.Context) iter.Seq[BackendState]
}

// feedHistory is how many changes a StateFeed keeps for slow readers.
const feedHistory = 16

// StateFeed holds a backend's state and tells readers of its changes; a
// backend embeds one to implement [StateReporter]. The zero value is up.
// A failed state is final: later changes are ignored. It is safe for
// concurrent use.
type StateFeed struct {
	cur atomic.Pointer[BackendState] // nil means up

	mu     sync.Mutex
	seq    uint64         // changes so far
	recent []BackendState // the last changes; the final one is change seq
	wake   chan struct{}  // closed at the next change
}

var _ StateReporter = (*StateFeed)(nil)

// State returns the current state.
func (f *StateFeed) State() BackendState {
	if p := f.cur.Load(); p != nil {
		return *p
	}
	return BackendState{}
}

// Set changes the state to st. It reports false, and does nothing, when st
// is the current state or the current state is failed.
func (f *StateFeed) Set(st BackendState) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur := f.State(); cur == st || cur.State == StateFailed {
		return false
	}
	f.cur.Store(&st)
	f.seq++
	f.recent = append(f.recent, st)
	if len(f.recent) > feedHistory {
		f.recent = f.recent[len(f.recent)-feedHistory:]
	}
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
	return true
}

// Fail sets the state to failed with detail, and returns the error calls
// fail with from now on: one wrapping ErrFailed that says detail. When the
// state was failed already, it returns that failure's error.
func (f *StateFeed) Fail(detail string) error {
	f.Set(BackendState{State: StateFailed, Detail: detail})
	return f.Err()
}

// Err returns nil unless the state is failed, and then an error wrapping
// ErrFailed that says why.
func (f *StateFeed) Err() error {
	st := f.State()
	if st.State != StateFailed {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrFailed, st.Detail)
}

// StateChanges yields each change after the call, until ctx ends.
func (f *StateFeed) StateChanges(ctx context.Context) iter.Seq[BackendState] {
	f.mu.Lock()
	next := f.seq + 1
	f.mu.Unlock()
	return func(yield func(BackendState) bool) {
		for {
			f.mu.Lock()
			if f.seq < next {
				if f.wake == nil {
					f.wake = make(chan struct{})
				}
				wake := f.wake
				f.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-wake:
				}
				continue
			}
			oldest := f.seq - uint64(len(f.recent)) + 1
			next = max(next, oldest)
			st := f.recent[next-oldest]
			next++
			f.mu.Unlock()
			if !yield(st) {
				return
			}
		}
	}
}

// DiskFull is the detail of a store that failed because its disk is full,
// for err, an error of the engine wrapping syscall.ENOSPC.
func DiskFull(err error) string {
	return fmt.Sprintf("the disk is full (%v); free space on the disk that holds the store, then restart the node (the store refuses writes until then)", err)
}

// isDiskFull reports whether err says the disk is full.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC)
}
