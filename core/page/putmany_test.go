package page_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/page"
	"github.com/netabase/netabase/core/replica"
)

// errBatch is the error of a batch failBatches fails.
var errBatch = errors.New("the test fails this batch")

// failBatches is a backend whose batches fail to commit while fail is
// set.
type failBatches struct {
	core.Backend
	fail atomic.Bool
}

func (f *failBatches) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := f.Backend.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return failingBatch{b, f}, nil
}

type failingBatch struct {
	ds.Batch
	f *failBatches
}

func (b failingBatch) Commit(ctx context.Context) error {
	if b.f.fail.Load() {
		return errBatch
	}
	return b.Batch.Commit(ctx)
}

// TestPutManyAllOrNone checks that a typed collection's PutMany over a
// page's Synced enters the page's replica whole or not at all: when the
// backend's batch fails, or one value is too large for the bounds, none is
// stored, in the replica or the collection; a call that fits stores all.
func TestPutManyAllOrNone(t *testing.T) {
	ctx := testContext(t)
	b := &failBatches{Backend: memory(t)}
	p := openPage(t, b, nil)
	rep, err := p.JoinSync(ctx, replica.Settings{Name: "users", MaxBytesPerWriter: 4096}, page.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := model.New(p)
	t.Cleanup(func() { _ = st.Close() })
	users, err := model.OpenSynced[string, User](ctx, st, rep)
	if err != nil {
		t.Fatal(err)
	}
	held := func() (int, int) {
		t.Helper()
		k, err := users.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(records(t, rep)), k
	}
	three := []User{{Name: "a", Email: "a"}, {Name: "b", Email: "b"}, {Name: "c", Email: "c"}}
	b.fail.Store(true)
	err = users.PutMany(ctx, three)
	b.fail.Store(false)
	if !errors.Is(err, errBatch) {
		t.Fatalf("PutMany on a failing batch: %v, want the batch's error", err)
	}
	if r, k := held(); r != 0 || k != 0 {
		t.Fatalf("after a failed batch the replica holds %d records and the collection %d values, want none", r, k)
	}
	big := User{Name: "big", Email: strings.Repeat("x", 5000)}
	if err := users.PutMany(ctx, append([]User{big}, three...)); !errors.Is(err, core.ErrTooLarge) {
		t.Fatalf("PutMany with a value over the byte bound: %v, want core.ErrTooLarge", err)
	}
	if r, k := held(); r != 0 || k != 0 {
		t.Fatalf("after a refused PutMany the replica holds %d records and the collection %d values, want none", r, k)
	}
	if err := users.PutMany(ctx, three); err != nil {
		t.Fatal(err)
	}
	if r, k := held(); r != 3 || k != 3 {
		t.Fatalf("after PutMany of 3 values the replica holds %d records and the collection %d values, want 3", r, k)
	}
}
