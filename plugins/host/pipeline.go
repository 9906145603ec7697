package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/tracing"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	pb3 "github.com/netabase/netabase/plugins/proto/storagev3"
	"github.com/netabase/netabase/plugins/wire"
)

// Bounds of the write pipeline of protocol versions 2 and 3.
var (
	// maxInFlight is how many groups may be sent and not yet answered:
	// two, so that the plugin applies one while the next travels.
	maxInFlight = 2
	// maxPending bounds the bytes of writes queued and not yet answered
	// (keys, values and a mutation's overhead): a write waits while they
	// would exceed it. A single larger batch goes alone.
	maxPending = 16 << 20
	// maxGroup is the size at which a group stops taking writes: the
	// next write starts a group queued behind it. Without it a group grew
	// while the two before it travelled, to 4-16 MiB under batched puts,
	// so that the plugin applied a few large groups one after another
	// instead of one while the next travelled, and the last, applied
	// after every write was sent, made the Sync that ended a round wait
	// for it alone (BENCHMARKS.md). A single larger write goes alone.
	maxGroup = wire.MaxChunkSize
)

// mutationOverhead is what a mutation costs besides its key and value.
const mutationOverhead = 32

// errWriterClosed ends the write stream of a store being closed.
var errWriterClosed = fmt.Errorf("%w: the store is closing", core.ErrClosed)

// writer is the write path of protocol versions 2 and 3: the one Write
// stream of a process. Writes join the open group, which a sender goroutine sends
// as soon as fewer than maxInFlight groups await their answers, so the
// writes that arrive while earlier groups travel go together, up to
// maxGroup bytes a group (then the group waits its turn, full, and the
// next write opens another); a receiver
// goroutine takes the answers in order. A read waits for the answers to
// the groups made before it (barrier), so it sees every earlier write as
// the plugin applied it. (Answering reads from the writes not yet answered
// would save that wait on a read right after a write, and hide from reads,
// and so from the conformance suite, a plugin that applies writes wrong.)
type writer struct {
	g    *generation
	name string // the plugin's declared name
	// stream is the Write stream of version 2, or frames that of version
	// 3; the other is nil.
	stream pb2.Storage_WriteClient
	frames pb3.Storage_WriteClient
	cancel context.CancelFunc
	// syncWrites: the plugin acknowledges only durable writes, so a write
	// returns when its group is answered.
	syncWrites bool
	// calls times each group from its sending to its answer, as one call.
	calls *calls

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at every change
	open     *group        // the group writes join; nil when none
	queued   []*group      // full groups before open, not yet sent, in order
	sent     []*group      // sent and not answered, in order
	nextSeq  uint64        // the number of the next group made
	answered uint64        // the number of the last group answered
	pending  int           // bytes of writes not yet answered
	closing  bool
	// broken ends the stream: every later call fails with it.
	broken error
	// failed is the error of a group whose writes were acknowledged to
	// their callers before it was answered; the next write or Sync
	// reports it.
	failed error
	// lost is the first failure not yet forgotten of a group whose writes
	// were acknowledged before it was answered, lostFrom that group's
	// number, and lastLost and lostTo those of the latest such failure. A
	// Sync whose group is numbered lostFrom or later reports lost, so that
	// it never covers writes that were not applied.
	lost, lastLost   error
	lostFrom, lostTo uint64
	// syncing counts the Syncs waiting for their answers, and reported is
	// the number of the latest group of those that reported lost. The
	// failures up to reported are forgotten only once no Sync waits, so
	// that every Sync that was waiting when a failure came reports it,
	// and not only the first to see it.
	syncing  int
	reported uint64
}

// group is a group of mutations the plugin applies atomically.
type group struct {
	seq uint64
	// n is the number of mutations; muts holds them under version 2, and
	// frames under version 3, each frame the mutations of one message.
	n      int
	muts   []*pb.Mutation
	frames []*wire.Frame
	// fixed is how many of frames a batch gave, to which encode appends
	// nothing.
	fixed  int
	size   int
	sync   bool
	prefix []byte
	sentAt time.Duration // time.Since(epoch) when it was sent
	// traceparent is the trace context of the write that opened it.
	traceparent string
	err         error         // set when done
	done        chan struct{} // closed when answered, or the stream broke
}

