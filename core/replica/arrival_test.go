package replica

import (
	"context"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core/envelope"
)

// arrived returns the keys Arrived yields from since.
func arrived(t *testing.T, r *Replica, since time.Time) []string {
	t.Helper()
	var keys []string
	for rec, err := range r.Arrived(context.Background(), since) {
		if err != nil {
			t.Fatal(err)
		}
		e, err := envelope.Decode(rec.Key, rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, r.RecordOf(e).Key)
	}
	return keys
}

// TestArrived checks the arrival order: Arrived yields the records stored
// since a time, in the order they were stored, a record stored again at
// its last arrival only, none that was removed; and a collection stored
// without an arrival order is given one on Open, from its records'
// receive times.
func TestArrived(t *testing.T) {
	ctx := context.Background()
	base := dssync.MutexWrap(ds.NewMapDatastore())
	d := namespace.Wrap(base, ds.NewKey("/sync/x"))
	st := Settings{Name: "c", MaxRecordsPerWriter: 4}
	r := openOn(t, d, st)
	w := newWriter(t, 1)
	t0 := time.Now()
	at := func(t1 time.Time, keys ...string) {
		for i, k := range keys {
			r.now = func() time.Time { return t1.Add(time.Duration(i)) }
			if _, err := r.Insert(ctx, "", []Verified{seal(t, w, "c", k, t1.UnixNano(), []byte(k))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	at(t0, "a", "b", "c")
	t1 := t0.Add(time.Second)
	at(t1, "d", "a")
	if got, want := arrived(t, r, t1), []string{"d", "a"}; !slices.Equal(got, want) {
		t.Fatalf("arrived since the second batch: %q, want %q", got, want)
	}
	if got, want := arrived(t, r, t0), []string{"b", "c", "d", "a"}; !slices.Equal(got, want) {
		t.Fatalf("arrived since the first: %q, want %q", got, want)
	}
	// A fifth record passes the bound of 4: the oldest, b, is dropped, and
	// its entry with it.
	at(t1.Add(time.Second), "e")
	if got, want := arrived(t, r, t0), []string{"c", "d", "a", "e"}; !slices.Equal(got, want) {
		t.Fatalf("arrived after an eviction: %q, want %q", got, want)
	}
	n := arrivalEntries(t, d)
	if n != 4 {
		t.Fatalf("the arrival order holds %d entries for 4 records", n)
	}
	// A collection stored before replicas kept an arrival order.
	res, err := d.Query(ctx, dsq.Query{Prefix: arrivalRoot.String(), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := d.Delete(ctx, ds.RawKey(e.Key)); err != nil {
			t.Fatal(err)
		}
	}
	r = openOn(t, d, st)
	if got, want := arrived(t, r, t0), []string{"c", "d", "a", "e"}; !slices.Equal(got, want) {
		t.Fatalf("arrived after the order was rebuilt on Open: %q, want %q", got, want)
	}
	if got, want := arrived(t, r, t1.Add(time.Second)), []string{"e"}; !slices.Equal(got, want) {
		t.Fatalf("arrived since the last record after the rebuild: %q, want %q", got, want)
	}
}

// arrivalEntries counts the entries of the arrival order in d.
func arrivalEntries(t *testing.T, d ds.Datastore) int {
	t.Helper()
	res, err := d.Query(context.Background(), dsq.Query{Prefix: arrivalNS.String(), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}
