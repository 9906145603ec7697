package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	pebbleds "github.com/ipfs/go-ds-pebble"
	logging "github.com/ipfs/go-log/v2"

	"github.com/netabase/netabase/core"
)

// engine is go-ds-pebble's datastore with pebble's faults turned into a
// failed state (core.StateFailed) instead of the end of the process.
//
// Pebble ends the process when it cannot go on: through its Logger's
// Fatalf (a failed commit or MANIFEST write, a missing table file, a broken
// invariant), which it expects not to return, or with a panic (a failed
// write-ahead log write). Here:
//
//   - Any write of pebble's that fails for a full disk fails the store at
//     once (vfs.OnDiskFull), so that later calls are refused before
//     pebble rotates its write-ahead log on the full disk: a failure there
//     happens while pebble has released a lock that a deferred call then
//     releases again, a fatal runtime error nothing can catch. A call in
//     flight at that moment can still meet it; that window is what
//     remains.
//   - Fatalf fails the store and ends the goroutine it was called on with
//     runtime.Goexit, which runs that goroutine's deferred calls (pebble
//     releases most of its locks that way). So that this never ends a
//     caller's goroutine, the calls that can reach Fatalf or a panic
//     (open, writes, Sync) run on a goroutine of their own, which also
//     recovers pebble's panics into the failed state; the caller returns
//     the failure.
//   - A background error that says the disk is full ends pebble's
//     background goroutine the same way, which stops pebble from retrying
//     the flush in a tight loop.
//   - Corrupt data found by a read (pebble's DataCorruption event) fails
//     the store; the read returns the failure.
//
// A Fatalf reached by a read (a table file that vanished) ends the
// reader's goroutine: reads do not hop, to keep them fast.
//
// Once failed, core.Wrap refuses every call before it reaches pebble,
// whose locks and goroutines may be left in any state, and Close leaves
// pebble open: its files stay locked until the process ends.
type engine struct {
	*pebbleds.Datastore
	core.StateFeed
	dir string

	failOnce sync.Once
	failed   chan struct{} // closed at the store's first failure
}

// log is go-log's subsystem, the one go-ds-pebble logs pebble's lines to.
var log = logging.Logger("pebble")

func newEngine(dir string) *engine {
	return &engine{dir: dir, failed: make(chan struct{})}
}

// fail puts the store in the failed state with detail, once.
func (e *engine) fail(detail string) {
	e.Fail(detail)
	e.failOnce.Do(func() { close(e.failed) })
}

// options sets up o's logger and event listener to fail the store.
func (e *engine) options(o *pebble.Options) {
	o.FS = vfs.OnDiskFull(vfs.Default, func() {
		e.fail(e.diskFull(syscall.ENOSPC))
	})
	o.Logger = fatalLogger{e}
	o.EventListener = &pebble.EventListener{
		BackgroundError: func(err error) {
			if errors.Is(err, syscall.ENOSPC) {
				e.fail(e.diskFull(err))
				runtime.Goexit()
			}
			log.Errorf("background error: %s", err)
		},
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			e.fail(fmt.Sprintf("pebble found corrupt data in %s (%s); stop the node, keep a copy of %s, check the disk, and restore the store from a backup",
				info.Path, firstLine(fmt.Sprint(info.Details)), e.dir))
		},
	}
}

func (e *engine) diskFull(err error) string {
	return fmt.Sprintf("the disk that holds %s is full (%s); free space on it, then restart the node (the store refuses every call until then)",
		e.dir, firstLine(err.Error()))
}

// fatalLogger is pebble's Logger for an engine.
type fatalLogger struct{ e *engine }

func (l fatalLogger) Infof(format string, args ...any)  { log.Infof(format, args...) }
func (l fatalLogger) Errorf(format string, args ...any) { log.Errorf(format, args...) }

// Fatalf fails the store and ends the calling goroutine; it does not
// return, as pebble expects.
func (l fatalLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	log.Errorf("fatal: %s", msg)
	l.e.fatal(msg, args...)
	runtime.Goexit()
}

// fatal fails the store for pebble's fatal error msg, about values: the
// disk is full when one of them is an error saying so.
func (e *engine) fatal(msg string, values ...any) {
	for _, v := range values {
		if err, ok := v.(error); ok && errors.Is(err, syscall.ENOSPC) {
			e.fail(e.diskFull(err))
			return
		}
	}
	e.fail(fmt.Sprintf("pebble stopped on a fatal error (%s); the store may be damaged: stop the node, keep a copy of %s, check the disk, and restore the store from a backup if it does not open again",
		firstLine(msg), e.dir))
}

// firstLine is s up to its first line break, at most 500 bytes: pebble's
// messages may carry stack traces.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return s
}

// run runs f on a goroutine of its own, so that a Fatalf or a panic in it
// ends that goroutine and not the caller's, and returns f's error, or the
// store's failure when the store failed before or meanwhile or f's error
// came with it.
func (e *engine) run(f func() error) error {
	if err := e.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				e.fatal(fmt.Sprintf("panic: %v", p), p)
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		return e.checked(err)
	case <-e.failed:
		return e.Err()
	}
}

// checked returns err, or the store's failure in its place when the store
// has failed: the error that failed it, such as a corrupt block, says less.
func (e *engine) checked(err error) error {
	if err != nil {
		if ferr := e.Err(); ferr != nil {
			return ferr
		}
	}
	return err
}

// open opens the store in dir with the options of opts.
func (e *engine) open(opts []pebbleds.Option) error {
	return e.run(func() error {
		d, err := pebbleds.NewDatastore(e.dir, opts...)
		e.Datastore = d
		return err
	})
}

func (e *engine) Put(ctx context.Context, key ds.Key, value []byte) error {
	return e.run(func() error { return e.Datastore.Put(ctx, key, value) })
}

func (e *engine) Delete(ctx context.Context, key ds.Key) error {
	return e.run(func() error { return e.Datastore.Delete(ctx, key) })
}

func (e *engine) Sync(ctx context.Context, prefix ds.Key) error {
	return e.run(func() error { return e.Datastore.Sync(ctx, prefix) })
}

func (e *engine) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	v, err := e.Datastore.Get(ctx, key)
	return v, e.checked(err)
}

func (e *engine) Has(ctx context.Context, key ds.Key) (bool, error) {
	ok, err := e.Datastore.Has(ctx, key)
	return ok, e.checked(err)
}

func (e *engine) GetSize(ctx context.Context, key ds.Key) (int, error) {
	n, err := e.Datastore.GetSize(ctx, key)
	return n, e.checked(err)
}

func (e *engine) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	r, err := e.Datastore.Query(ctx, q)
	return r, e.checked(err)
}

func (e *engine) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := e.Datastore.Batch(ctx)
	if err != nil {
		return nil, e.checked(err)
	}
	return &batch{Batch: b, e: e}, nil
}

// batch commits on a goroutine of its own, as the engine's writes do.
type batch struct {
	ds.Batch
	e *engine
}

func (b *batch) Commit(ctx context.Context) error {
	return b.e.run(func() error { return b.Batch.Commit(ctx) })
}

// Close closes pebble, unless the store failed: then pebble's state is
// unknown (go-ds-pebble's Close flushes, which on a full disk ends in a
// fatal runtime error no recover can catch), so it is left as it is, and
// its files stay locked until the process ends.
func (e *engine) Close() error {
	if e.Err() != nil {
		return nil
	}
	return e.Datastore.Close()
}