// newWriter opens the Write stream of g, whose plugin said at Open
// whether its store acknowledges only durable writes.
func newWriter(g *generation, syncWrites bool, c *calls) (*writer, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{g: g, name: g.desc.GetName(), cancel: cancel, syncWrites: syncWrites, calls: c,
		changed: make(chan struct{}), nextSeq: 1}
	var err error
	if g.rpc3 != nil {
		w.frames, err = g.rpc3.Write(ctx)
	} else {
		w.stream, err = g.rpc2.Write(ctx)
	}
	if err != nil {
		cancel()
		return nil, g.callErr(ctx, err)
	}
	go w.sendLoop()
	go w.recvLoop()
	return w, nil
}

// notify wakes every waiter. Call it with w.mu held.
func (w *writer) notify() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// wait waits, with w.mu held, until ok() holds, the stream breaks or ctx
// ends; it returns with w.mu held.
func (w *writer) wait(ctx context.Context, ok func() bool) error {
	for !ok() {
		if w.broken != nil {
			return w.broken
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		w.mu.Lock()
		if err := ctx.Err(); err != nil && !ok() {
			return w.g.callErr(ctx, err)
		}
	}
	return nil
}

// openGroup returns the group writes join, made when there is none; a
// group made for a write inside a sampled trace carries its trace context.
func (w *writer) openGroup(ctx context.Context) *group {
	if w.open == nil {
		w.open = &group{seq: w.nextSeq, done: make(chan struct{}), traceparent: tracing.TraceParent(ctx)}
		w.nextSeq++
	}
	return w.open
}

// checkMutation refuses a key that is not a valid datastore key and a
// value over core.MaxValueSize, with the errors the plugin would give.
func checkMutation(m *pb.Mutation) error {
	return checkKV(string(m.GetKey()), len(m.GetValue()), m.GetDelete())
}

// checkKV is checkMutation of a key and a value of n bytes, or a delete.
func checkKV(key string, n int, del bool) error {
	if _, err := wire.KeyString(key); err != nil {
		return err
	}
	if !del && n > core.MaxValueSize {
		return core.Errorf(core.ErrTooLarge, "a value of %d bytes is more than the %d-byte limit", n, core.MaxValueSize)
	}
	return nil
}

func mutationsSize(muts []*pb.Mutation) int {
	n := 0
	for _, m := range muts {
		n += len(m.GetKey()) + len(m.GetValue()) + mutationOverhead
	}
	return n
}

// write queues muts, to be applied together, and returns once they are
// queued, or, when the plugin acknowledges only durable writes, once it
// has applied them. It reports first the failure of an earlier group whose
// writes were acknowledged before it was answered.
func (w *writer) write(ctx context.Context, muts []*pb.Mutation) error {
	// What the plugin would refuse is refused here, before anything is
	// queued, as the plugin refuses a whole commit.
	for _, m := range muts {
		if err := checkMutation(m); err != nil {
			return err
		}
	}
	return w.queue(ctx, len(muts), mutationsSize(muts), func(gr *group) {
		// The caller owns the value again once write returns: at once
		// without sync_writes, and on a store with it too when ctx ends
		// before the answer, the group still to be sent. So the group
		// holds a copy: in its frames under version 3.
		if w.frames != nil {
			gr.encode(muts)
			return
		}
		for _, m := range muts {
			m.Value = bytes.Clone(m.Value)
			gr.muts = append(gr.muts, m)
		}
	})
}

// writeFrames is write, under version 3, of the n mutations of a batch
// that frames hold, size bytes as mutationsSize counts them, each checked
// as write checks them. The group takes the frames as they are, and
// appends nothing to them: the batch may send them again when the write
// fails.
func (w *writer) writeFrames(ctx context.Context, frames []*wire.Frame, n, size int) error {
	return w.queue(ctx, n, size, func(gr *group) {
		gr.frames = append(gr.frames, frames...)
		gr.fixed = len(gr.frames)
	})
}

// queue adds n mutations of size bytes to the open group with add, once
// the writes not yet answered leave room for them, and returns as write
// says.
func (w *writer) queue(ctx context.Context, n, size int, add func(*group)) error {
	ctx, cancel := w.g.bound(ctx)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return w.broken
	}
	if err := w.failed; err != nil {
		// This write is not queued: its caller learns of the failure, and
		// writes again.
		w.failed = nil
		return err
	}
	if err := w.wait(ctx, func() bool { return w.pending == 0 || w.pending+size <= maxPending }); err != nil {
		return err
	}
	if w.open != nil && w.open.size > 0 && w.open.size+size > maxGroup {
		w.queued = append(w.queued, w.open)
		w.open = nil
	}
	gr := w.openGroup(ctx)
	add(gr)
	gr.n += n
	gr.size += size
	w.pending += size
	w.notify()
	if !w.syncWrites {
		w.g.acked.Add(1)
		return nil
	}
	if err := w.wait(ctx, gr.answered); err != nil {
		return err
	}
	if gr.err == nil {
		// Answered means durable: no Sync is needed to cover it.
		w.g.syncedUpTo(w.g.acked.Add(1))
	}
	return gr.err
}

