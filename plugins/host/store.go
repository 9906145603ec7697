package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	pb3 "github.com/netabase/netabase/plugins/proto/storagev3"
	"github.com/netabase/netabase/plugins/wire"
)

// closeTimeout bounds the plugin's Close of its store.
var closeTimeout = time.Minute

// store is an open plugin store: the go-datastore Batching core wraps.
type store struct {
	d    *Driver
	t    *target
	name string // the plugin's declared name

	// live is the process calls go to, or why there is none.
	live atomic.Pointer[liveState]
	// lossMu guards unsynced, syncing and reported. unsynced counts the
	// writes acknowledged by processes that died before a successful Sync
	// covered them; every Sync that starts while it is above zero fails,
	// and once no Sync runs the reported writes are forgotten, so that two
	// Syncs at once both report a loss and not only the first.
	lossMu   sync.Mutex
	unsynced int64
	syncing  int
	reported int64
	// notice is the loss of a process that died holding unsynced writes,
	// for the next call after its restart to report (a Sync reports it
	// through unsynced instead); nil when there is none.
	notice atomic.Pointer[error]

	mu     sync.Mutex // serialises Close with the supervisor's changes
	closed bool

	ctx    context.Context // cancelled by Close: stops restarts
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor has returned

	// states tells the node (through core.Wrap) of the store going
	// down, restarting and coming back.
	states core.StateFeed
}

// CallStats returns the figures of the calls to the driver's plugins: the
// store's own and those of the driver's other stores (the admission
// suite's scratch stores among them; a reader takes what changed since an
// earlier reading, with core.CallStats.Since).
func (s *store) CallStats() (core.CallStats, bool) { return s.d.CallStats(), true }

type liveState struct {
	g   *generation // nil when down
	err error       // why g is nil
}

var (
	_ ds.Batching        = (*store)(nil)
	_ core.StateReporter = (*store)(nil)
	_ core.Seeker        = (*store)(nil)
)

// State returns the store's state: up, down or restarting.
func (s *store) State() core.BackendState { return s.states.State() }

// StateChanges yields the store's changes of state until ctx ends.
func (s *store) StateChanges(ctx context.Context) iter.Seq[core.BackendState] {
	return s.states.StateChanges(ctx)
}

