package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
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

// Ops are every operation an Observer hears of.
var Ops = []Op{OpGet, OpHas, OpGetSize, OpPut, OpDelete, OpQuery, OpCommit, OpSync, OpTxnCommit}

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
	s, err := rulesOf(b, "core.Observe", "observed")
	if err != nil {
		return err
	}
	if o == nil {
		s.observer.Store(nil)
		return nil
	}
	s.observer.Store(&o)
	return nil
}

// Trace makes every later operation on b whose context holds a sampled
// span a span of a tracer of tp, named "backend <op>" (backend get,
// backend put, …), a child of that span, so that a plugin's client carries
// it on to the plugin. An operation outside a sampled trace (a peer's
// write the DHT stores, a group commit's sync) makes none: it would be a
// trace of its own, of one span. A nil tp stops tracing; a Backend without
// a tracer starts no span. It fails when b was not made by [Wrap].
func Trace(b Backend, tp trace.TracerProvider) error {
	s, err := rulesOf(b, "core.Trace", "traced")
	if err != nil {
		return err
	}
	if tp == nil {
		s.tracer.Store(nil)
		return nil
	}
	t := &tracer{t: tp.Tracer("github.com/netabase/netabase/core"), names: make(map[Op]string, len(Ops)),
		opts: []trace.SpanStartOption{trace.WithAttributes(attribute.String("netabase.backend", s.info.Name))}}
	for _, op := range Ops {
		t.names[op] = "backend " + string(op)
	}
	s.tracer.Store(t)
	return nil
}

func rulesOf(b Backend, fn, what string) (*store, error) {
	r, ok := b.(interface{ rules() *store })
	if !ok {
		return nil, fmt.Errorf("%s: %T was not made by core.Wrap, so its operations cannot be %s; open it through a Registry or wrap the engine with core.Wrap", fn, b, what)
	}
	return r.rules(), nil
}

// tracer is what Trace sets: the tracer and, resolved once, each
// operation's span name and the spans' options.
type tracer struct {
	t     trace.Tracer
	names map[Op]string
	opts  []trace.SpanStartOption
}

// epoch is the origin of probe.start: time.Since of a time with a
// monotonic reading reads one clock, where time.Now reads two.
var epoch = time.Now()

// probe is what begin hands end: when the operation started (-1 when
// nothing observes it) and its span (nil when nothing traces it).
type probe struct {
	start time.Duration
	span  trace.Span
}

// begin starts watching an operation op: it reads the clock when an
// observer is set and starts a span when a tracer is and ctx is in a
// sampled trace, returning ctx with the span in it. With neither it costs
// two atomic loads.
func (s *store) begin(ctx context.Context, op Op) (context.Context, probe) {
	p := probe{start: -1}
	if t := s.tracer.Load(); t != nil && trace.SpanContextFromContext(ctx).IsSampled() {
		ctx, p.span = t.t.Start(ctx, t.names[op], t.opts...)
	}
	if s.observer.Load() != nil {
		p.start = time.Since(epoch)
	}
	return ctx, p
}

// end tells the observer of op, begun as p says, ends its span, and
// returns err.
func (s *store) end(op Op, p probe, err error) error {
	if p.start >= 0 {
		if o := s.observer.Load(); o != nil {
			(*o).Observe(op, time.Since(epoch)-p.start, err)
		}
	}
	if p.span != nil {
		if err != nil && !errors.Is(err, ErrNotFound) {
			p.span.SetStatus(codes.Error, err.Error())
		}
		p.span.End()
	}
	return err
}
