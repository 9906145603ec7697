package model_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fxamacker/cbor/v2"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
)

// valueReads is a backend that counts the reads of the values of the
// collection "users": Gets of one, and queries over them.
type valueReads struct {
	core.Backend
	gets, queries atomic.Int64
}

const usersValues = "/model/users/v/"

func (c *valueReads) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if strings.HasPrefix(k.String(), usersValues) {
		c.gets.Add(1)
	}
	return c.Backend.Get(ctx, k)
}

func (c *valueReads) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if strings.HasPrefix(q.Prefix+"/", usersValues) || strings.HasPrefix(q.Prefix, usersValues) {
		c.queries.Add(1)
	}
	return c.Backend.Query(ctx, q)
}

// TestSyncedRangeByKey checks that Range over a synced collection's keys
// reads only the values in the range (through its order by key), from
// every writer, by key then writer; and that a collection stored before
// synced collections kept that order is given it on Open.
func TestSyncedRangeByKey(t *testing.T) {
	ctx := t.Context()
	nodes := newSyncedNodes(t, 2)
	counter := &valueReads{Backend: nodes[0].n.store}
	nodes[0].n.store = counter
	s, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])
	for i := range 20 {
		if err := onA.Put(ctx, User{Name: fmt.Sprintf("k%02d", i), Email: fmt.Sprintf("a%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"k05", "k11", "k15"} {
		if err := onB.Put(ctx, User{Name: k, Email: "b" + k}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "A holds B's values", func() bool { return count(t, onA) == 23 })
	want := []written{
		{nodes[0].n.ID(), "k10", "a10"},
		{nodes[0].n.ID(), "k11", "a11"},
		{nodes[1].n.ID(), "k11", "bk11"},
		{nodes[0].n.ID(), "k12", "a12"},
	}
	if nodes[1].n.ID() < nodes[0].n.ID() {
		want[1], want[2] = want[2], want[1]
	}
	r := model.Range[string]{}.From("k10").To("k13")
	counter.gets.Store(0)
	counter.queries.Store(0)
	if got := collectEntries(t, onA.RangeEntries(ctx, r)); !slices.Equal(got, want) {
		t.Fatalf("RangeEntries [k10, k13): %+v, want %+v", got, want)
	}
	if g, q := counter.gets.Load(), counter.queries.Load(); g != int64(len(want)) || q != 0 {
		t.Fatalf("RangeEntries of %d values read %d values and ran %d queries over them; want %d and none", len(want), g, q, len(want))
	}
	last := collectEntries(t, onA.RangeEntries(ctx, model.Range[string]{Reverse: true, Limit: 1}))
	if len(last) != 1 || last[0].Name != "k19" {
		t.Fatalf("the last value by key: %+v", last)
	}

	// A collection stored before: its schema names no order by key, and
	// it holds none.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b := nodes[0].n.store
	schema := ds.NewKey("/model/users/schema")
	data, err := b.Get(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	var d map[int]any
	if err := cbor.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	ix, _ := d[4].([]any)
	kept := ix[:0]
	for _, x := range ix {
		if m, ok := x.(map[any]any); ok && m[uint64(1)] == "_key" {
			continue
		}
		kept = append(kept, x)
	}
	if len(kept) != len(ix)-1 {
		t.Fatalf("the stored schema's indexes %v hold no order by key", ix)
	}
	d[4] = kept
	if data, err = cbor.Marshal(d); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, schema, data); err != nil {
		t.Fatal(err)
	}
	res, err := b.Query(ctx, dsq.Query{Prefix: "/model/users/i/_key", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil || len(es) != 23 {
		t.Fatalf("the order by key held %d entries (%v), want 23", len(es), err)
	}
	for _, e := range es {
		if err := b.Delete(ctx, ds.RawKey(e.Key)); err != nil {
			t.Fatal(err)
		}
	}
	_, again := openSynced(t, nodes[0])
	if got := collectEntries(t, again.RangeEntries(ctx, r)); !slices.Equal(got, want) {
		t.Fatalf("RangeEntries after Open gave an old collection its order by key: %+v, want %+v", got, want)
	}
	if err := again.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