func newStore(d *Driver, t *target, g *generation) *store {
	s := &store{d: d, t: t, name: g.desc.GetName(), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.live.Store(&liveState{g: g})
	s.emit(event{State: up, PID: g.pid})
	go s.supervise(g)
	return s
}

func (s *store) emit(e event) {
	e.Store = s.t.u.Redacted()
	log := s.d.log.With("plugin", pluginLabel(s.t.path), "store", e.Store, "state", e.State.String())
	switch e.State {
	case down:
		level := slog.LevelError
		if errors.Is(e.Err, errCrashed) {
			level = slog.LevelInfo // on purpose: nothing went wrong
		}
		log.Log(context.Background(), level, "storage plugin is down", "pid", e.PID, "error", e.Err)
	case restarting:
		log.Warn("restarting storage plugin", "attempt", e.Attempt, "delay", e.Delay)
	case up:
		log.Debug("storage plugin is up", "pid", e.PID)
	}
	if st, ok := e.backendState(); ok {
		s.states.Set(st)
	}
	if s.d.onState != nil {
		s.d.onState(e)
	}
}

// backendState is e as core's state, and false for stopped, which is no
// state of an open store.
func (e event) backendState() (core.BackendState, bool) {
	var st core.State
	switch e.State {
	case up:
		st = core.StateUp
	case down:
		st = core.StateDown
	case restarting:
		st = core.StateRestarting
	default:
		return core.BackendState{}, false
	}
	var parts []string
	if e.PID != 0 {
		parts = append(parts, fmt.Sprintf("process %d", e.PID))
	}
	if e.State == restarting {
		parts = append(parts, fmt.Sprintf("restart attempt %d in %s", e.Attempt, e.Delay))
	}
	if e.Err != nil {
		parts = append(parts, e.Err.Error())
	}
	return core.BackendState{State: st, Detail: strings.Join(parts, "; ")}, true
}

// current returns the process to call, or the error of a store that is
// down or closed. The first call after a restart that lost unsynced writes
// gets that loss instead, once: a crash surfaces on the next call, whatever
// it is.
func (s *store) current() (*generation, error) {
	st := s.live.Load()
	if st.g == nil {
		return nil, st.err
	}
	if p := s.notice.Load(); p != nil && s.notice.CompareAndSwap(p, nil) {
		return nil, *p
	}
	return st.g, nil
}

// reader returns the current generation for a read: under protocol
// version 2 once the plugin has answered every write made before, so
// that the read sees them.
func (s *store) reader(ctx context.Context) (*generation, error) {
	g, err := s.current()
	if err != nil {
		return nil, err
	}
	if g.w != nil {
		if err := g.w.barrier(ctx); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// supervise waits for the process to die and restarts it, until Close.
func (s *store) supervise(g *generation) {
	defer close(s.done)
	attempt := 0
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-g.done:
		}
		if time.Since(g.started) >= s.d.cfg.Backoff.StableAfter {
			attempt = 0
		}
		err := g.downErr()
		if n := g.acked.Load() - g.synced.Load(); n > 0 {
			s.lossMu.Lock()
			s.unsynced += n
			s.lossMu.Unlock()
			err = fmt.Errorf("%w; %d writes acknowledged since its last successful Sync may be lost", err, n)
			lost := fmt.Errorf("%w: plugin %s died holding %d writes acknowledged since its last successful Sync, and was restarted; they may be lost: write them again, then Sync", ErrWritesLost, s.t.path, n)
			s.notice.Store(&lost)
		}
		s.live.Store(&liveState{err: err})
		g.kill() // reaps go-plugin's goroutines and socket directory
		s.emit(event{State: down, PID: g.pid, Attempt: attempt, Err: err})
		for g = nil; g == nil; {
			delay := s.d.cfg.Backoff.delay(attempt)
			attempt++
			s.emit(event{State: restarting, Attempt: attempt, Delay: delay, Err: err})
			timer := time.NewTimer(delay)
			select {
			case <-s.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			ng, serr := s.d.start(s.ctx, s.t)
			if serr != nil {
				if s.ctx.Err() != nil {
					return
				}
				err = fmt.Errorf("%w: restarting plugin %s failed (attempt %d): %w", ErrPluginDown, s.t.path, attempt, serr)
				s.live.Store(&liveState{err: err})
				s.emit(event{State: down, Attempt: attempt, Err: err})
				continue
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				ng.kill()
				return
			}
			s.live.Store(&liveState{g: ng})
			s.mu.Unlock()
			s.d.calls.restarts.Add(1)
			s.emit(event{State: up, PID: ng.pid, Attempt: attempt})
			g = ng
		}
	}
}

// stop marks the store closed and stops its supervision. It returns the
// process left running, if any, which the caller ends, and false when the
// store was already closed.
func (s *store) stop() (*generation, bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, false
	}
	s.closed = true
	st := s.live.Swap(&liveState{err: core.ErrClosed})
	s.mu.Unlock()
	s.cancel()
	<-s.done
	return st.g, true
}

// Close closes the plugin's store and stops its process.
func (s *store) Close() error {
	g, ok := s.stop()
	if !ok {
		return nil
	}
	var err error
	if g != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		var (
			werr, cerr error
			resp       *pb.CloseResponse
		)
		if g.w != nil {
			// The writes not yet answered go first; the failure of one
			// acknowledged before its answer is reported here.
			werr = g.w.close(ctx)
		}
		if ctx.Err() == nil {
			resp, cerr = g.reads.Close(ctx, &pb.CloseRequest{})
		}
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("plugin %s did not close its store within %v, and the host stopped it: %w", s.name, closeTimeout, ctx.Err())
		case werr != nil:
			err = werr
		case cerr == nil:
			err = wire.Error(s.name, resp.GetError())
		default:
			err = g.callErr(ctx, cerr)
		}
		cancel()
		g.kill()
	}
	s.emit(event{State: stopped})
	return err
}

// errCrashed says that Crash killed a plugin.
var errCrashed = errors.New("was killed to crash its store")

