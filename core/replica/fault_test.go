package replica

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
)

// errRestarting is what faultyStore's calls fail with while it is down.
var errRestarting = errors.New("the storage plugin is restarting")

// faultyStore is a datastore whose every call fails while down is set, as
// on a plugin backend that is restarting, or a failed store.
type faultyStore struct {
	ds.Datastore
	down atomic.Bool
}

func (f *faultyStore) fault() error {
	if f.down.Load() {
		return errRestarting
	}
	return nil
}

func (f *faultyStore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.Datastore.Get(ctx, k)
}

func (f *faultyStore) Has(ctx context.Context, k ds.Key) (bool, error) {
	if err := f.fault(); err != nil {
		return false, err
	}
	return f.Datastore.Has(ctx, k)
}

func (f *faultyStore) GetSize(ctx context.Context, k ds.Key) (int, error) {
	if err := f.fault(); err != nil {
		return 0, err
	}
	return f.Datastore.GetSize(ctx, k)
}

func (f *faultyStore) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.Datastore.Query(ctx, q)
}

func (f *faultyStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Datastore.Put(ctx, k, v)
}

func (f *faultyStore) Delete(ctx context.Context, k ds.Key) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Datastore.Delete(ctx, k)
}

// TestFailedStoreHoldsNoSet: a write fails on a store that then fails
// every call. The replica does not pass for an empty one: its calls fail
// with the store's error, and a peer's session is refused with it rather
// than answered from an empty set. Once the store works again, the replica
// holds its records again and reconciles.
func TestFailedStoreHoldsNoSet(t *testing.T) {
	ctx := context.Background()
	w, other := newWriter(t, 1), newWriter(t, 2)
	store := &faultyStore{Datastore: dssync.MutexWrap(ds.NewMapDatastore())}
	r := openOn(t, store, Settings{Name: "chat"})
	peer := newReplica(t, Settings{Name: "chat"})
	now := time.Now().UnixNano()
	for _, k := range []string{"a", "b", "c"} {
		insert(t, r, seal(t, w, "chat", k, now, []byte("v")))
	}
	insert(t, peer, seal(t, other, "chat", "theirs", now, []byte("v")))
	want := r.Items()

	store.down.Store(true)
	if _, err := r.Insert(ctx, "", []Verified{seal(t, w, "chat", "d", now, []byte("v"))}); !errors.Is(err, errRestarting) {
		t.Fatalf("a write on the failed store: %v", err)
	}
	if err := r.Err(); !errors.Is(err, errRestarting) {
		t.Fatalf("Err on the failed store: %v", err)
	}
	yielded := 0
	for _, err := range r.Records(ctx) {
		yielded++
		if !errors.Is(err, errRestarting) {
			t.Fatalf("Records on the failed store yielded %v", err)
		}
	}
	if yielded != 1 {
		t.Fatalf("Records on the failed store yielded %d items, want its error once", yielded)
	}
	if st := r.Status(); !strings.Contains(st.Error, errRestarting.Error()) || st.Records != 0 || st.Fingerprint != "" {
		t.Fatalf("Status on the failed store: %+v", st)
	}
	// The peer starts a session, and is told why it is refused; the
	// replica starts none.
	_, _, perr, rerr := reconcile(t, peer, r)
	if !errors.Is(rerr, errRestarting) || perr == nil || !strings.Contains(perr.Error(), errRestarting.Error()) {
		t.Fatalf("a session with the failed replica: the peer's error %v, the replica's %v", perr, rerr)
	}
	if _, _, rerr, _ := reconcile(t, r, peer); !errors.Is(rerr, errRestarting) {
		t.Fatalf("a session the failed replica starts: %v", rerr)
	}
	if n := peer.Status().Records; n != 1 {
		t.Fatalf("the peer holds %d records after the refused sessions, want its 1", n)
	}

	store.down.Store(false)
	if err := r.Err(); err != nil {
		t.Fatalf("Err once the store works again: %v", err)
	}
	if got := r.Items(); len(got) != len(want) {
		t.Fatalf("once the store works again the replica holds %d items, want %d", len(got), len(want))
	}
	if _, _, err, perr := reconcile(t, r, peer); err != nil || perr != nil {
		t.Fatalf("a session once the store works again: %v, %v", err, perr)
	}
	sameSet(t, r, peer)
	if n := r.Status().Records; n != 4 {
		t.Fatalf("after reconciling, the replica holds %d records, want 4", n)
	}
}