func (gr *group) answered() bool {
	select {
	case <-gr.done:
		return true
	default:
		return false
	}
}

// sync sends a group that makes every write before it durable under
// prefix and waits for its answer. It fails when a group acknowledged to
// its writers before its answer failed since the last successful sync.
func (w *writer) sync(ctx context.Context, prefix ds.Key) error {
	ctx, cancel := w.g.bound(ctx)
	defer cancel()
	acked := w.g.acked.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return w.broken
	}
	gr := w.openGroup(ctx)
	p := keyBytes(prefix)
	switch {
	case !gr.sync:
		gr.sync, gr.prefix = true, p
	case !bytes.Equal(gr.prefix, p):
		gr.prefix = []byte("/") // two Syncs joined: sync everything
	}
	w.notify()
	w.syncing++
	err := w.wait(ctx, gr.answered)
	w.syncing--
	if err == nil && w.lost != nil && w.lostFrom <= gr.seq {
		err = w.lost
		w.failed = nil
		w.reported = max(w.reported, gr.seq)
	}
	if err == nil {
		err = gr.err
	}
	if w.syncing == 0 && w.reported > 0 {
		w.forgetLost(w.reported)
		w.reported = 0
	}
	if err == nil {
		w.g.syncedUpTo(acked)
	}
	return err
}

// forgetLost forgets the failures of the groups up to seq, which a Sync
// reported. Call it with w.mu held.
func (w *writer) forgetLost(seq uint64) {
	switch {
	case w.lost == nil:
	case w.lostTo <= seq:
		w.lost, w.lastLost, w.lostFrom, w.lostTo = nil, nil, 0, 0
	case w.lostFrom <= seq:
		// A later group failed too: a Sync after seq reports that.
		w.lost, w.lostFrom = w.lastLost, seq+1
	}
}

// barrier waits until every group made so far is answered, so that a
// read sees every write before it. The failure of a group whose writes
// were acknowledged when queued is returned to the first call that comes
// after it, write or read; the next Sync reports it as well.
func (w *writer) barrier(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.nextSeq - 1
	if w.answered < target {
		ctx, cancel := w.g.bound(ctx)
		defer cancel()
		if err := w.wait(ctx, func() bool { return w.answered >= target }); err != nil {
			return err
		}
	}
	if w.broken != nil {
		return w.broken
	}
	if err := w.failed; err != nil {
		// A read after writes that were acknowledged and then not
		// applied would not see them: its caller learns of that instead,
		// once, as the next write's would; the next Sync reports it too.
		w.failed = nil
		return err
	}
	return nil
}