// Crash ends the store b, which d's Open returned, as a crash of its
// plugin would: it stops supervising the store and kills its process
// (SIGKILL on Unix) without asking the plugin to close anything, and
// returns once the process has exited, or ctx ends. The store is then
// closed, and nothing restarts it; its Close does nothing. Its state is
// down, then it is stopped. The conformance suite crashes scratch stores with it
// (this driver is a conformance.CrashDriver) to check a plugin that
// declares durable.
func (d *Driver) Crash(ctx context.Context, b ds.Batching) error {
	s, ok := b.(*store)
	if !ok || s.d != d {
		return fmt.Errorf("cannot crash a %T: it is not a store this plugin driver opened", b)
	}
	g, ok := s.stop()
	if !ok {
		return core.ErrClosed
	}
	var err error
	if g != nil {
		// Kill fails only when the process has already exited, which
		// g.done shows as well.
		_ = g.cmd.Process.Kill()
		select {
		case <-g.done:
			g.kill() // reaps go-plugin's goroutines and socket directory
			s.emit(event{State: down, PID: g.pid, Err: fmt.Errorf("%w: plugin %s (pid %d) %w (%s)", ErrPluginDown, s.t.path, g.pid, errCrashed, g.exitStatus())})
		case <-ctx.Done():
			go g.kill()
			err = ctx.Err()
		}
	}
	s.emit(event{State: stopped})
	return err
}

// bound returns the context of a call to g made with ctx: when ctx has no
// deadline, it ends after Config.CallTimeout, which callErr reports as the
// plugin not answering.
func (g *generation) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, g.limit, errCallLimit)
}

func keyBytes(k ds.Key) []byte { return []byte(k.String()) }

// value returns v, or an empty slice for nil: a stored empty value is
// never mistaken for a missing one.
func value(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

func (s *store) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	g, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := g.bound(ctx)
	defer cancel()
	resp, err := g.reads.Get(ctx, &pb.GetRequest{Key: keyBytes(key)})
	if err != nil {
		return nil, g.callErr(ctx, err)
	}
	if err := wire.Error(s.name, resp.GetError()); err != nil {
		return nil, err
	}
	if n := len(resp.GetValue()); n > core.MaxValueSize {
		return nil, s.brokeProtocol("it returned a value of %d bytes, over the %d-byte limit", n, core.MaxValueSize)
	}
	return value(resp.GetValue()), nil
}

// brokeProtocol is the error of an answer no correct store gives.
func (s *store) brokeProtocol(format string, args ...any) error {
	return brokeProtocol(s.name, format, args...)
}

// brokeProtocol is the error of an answer no correct store gives, from
// the plugin named name.
func brokeProtocol(name, format string, args ...any) error {
	return core.Errorf(core.ErrRejected, "plugin %s broke the protocol: %s", name, fmt.Sprintf(format, args...))
}

func (s *store) Has(ctx context.Context, key ds.Key) (bool, error) {
	g, err := s.reader(ctx)
	if err != nil {
		return false, err
	}
	ctx, cancel := g.bound(ctx)
	defer cancel()
	resp, err := g.reads.Has(ctx, &pb.HasRequest{Key: keyBytes(key)})
	if err != nil {
		return false, g.callErr(ctx, err)
	}
	if err := wire.Error(s.name, resp.GetError()); err != nil {
		return false, err
	}
	return resp.GetExists(), nil
}

func (s *store) GetSize(ctx context.Context, key ds.Key) (int, error) {
	g, err := s.reader(ctx)
	if err != nil {
		return -1, err
	}
	ctx, cancel := g.bound(ctx)
	defer cancel()
	resp, err := g.reads.GetSize(ctx, &pb.GetSizeRequest{Key: keyBytes(key)})
	if err != nil {
		return -1, g.callErr(ctx, err)
	}
	if err := wire.Error(s.name, resp.GetError()); err != nil {
		return -1, err
	}
	if n := resp.GetSize(); n < 0 || n > core.MaxValueSize {
		return -1, s.brokeProtocol("it reports a size of %d bytes", n)
	}
	return int(resp.GetSize()), nil
}

