package core_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/netabase/netabase/core"
)

// heard is an Observer that keeps what it hears.
type heard struct {
	mu   sync.Mutex
	ops  []core.Op
	errs []error
}

func (h *heard) Observe(op core.Op, took time.Duration, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	h.errs = append(h.errs, err)
}

func (h *heard) seen() ([]core.Op, []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops), slices.Clone(h.errs)
}

func TestObserve(t *testing.T) {
	ctx := context.Background()
	b, err := core.Wrap(newFakeEngine(), core.Info{Name: "fake", Version: "v1", Build: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	k := ds.NewKey("/a")
	if err := b.Put(ctx, k, []byte("before")); err != nil {
		t.Fatal(err)
	}
	var h heard
	if err := core.Observe(b, &h); err != nil {
		t.Fatal(err)
	}
	_ = b.Put(ctx, k, []byte("v"))
	_, _ = b.Get(ctx, k)
	_, _ = b.Get(ctx, ds.NewKey("/missing"))
	_, _ = b.Has(ctx, k)
	_, _ = b.GetSize(ctx, k)
	res, _ := b.Query(ctx, dsq.Query{})
	_, _ = res.Rest()
	bt, _ := b.Batch(ctx)
	_ = bt.Put(ctx, ds.NewKey("/b"), []byte("w"))
	_ = bt.Commit(ctx)
	_ = b.Sync(ctx, ds.NewKey("/"))
	_ = b.Delete(ctx, k)
	_ = b.Put(ctx, ds.RawKey("/a//b"), nil)

	ops, errs := h.seen()
	want := []core.Op{core.OpPut, core.OpGet, core.OpGet, core.OpHas, core.OpGetSize, core.OpQuery, core.OpCommit, core.OpSync, core.OpDelete, core.OpPut}
	if !slices.Equal(ops, want) {
		t.Fatalf("heard %v, want %v", ops, want)
	}
	for i, err := range errs {
		switch i {
		case 2:
			if !errors.Is(err, core.ErrNotFound) {
				t.Errorf("get of a missing key: heard error %v, want ErrNotFound", err)
			}
		case len(errs) - 1:
			if !errors.Is(err, core.ErrInvalidKey) {
				t.Errorf("put of a bad key: heard error %v, want ErrInvalidKey", err)
			}
		default:
			if err != nil {
				t.Errorf("%s: heard error %v", ops[i], err)
			}
		}
	}

	if err := core.Observe(b, nil); err != nil {
		t.Fatal(err)
	}
	_, _ = b.Get(ctx, ds.NewKey("/b"))
	if ops, _ := h.seen(); len(ops) != len(want) {
		t.Errorf("after Observe(b, nil) the observer heard %v", ops[len(want):])
	}
}

// TestObserveGroupCommit checks that the engine Syncs of SyncWrites are
// heard, and that an acknowledged put is heard once.
func TestObserveGroupCommit(t *testing.T) {
	ctx := context.Background()
	b, err := core.Wrap(newFakeEngine(), core.Info{Name: "fake", Version: "v1", Build: "b1", Capabilities: core.Capabilities{Persistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := core.SyncWrites(b); err != nil {
		t.Fatal(err)
	}
	var h heard
	if err := core.Observe(b, &h); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, ds.NewKey("/a"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	ops, _ := h.seen()
	if !slices.Equal(ops, []core.Op{core.OpSync, core.OpPut}) {
		t.Errorf("heard %v, want the group commit's sync, then the put", ops)
	}
}

func TestObserveRefusesForeignBackend(t *testing.T) {
	var b struct {
		core.Backend
	}
	if err := core.Observe(b, &heard{}); err == nil {
		t.Error("Observe accepted a Backend not made by Wrap")
	}
}

// TestTrace: a traced backend makes a span of each operation in a sampled
// trace, a child of the span in the operation's context, failed only for a
// real failure; outside a trace, or untraced, it makes none.
func TestTrace(t *testing.T) {
	ctx := context.Background()
	b, err := core.Wrap(newFakeEngine(), core.Info{Name: "fake", Version: "v1", Build: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	_ = b.Put(ctx, ds.NewKey("/before"), []byte("v"))
	if err := core.Trace(b, tp); err != nil {
		t.Fatal(err)
	}
	_ = b.Put(ctx, ds.NewKey("/outside"), []byte("v")) // in no trace: no span
	pctx, parent := tp.Tracer("test").Start(ctx, "caller")
	_ = b.Put(pctx, ds.NewKey("/a"), []byte("v"))
	_, _ = b.Get(pctx, ds.NewKey("/missing"))
	parent.End()
	if err := core.Trace(b, nil); err != nil {
		t.Fatal(err)
	}
	_ = b.Put(pctx, ds.NewKey("/after"), []byte("v"))

	var got []string
	for _, s := range spans.Ended() {
		if s.Name() == "caller" {
			continue
		}
		got = append(got, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the caller's span", s.Name())
		}
		if s.Status().Code != codes.Unset {
			t.Errorf("span %s has status %v; a missing key is no failure", s.Name(), s.Status())
		}
	}
	if want := []string{"backend put", "backend get"}; !slices.Equal(got, want) {
		t.Errorf("spans %q, want %q", got, want)
	}
	var plain struct{ core.Backend }
	plain.Backend = b
	if err := core.Trace(plain, tp); err == nil {
		t.Error("core.Trace took a backend core.Wrap did not make")
	}
}
