package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	ds "github.com/ipfs/go-datastore"
)

// SyncWrites makes every acknowledged write on b durable: from the call on,
// a Put, Delete, batch Commit, transaction Commit, PutWithTTL or SetTTL
// that succeeds returns only after a Sync of the whole engine that started
// after the write completed, so what b acknowledges survives a crash of the
// process (and, as far as the engine's Sync reaches, of the machine).
//
// Writes that arrive together share one engine Sync (group commit): one
// Sync runs at a time, and every write that completes while it runs waits
// for the next one. A failed Sync fails every write waiting for it, with
// an [*Error] whose operation is "sync after <op>"; the write itself was
// applied, but is not known to be durable. A write whose context ends while
// it waits returns the context's error, and the Sync goes on for the others.
// After Close, a waiting write fails with [ErrClosed].
//
// SyncWrites cannot be undone. It fails when b was not made by [Wrap]
// (which [Registry.Open] and [Gate.Admit] use).
func SyncWrites(b Backend) error {
	r, ok := b.(interface{ rules() *store })
	if !ok {
		return fmt.Errorf("core.SyncWrites: %T was not made by core.Wrap, so its writes cannot be synced; open it through a Registry or wrap the engine with core.Wrap", b)
	}
	r.rules().commit.on.Store(true)
	return nil
}

// groupCommit runs the engine Syncs of a store whose writes are synced.
type groupCommit struct {
	on atomic.Bool

	mu      sync.Mutex
	next    *syncRound // the round a completed write joins; nil when none waits
	running bool       // a goroutine is running rounds (syncLoop)
}

// syncRound is one engine Sync and the writes that wait for it.
type syncRound struct {
	done chan struct{} // closed when the Sync has returned
	err  error         // the Sync's error, set before done is closed
}

// durable returns err, the result of the write op on key, once the write is
// durable: when err is nil and writes are synced, it waits for the next
// round's Sync.
func (s *store) durable(ctx context.Context, op, key string, err error) error {
	if err != nil || !s.commit.on.Load() {
		return err
	}
	r := s.joinRound()
	select {
	case <-r.done:
		return wrapErr(s.info.Name, "sync after "+op, key, r.err)
	case <-ctx.Done():
		return wrapErr(s.info.Name, "sync after "+op, key, ctx.Err())
	}
}

// joinRound returns the round whose Sync has not started yet, starting the
// loop that runs rounds when it is not running.
func (s *store) joinRound() *syncRound {
	g := &s.commit
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next == nil {
		g.next = &syncRound{done: make(chan struct{})}
	}
	if !g.running {
		g.running = true
		go s.syncLoop()
	}
	return g.next
}

// syncLoop runs rounds, one at a time, until no write waits.
func (s *store) syncLoop() {
	g := &s.commit
	for {
		g.mu.Lock()
		r := g.next
		g.next = nil
		if r == nil {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		r.err = s.syncEngine()
		close(r.done)
	}
}

// syncEngine syncs the whole engine. Its context belongs to no caller: a
// caller that gives up must not fail the Sync for the others.
func (s *store) syncEngine() error {
	ctx := context.Background()
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	ctx, pr := s.begin(ctx, OpSync)
	return s.end(OpSync, pr, s.fault(s.b.Sync(ctx, ds.NewKey("/"))))
}