func (s *store) Put(ctx context.Context, key ds.Key, v []byte) error {
	g, err := s.current()
	if err != nil {
		return err
	}
	if g.w != nil {
		return g.w.write(ctx, []*pb.Mutation{{Key: keyBytes(key), Value: value(v)}})
	}
	ctx, cancel := g.bound(ctx)
	defer cancel()
	resp, err := g.rpc.Put(ctx, &pb.PutRequest{Key: keyBytes(key), Value: v})
	if err != nil {
		return g.callErr(ctx, err)
	}
	return g.ack(wire.Error(s.name, resp.GetError()))
}

func (s *store) Delete(ctx context.Context, key ds.Key) error {
	g, err := s.current()
	if err != nil {
		return err
	}
	if g.w != nil {
		return g.w.write(ctx, []*pb.Mutation{{Key: keyBytes(key), Delete: true}})
	}
	ctx, cancel := g.bound(ctx)
	defer cancel()
	resp, err := g.rpc.Delete(ctx, &pb.DeleteRequest{Key: keyBytes(key)})
	if err != nil {
		return g.callErr(ctx, err)
	}
	return g.ack(wire.Error(s.name, resp.GetError()))
}

func (s *store) Sync(ctx context.Context, prefix ds.Key) error {
	// A Sync reports a loss through unsynced below, so it takes the
	// notice for the next call without returning it.
	s.notice.Store(nil)
	g, err := s.current()
	if err != nil {
		return err
	}
	s.lossMu.Lock()
	s.syncing++
	n := s.unsynced
	s.reported = max(s.reported, n)
	s.lossMu.Unlock()
	defer func() {
		s.lossMu.Lock()
		if s.syncing--; s.syncing == 0 {
			s.unsynced -= s.reported
			s.reported = 0
		}
		s.lossMu.Unlock()
	}()
	if n > 0 {
		return fmt.Errorf("%w: plugin %s died holding %d of them and was restarted; write them again, then Sync", ErrWritesLost, s.t.path, n)
	}
	if g.w != nil {
		return g.w.sync(ctx, prefix)
	}
	acked := g.acked.Load()
	ctx, cancel := g.bound(ctx)
	defer cancel()
	resp, err := g.rpc.Sync(ctx, &pb.SyncRequest{Prefix: keyBytes(prefix)})
	if err != nil {
		return g.callErr(ctx, err)
	}
	if err := wire.Error(s.name, resp.GetError()); err != nil {
		return err
	}
	g.syncedUpTo(acked)
	return nil
}

func (s *store) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	g, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	req, whole := wire.EncodeQuery(q)
	it, err := s.startQuery(ctx, g, &pb2.QueryRequest{Query: &pb2.QueryRequest_Plain{Plain: req}})
	if err != nil {
		return nil, err
	}
	it.keysOnly, it.sizes, it.limit = req.GetKeysOnly(), req.GetReturnsSizes(), req.GetLimit()
	if whole {
		it.orders = q.Orders
	}
	it.prefix = true
	it.lo, it.hi = core.SeekQuery{Prefix: q.Prefix}.Bounds()
	res := dsq.ResultsFromIterator(q, dsq.Iterator{Next: it.next, Close: it.close})
	if !whole {
		// The wire carried the prefix only; apply the rest of q here.
		res = dsq.NaiveQueryApply(q, res)
	}
	return res, nil
}

// startQuery sends req, as a query of version 3 or 2 or, when g speaks
// version 1, as the version 1 query it holds, and returns the iterator
// over its results.
func (s *store) startQuery(ctx context.Context, g *generation, req *pb2.QueryRequest) (*queryIter, error) {
	qctx, cancel := context.WithCancelCause(ctx)
	var (
		stream resultStream
		frames pb3.Storage_QueryClient
		err    error
	)
	switch {
	case g.rpc3 != nil:
		frames, err = g.rpc3.Query(qctx, req)
	case g.rpc2 != nil:
		stream, err = g.rpc2.Query(qctx, req)
	default:
		stream, err = g.rpc.Query(qctx, req.GetPlain())
	}
	if err != nil {
		cancel(nil)
		return nil, g.callErr(ctx, err)
	}
	it := &queryIter{s: s, g: g, ctx: qctx, cancel: cancel, stream: stream, frames: frames}
	if _, ok := ctx.Deadline(); !ok {
		it.wait = s.d.cfg.CallTimeout
	}
	return it, nil
}

// resultStream is the receiving side of a Query stream of version 1 or 2.
type resultStream interface {
	Recv() (*pb.QueryResponse, error)
}