// close waits for the answers to every group, ends the stream and returns
// the failure of any group not reported yet.
func (w *writer) close(ctx context.Context) error {
	err := w.barrier(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		err = w.failed
		if err == nil {
			err = w.lost
		}
	}
	w.closing = true
	w.notify()
	return err
}

// abort ends the stream at once, as the process is stopped; writes not
// answered are lost. When the process has died, calls made on the
// stream since fail saying so.
func (w *writer) abort() {
	err := errWriterClosed
	if w.g.exited() {
		err = w.g.downErr()
	}
	w.fail(err)
}

// sendLoop sends the first full group, or else the open group, whenever
// fewer than maxInFlight groups await their answers.
func (w *writer) sendLoop() {
	for {
		w.mu.Lock()
		for w.broken == nil && !((len(w.queued) > 0 || w.open != nil) && len(w.sent) < maxInFlight) && !(w.closing && w.open == nil && len(w.queued) == 0) {
			ch := w.changed
			w.mu.Unlock()
			<-ch
			w.mu.Lock()
		}
		if w.broken != nil {
			w.mu.Unlock()
			return
		}
		var gr *group
		switch {
		case len(w.queued) > 0:
			gr, w.queued = w.queued[0], w.queued[1:]
		default:
			gr, w.open = w.open, nil
		}
		if gr == nil {
			w.mu.Unlock()
			// Closing: the plugin's Write returns, and recvLoop sees
			// the end of the stream.
			if w.frames != nil {
				_ = w.frames.CloseSend()
			} else {
				_ = w.stream.CloseSend()
			}
			return
		}
		w.sent = append(w.sent, gr)
		gr.sentAt = time.Since(epoch)
		w.calls.inFlight.Add(1)
		w.mu.Unlock()
		if err := w.send(gr); err != nil {
			w.fail(err)
			return
		}
	}
}

// chunkLen is how many of muts, at least one, the next message carries:
// as many as fit in about wire.MaxChunkSize bytes of keys and values.
func chunkLen(muts []*pb.Mutation) int {
	n, size := 0, 0
	for n < len(muts) && (n == 0 || size+len(muts[n].Key)+len(muts[n].Value) <= wire.MaxChunkSize) {
		size += len(muts[n].Key) + len(muts[n].Value)
		n++
	}
	return n
}

// send sends gr in messages of about wire.MaxChunkSize bytes: under
// version 3 one message per frame of the group.
func (w *writer) send(gr *group) error {
	if w.frames != nil {
		frames := gr.frames
		if len(frames) == 0 {
			frames = []*wire.Frame{{}} // a Sync alone
		}
		for i, f := range frames {
			last := i == len(frames)-1
			req := &pb3.WriteFrame{Seq: gr.seq, Mutations: f.Bytes(), More: !last}
			if last {
				req.Sync, req.SyncPrefix, req.Traceparent = gr.sync, gr.prefix, gr.traceparent
			}
			if err := w.frames.Send(req); err != nil {
				return err
			}
		}
		return nil
	}
	muts := gr.muts
	for {
		n := chunkLen(muts)
		last := n == len(muts)
		req := &pb2.WriteRequest{Seq: gr.seq, Mutations: muts[:n], More: !last}
		if last {
			req.Sync, req.SyncPrefix, req.Traceparent = gr.sync, gr.prefix, gr.traceparent
		}
		if err := w.stream.Send(req); err != nil {
			return err
		}
		if last {
			return nil
		}
		muts = muts[n:]
	}
}

