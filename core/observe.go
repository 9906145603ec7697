package core

import (
	"fmt"
	"time"
)

// Op names an operation of a Backend, as an [Observer] hears of it. The
// names are fit for a metric label.
type Op string

// The operations an Observer hears of.
const (
	OpGet       Op = "get"          // Get
	OpHas       Op = "has"          // Has
	OpGetSize   Op = "get_size"     // GetSize
	OpPut       Op = "put"          // Put and PutWithTTL, until acknowledged (synced when SyncWrites is on)
	OpDelete    Op = "delete"       // Delete, until acknowledged
	OpQuery     Op = "query"        // opening a query; reading its results is the caller's time
	OpCommit    Op = "batch_commit" // a batch's Commit, until acknowledged
	OpSync      Op = "sync"         // Sync, and each engine Sync the group commit of SyncWrites runs
	OpTxnCommit Op = "txn_commit"   // a transaction's Commit, until acknowledged
)

// Observer hears of every operation of a Backend made by [Wrap], once the
// operation returns: how long it took and its error (nil on success; an
// error wrapping [ErrNotFound] is a normal outcome of a read). Observe runs
// on the caller's goroutine, so it must be fast and safe for concurrent
// use; a metrics collector is the use it is meant for.
type Observer interface {
	Observe(op Op, took time.Duration, err error)
}

// Observe makes o hear of every later operation on b, in place of the
// observer set before; a nil o stops observing. A Backend without an
// observer does not read the clock. It fails when b was not made by [Wrap].
func Observe(b Backend, o Observer) error {
	r, ok := b.(interface{ rules() *store })
	if !ok {
		return fmt.Errorf("core.Observe: %T was not made by core.Wrap, so its operations cannot be observed; open it through a Registry or wrap the engine with core.Wrap", b)
	}
	s := r.rules()
	if o == nil {
		s.observer.Store(nil)
		return nil
	}
	s.observer.Store(&o)
	return nil
}

// begin returns the time an operation starts, or the zero time when
// nothing observes the store.
func (s *store) begin() time.Time {
	if s.observer.Load() == nil {
		return time.Time{}
	}
	return time.Now()
}

// end tells the observer of op, begun at start, and returns err.
func (s *store) end(op Op, start time.Time, err error) error {
	if start.IsZero() {
		return err
	}
	if o := s.observer.Load(); o != nil {
		(*o).Observe(op, time.Since(start), err)
	}
	return err
}