// QueryFrom runs a query that starts at a key: by the plugin's seek when
// it speaks protocol version 2 or 3 and seeks, and otherwise as core does for
// an engine without one, by skipping the entries before the start. Either
// way the host checks that every entry lies within the query's bounds.
func (s *store) QueryFrom(ctx context.Context, q core.SeekQuery) (dsq.Results, error) {
	g, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	if !g.seeks {
		return core.QueryFrom(ctx, plainQueries{s}, q)
	}
	it, err := s.startQuery(ctx, g, &pb2.QueryRequest{Query: &pb2.QueryRequest_Seek{Seek: wire.EncodeSeek(q)}})
	if err != nil {
		return nil, err
	}
	it.keysOnly, it.limit = q.KeysOnly, int64(q.Limit)
	it.orders = q.Query().Orders
	it.lo, it.hi = q.Bounds()
	return dsq.ResultsFromIterator(q.Query(), dsq.Iterator{Next: it.next, Close: it.close}), nil
}

// plainQueries is a store's ds.Read without its QueryFrom, so that
// core.QueryFrom runs a query that starts at a key through the store's
// plain queries.
type plainQueries struct{ s *store }

func (p plainQueries) Get(ctx context.Context, k ds.Key) ([]byte, error) { return p.s.Get(ctx, k) }
func (p plainQueries) Has(ctx context.Context, k ds.Key) (bool, error)   { return p.s.Has(ctx, k) }
func (p plainQueries) GetSize(ctx context.Context, k ds.Key) (int, error) {
	return p.s.GetSize(ctx, k)
}

func (p plainQueries) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return p.s.Query(ctx, q)
}

// queryIter reads a query's stream batch by batch: under version 3 frame
// by frame, the entries of each read as they are returned.
type queryIter struct {
	s      *store
	g      *generation
	ctx    context.Context
	cancel context.CancelCauseFunc
	wait   time.Duration // bounds the wait for each batch; 0 for none
	// stream is the query's stream of version 1 or 2, frames that of
	// version 3; the other is nil.
	stream   resultStream
	frames   pb3.Storage_QueryClient
	keysOnly bool
	sizes    bool        // the query asks for the sizes of keys-only entries
	limit    int64       // the limit the plugin applies; 0 for none
	orders   []dsq.Order // the orders the plugin applies
	lo, hi   []byte      // every key lies within [lo, hi)
	prefix   bool        // lo and hi bound the query's prefix, not a seek's range

	sent int64      // entries returned so far
	prev *dsq.Entry // the last of them

	batch   []*pb.Entry       // versions 1 and 2: the entries not yet returned
	frame   *wire.FrameReader // version 3: the frame being read, or nil
	pending error             // the plugin's error, reported after the batch it came with
	done    bool
}

func (it *queryIter) next() (dsq.Result, bool) {
	for {
		rec, ok, err := it.take()
		if err != nil {
			it.finish()
			return dsq.Result{Error: err}, true
		}
		if ok {
			return it.result(rec)
		}
		switch {
		case it.pending != nil:
			err := it.pending
			it.pending = nil
			it.finish()
			return dsq.Result{Error: err}, true
		case it.done:
			return dsq.Result{}, false
		}
		var perr *pb.Error
		if it.frames != nil {
			var f *pb3.QueryFrame
			if f, err = it.recvFrame(); err == nil {
				it.frame, perr = wire.NewFrameReader(f.GetEntries(), wire.EntryKinds), f.GetError()
			}
		} else {
			var resp *pb.QueryResponse
			if resp, err = it.recv(); err == nil {
				it.batch, perr = resp.GetEntries(), resp.GetError()
			}
		}
		switch {
		case err == io.EOF:
			it.finish()
			return dsq.Result{}, false
		case err != nil:
			// Explain err before finish cancels it.ctx.
			err = it.g.callErr(it.ctx, err)
			it.finish()
			return dsq.Result{Error: err}, true
		}
		if perr != nil {
			it.pending = wire.Error(it.s.name, perr)
		}
	}
}