// encode appends muts to gr's frames, starting a new frame where the last
// holds about wire.MaxChunkSize bytes: a single larger mutation goes alone.
func (gr *group) encode(muts []*pb.Mutation) {
	for _, m := range muts {
		need := len(m.Key) + len(m.Value) + wire.RecordOverhead
		var f *wire.Frame
		if k := len(gr.frames); k > gr.fixed && gr.frames[k-1].Size()+need <= wire.MaxChunkSize+wire.FrameHeader {
			f = gr.frames[k-1]
		} else {
			f = &wire.Frame{}
			gr.frames = append(gr.frames, f)
		}
		f.Grow(need)
		if m.Delete {
			f.Delete(m.Key)
		} else {
			f.Put(m.Key, m.Value)
		}
	}
}

// recv returns the next answer of the write stream.
func (w *writer) recv() (*pb2.WriteResponse, error) {
	if w.frames != nil {
		return w.frames.Recv()
	}
	return w.stream.Recv()
}

// recvLoop takes the plugin's answers, in order, until the stream ends.
func (w *writer) recvLoop() {
	for {
		resp, err := w.recv()
		if err != nil {
			w.fail(err)
			return
		}
		w.mu.Lock()
		if len(w.sent) == 0 || resp.GetSeq() != w.sent[0].seq {
			want := "no group"
			if len(w.sent) > 0 {
				want = fmt.Sprintf("group %d", w.sent[0].seq)
			}
			w.mu.Unlock()
			w.fail(brokeProtocol(w.name, "it answered group %d of its write stream where %s was due", resp.GetSeq(), want))
			return
		}
		gr := w.sent[0]
		w.sent = w.sent[1:]
		w.calls.observe(time.Since(epoch) - gr.sentAt)
		w.calls.inFlight.Add(-1)
		err = wire.Error(w.name, resp.GetError())
		n, all := resp.GetApplied(), int64(gr.n)
		switch {
		case err == nil && n != all:
			err = brokeProtocol(w.name, "it acknowledged a commit of %d writes having applied %d; a commit applies all of its writes or none", all, n)
		case err != nil && n != 0 && n != all:
			err = brokeProtocol(w.name, "it applied %d of the %d writes of a failed commit; a commit applies all of its writes or none", n, all)
		}
		w.finish(gr, err)
		w.mu.Unlock()
	}
}

// finish records gr's answer. Call it with w.mu held.
func (w *writer) finish(gr *group, err error) {
	w.pending -= gr.size
	gr.err = err
	if err != nil && !w.syncWrites && gr.n > 0 {
		err := fmt.Errorf("%d writes that were acknowledged when queued for plugin %s were not applied: %w; write them again", gr.n, w.name, err)
		if w.failed == nil {
			w.failed = err
		}
		if w.lost == nil {
			w.lost, w.lostFrom = err, gr.seq
		}
		w.lastLost, w.lostTo = err, gr.seq
	}
	w.answered = gr.seq
	close(gr.done)
	w.notify()
}

// fail ends the stream with err: every group not answered fails, and so
// does every later write. A stream that breaks while the process runs
// is a broken plugin: the host kills it, and the supervisor restarts it.
func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.broken != nil {
		w.mu.Unlock()
		return
	}
	closing := w.closing
	switch {
	case errors.Is(err, errWriterClosed):
	case err == io.EOF && closing:
		err = errWriterClosed
	case err == io.EOF:
		err = fmt.Errorf("%w: plugin %s (pid %d) ended its write stream", ErrPluginDown, w.name, w.g.pid)
	default:
		if !errors.Is(err, ErrPluginDown) {
			err = w.g.callErr(context.Background(), err)
		}
	}
	w.broken = err
	w.calls.inFlight.Add(-int64(len(w.sent))) // the groups sent: no answer comes
	w.sent = append(w.sent, w.queued...)
	w.queued = nil
	if w.open != nil {
		w.sent = append(w.sent, w.open)
		w.open = nil
	}
	for _, gr := range w.sent {
		gr.err = err
		close(gr.done)
	}
	w.sent = nil
	w.notify()
	w.mu.Unlock()
	w.cancel()
	if !errors.Is(err, errWriterClosed) && !w.g.exited() {
		// Kill fails only when the process has already exited.
		_ = w.g.cmd.Process.Kill()
	}
}
