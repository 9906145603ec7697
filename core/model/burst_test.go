package model_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/replica"
)

// realReplica is a writer's view of a replica.Replica, as model.OpenSynced
// takes it. A writer with no replica of its own (sealed set) signs its
// records and keeps them in sealed, for the test to insert, as a
// reconciliation would; and, while gate is open, every Get waits for it to
// close.
type realReplica struct {
	r      *replica.Replica
	w      *fakeNode
	gate   chan struct{}
	sealed *[]replica.Verified
}

func (a *realReplica) Name() string { return a.r.Settings().Name }

func (a *realReplica) PutVersion(ctx context.Context, key string, version uint32, value []byte) (replica.Record, error) {
	name := a.Name()
	e, err := envelope.Seal(a.w.priv, name+"/"+key, name, version, envelope.Timestamp{Wall: time.Now().UnixNano()}, value)
	if err != nil {
		return replica.Record{}, err
	}
	data, err := e.Marshal()
	if err != nil {
		return replica.Record{}, err
	}
	*a.sealed = append(*a.sealed, replica.Verified{Env: e, Data: data})
	return a.r.RecordOf(e), nil
}

// PutMany writes puts one by one: the fake has no store to fail.
func (a *realReplica) PutMany(ctx context.Context, puts []replica.Put) ([]replica.Record, error) {
	var recs []replica.Record
	for _, p := range puts {
		rec, err := a.PutVersion(ctx, p.Key, p.Version, p.Value)
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func (a *realReplica) Delete(ctx context.Context, key string) error {
	_, err := a.PutVersion(ctx, key, 0, nil)
	return err
}

func (a *realReplica) Get(ctx context.Context, writer peer.ID, key string) (replica.Record, error) {
	if a.gate != nil {
		select {
		case <-a.gate:
		case <-ctx.Done():
			return replica.Record{}, ctx.Err()
		}
	}
	return a.r.Get(ctx, writer, key)
}

func (a *realReplica) Records(ctx context.Context) iter.Seq2[replica.Record, error] {
	return a.r.Records(ctx)
}

func (a *realReplica) Watch(ctx context.Context) iter.Seq[replica.Change] { return a.r.Watch(ctx) }

// CaughtUp reports the replica alone: the test inserts what peers send.
func (a *realReplica) CaughtUp(ctx context.Context, alone time.Duration) ([]peer.ID, error) {
	return nil, nil
}

// tagged is a value with an index that a write need not check: the memory
// backend's queries read every key, so a unique index would make 20,000
// writes quadratic.
type tagged struct {
	ID  string `netabase:"key"`
	Tag int    `netabase:"index"`
}

// TestSyncedBurst: 20,000 records of another writer enter the replica
// while the typed collection's feed is stuck on its first change, far past
// any watch buffer. Once the feed moves again, the collection holds every
// one of them: by key, in a scan and through its indexes, without being
// reopened.
func TestSyncedBurst(t *testing.T) {
	const n = 20_000
	ctx := t.Context()
	dht := newFakeDHT()
	reader, writer := dht.node(t, 1), dht.node(t, 2)
	settings, err := replica.Settings{Name: "users"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	r, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), settings)
	if err != nil {
		t.Fatal(err)
	}
	open := func(node *fakeNode, a *realReplica) *model.Collection[string, tagged] {
		s := model.New(node)
		t.Cleanup(func() { _ = s.Close() })
		c, err := model.OpenSynced[string, tagged](ctx, s, a, model.WatchBuffer(n))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	gate := make(chan struct{})
	onReader := open(reader, &realReplica{r: r, w: reader, gate: gate})
	var sealed []replica.Verified
	onWriter := open(writer, &realReplica{r: r, w: writer, sealed: &sealed})

	notes := make([]tagged, n)
	for i := range notes {
		notes[i] = tagged{ID: fmt.Sprintf("n%05d", i), Tag: i % 7}
	}
	if err := onWriter.PutMany(ctx, notes); err != nil {
		t.Fatal(err)
	}
	for b := range slices.Chunk(sealed, 500) {
		if _, err := r.Insert(ctx, writer.id, b); err != nil {
			t.Fatal(err)
		}
	}
	// The wait follows the collection's own feed, whose buffer holds every
	// change, where each record it takes is a put of a new key, rather than
	// counting it over and over.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	feed := onReader.Watch(wctx)
	close(gate)
	taken := 0
	for ev, err := range feed {
		if err != nil || ev.Missed > 0 {
			t.Fatalf("the reader's feed: %v, missed %d", err, ev.Missed)
		}
		if ev.Kind == model.Put && ev.Old == nil {
			if taken++; taken == n {
				break
			}
		}
	}
	if c, err := onReader.Count(ctx); err != nil || c != n {
		t.Fatalf("the reader's collection holds %d records (%v), want %d", c, err, n)
	}
	for i, v := range notes {
		got, err := onReader.GetFrom(ctx, writer.id, v.ID)
		if err != nil || got != v {
			t.Fatalf("record %d: got %+v, %v", i, got, err)
		}
	}
	scanned := 0
	for _, err := range onReader.Scan(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		scanned++
	}
	tag, err := model.IndexOf[int](onReader, "Tag")
	if err != nil {
		t.Fatal(err)
	}
	tagged3, err := tag.Count(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if scanned != n || tagged3 != (n+3)/7 {
		t.Fatalf("scanned %d, %d tagged 3, want %d and %d", scanned, tagged3, n, (n+3)/7)
	}
	if err := onReader.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