// take returns the next entry of the batch or frame at hand, false when it
// has none left, or the error of a malformed frame.
func (it *queryIter) take() (wire.Record, bool, error) {
	if it.frame != nil {
		rec, ok := it.frame.Next()
		if ok {
			return rec, true, nil
		}
		err := it.frame.Err()
		it.frame = nil
		if err != nil {
			return wire.Record{}, false, it.s.brokeProtocol("it sent a query frame that is not well formed: %v", err)
		}
		return wire.Record{}, false, nil
	}
	if len(it.batch) == 0 {
		return wire.Record{}, false, nil
	}
	e := it.batch[0]
	it.batch = it.batch[1:]
	rec := wire.Record{Kind: wire.KindSize, Key: e.GetKey(), Size: e.GetSize()}
	if !it.keysOnly {
		rec.Kind, rec.Value = wire.KindPut, e.GetValue()
	}
	return rec, true, nil
}

// result returns the entry rec holds, once checked. A value aliases the
// frame it came in, which no one else holds.
func (it *queryIter) result(rec wire.Record) (dsq.Result, bool) {
	// The key is read once into the string the entry keeps, and checked
	// there.
	k, kerr := wire.Key(rec.Key)
	if kerr != nil {
		it.finish()
		return dsq.Result{Error: it.s.brokeProtocol("it returned %q, which is not a key", wire.Clip(string(rec.Key)))}, true
	}
	r := dsq.Result{Entry: dsq.Entry{Key: k.String(), Size: int(rec.Size)}}
	if !it.keysOnly {
		if rec.Kind != wire.KindPut {
			it.finish()
			return dsq.Result{Error: it.s.brokeProtocol("it returned the entry %q without its value to a query that asks for values", wire.Clip(r.Key))}, true
		}
		r.Value = value(rec.Value)
		r.Size = len(r.Value)
	}
	if err := it.check(rec.Size, &r.Entry); err != nil {
		it.finish()
		return dsq.Result{Error: err}, true
	}
	return r, true
}

// recv waits for the next batch, within it.wait if set: a plugin that
// does not send it in time has its stream ended with errCallLimit.
func (it *queryIter) recv() (*pb.QueryResponse, error) {
	if it.wait <= 0 {
		return it.stream.Recv()
	}
	timer := time.AfterFunc(it.wait, func() { it.cancel(errCallLimit) })
	defer timer.Stop()
	return it.stream.Recv()
}

// recvFrame is recv for version 3.
func (it *queryIter) recvFrame() (*pb3.QueryFrame, error) {
	if it.wait <= 0 {
		return it.frames.Recv()
	}
	timer := time.AfterFunc(it.wait, func() { it.cancel(errCallLimit) })
	defer timer.Stop()
	return it.frames.Recv()
}

// check refuses an entry (its key already found to be a key) that the
// plugin cannot rightly return next: one over the query's limit or the value size limit,
// a key equal to the previous
// entry's, or an entry out of the query's order. Duplicates that are not
// adjacent in a query without an order are not caught: that would take
// memory in proportion to the results.
func (it *queryIter) check(size int64, e *dsq.Entry) error {
	it.sent++
	switch {
	case it.limit > 0 && it.sent > it.limit:
		return it.s.brokeProtocol("it returned more entries than the query's limit of %d", it.limit)
	case !it.keysOnly && len(e.Value) > core.MaxValueSize:
		return it.s.brokeProtocol("it returned a value of %d bytes, over the %d-byte limit", len(e.Value), core.MaxValueSize)
	case it.keysOnly && it.sizes && (size < 0 || size > core.MaxValueSize):
		return it.s.brokeProtocol("it reports a size of %d bytes", size)
	}
	if e.Key < string(it.lo) || e.Key >= string(it.hi) {
		if it.prefix {
			return it.s.brokeProtocol("it returned %q, outside the query's prefix", wire.Clip(e.Key))
		}
		return it.s.brokeProtocol("it returned %q, outside the range the query starting at a key asks for", wire.Clip(e.Key))
	}
	prev := it.prev
	it.prev = e
	if prev == nil {
		return nil
	}
	if e.Key == prev.Key {
		return it.s.brokeProtocol("it returned the key %q twice", wire.Clip(e.Key))
	}
	for _, o := range it.orders {
		switch c := o.Compare(*prev, *e); {
		case c > 0:
			return it.s.brokeProtocol("it returned %q after %q, out of the order the query asks for (%v)", wire.Clip(e.Key), wire.Clip(prev.Key), o)
		case c < 0:
			return nil
		}
	}
	return nil
}

func (it *queryIter) finish() {
	it.done = true
	it.batch, it.frame = nil, nil
	it.cancel(nil)
}

func (it *queryIter) close() error {
	it.finish()
	return nil
}

func (s *store) Batch(context.Context) (ds.Batch, error) {
	return &batch{s: s}, nil
}

// batch gathers mutations and sends them at Commit. It encodes each as
// it comes into frames as version 3 sends them, which a version 3 write
// takes as they are; for versions 1 and 2 Commit reads them back into
// messages.
type batch struct {
	s      *store
	frames []*wire.Frame
	n      int   // mutations
	size   int   // their bytes, as mutationsSize counts them
	err    error // the first mutation the plugin would refuse
}

func (b *batch) Put(_ context.Context, key ds.Key, v []byte) error {
	b.add(key, v, false)
	return nil
}

func (b *batch) Delete(_ context.Context, key ds.Key) error {
	b.add(key, nil, true)
	return nil
}

// add encodes a mutation, in the last frame while it holds less than about
// wire.MaxChunkSize bytes, and checks it as write does; Commit returns
// the first refusal.
func (b *batch) add(key ds.Key, v []byte, del bool) {
	k := key.String()
	if b.err == nil {
		b.err = checkKV(k, len(v), del)
	}
	need := len(k) + len(v) + wire.RecordOverhead
	var f *wire.Frame
	if n := len(b.frames); n > 0 && b.frames[n-1].Size()+need <= wire.MaxChunkSize+wire.FrameHeader {
		f = b.frames[n-1]
	} else {
		f = &wire.Frame{}
		b.frames = append(b.frames, f)
	}
	f.Grow(need)
	if del {
		f.DeleteString(k)
	} else {
		f.PutString(k, value(v))
	}
	b.n++
	b.size += len(k) + len(v) + mutationOverhead
}

// mutations reads the batch's frames back into messages, for versions 1
// and 2; their keys and values alias the frames.
func (b *batch) mutations() []*pb.Mutation {
	muts := make([]*pb.Mutation, 0, b.n)
	for _, f := range b.frames {
		r := wire.NewFrameReader(f.Bytes(), wire.MutationKinds)
		for {
			rec, ok := r.Next()
			if !ok {
				break
			}
			muts = append(muts, &pb.Mutation{Key: rec.Key, Value: rec.Value, Delete: rec.Kind == wire.KindDelete})
		}
	}
	return muts
}

func (b *batch) reset() { b.frames, b.n, b.size, b.err = nil, 0, 0, nil }

// Commit sends the mutations in chunks of about wire.MaxChunkSize bytes and
// has the plugin apply them all at once.
func (b *batch) Commit(ctx context.Context) error {
	g, err := b.s.current()
	if err != nil {
		return err
	}
	if g.w != nil && b.err != nil {
		// Under version 1 the plugin checks them.
		return b.err
	}
	if g.w != nil && g.w.frames != nil {
		if err := g.w.writeFrames(ctx, b.frames, b.n, b.size); err != nil {
			return err
		}
		b.reset()
		return nil
	}
	muts := b.mutations()
	if g.w != nil {
		if err := g.w.write(ctx, muts); err != nil {
			return err
		}
		b.reset()
		return nil
	}
	ctx, cancel := g.bound(ctx)
	defer cancel() // an unfinished stream applies nothing
	stream, err := g.rpc.Commit(ctx)
	if err != nil {
		return g.callErr(ctx, err)
	}
	for {
		n := chunkLen(muts)
		last := n == len(muts)
		if err := stream.Send(&pb.CommitRequest{Mutations: muts[:n], Commit: last}); err != nil {
			if errors.Is(err, io.EOF) {
				// The plugin ended the stream; its reason comes with the
				// response.
				break
			}
			return g.callErr(ctx, err)
		}
		muts = muts[n:]
		if last {
			break
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return g.callErr(ctx, err)
	}
	if err := g.ack(wire.Error(b.s.name, resp.GetError())); err != nil {
		return err
	}
	b.reset()
	return nil
}
