package core_test

import (
	"context"
	"errors"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

func TestSeekQueryBounds(t *testing.T) {
	for _, tc := range []struct {
		q      core.SeekQuery
		lo, hi string
	}{
		{core.SeekQuery{Prefix: "/a"}, "/a/", "/a0"},
		{core.SeekQuery{Prefix: "/a/"}, "/a/", "/a0"},
		{core.SeekQuery{Prefix: ""}, "/", "0"},
		{core.SeekQuery{Prefix: "/"}, "/", "0"},
		{core.SeekQuery{Prefix: "/a", Start: "/a/k"}, "/a/k", "/a0"},
		{core.SeekQuery{Prefix: "/a", Start: "/a/k", Descending: true}, "/a/", "/a/k"},
		{core.SeekQuery{Prefix: "/a", Start: "/0"}, "/a/", "/a0"},
		{core.SeekQuery{Prefix: "/a", Start: "/b", Descending: true}, "/a/", "/a0"},
		{core.SeekQuery{Prefix: "/a", Start: "/b"}, "/b", "/a0"},
		{core.SeekQuery{Prefix: "/a", Start: "/0", Descending: true}, "/a/", "/0"},
	} {
		lo, hi := tc.q.Bounds()
		if string(lo) != tc.lo || string(hi) != tc.hi {
			t.Errorf("%+v.Bounds() = %q, %q; want %q, %q", tc.q, lo, hi, tc.lo, tc.hi)
		}
	}
}

// strayingSeeker is an engine whose seek returns a key before its start.
type strayingSeeker struct{ ds.Batching }

func (strayingSeeker) QueryFrom(_ context.Context, q core.SeekQuery) (dsq.Results, error) {
	return dsq.ResultsWithEntries(q.Query(), []dsq.Entry{{Key: "/a/0", Value: []byte("x")}}), nil
}

func TestQueryFromRejectsKeysOutsideTheSeek(t *testing.T) {
	b, err := core.Wrap(strayingSeeker{ds.NewMapDatastore()}, core.Info{Name: "straying"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	res, err := core.QueryFrom(t.Context(), b, core.SeekQuery{Prefix: "/a", Start: "/a/5"})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	r, ok := res.NextSync()
	if !ok || !errors.Is(r.Error, core.ErrRejected) {
		t.Fatalf("QueryFrom from /a/5 over an engine returning /a/0 gave %+v, %v; want an error wrapping ErrRejected", r, ok)
	}
}

func TestQueryFromAfterClose(t *testing.T) {
	b, err := core.Wrap(ds.NewMapDatastore(), core.Info{Name: "map"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The second query selects nothing; the store is closed all the same.
	for _, q := range []core.SeekQuery{{Prefix: "/a", Start: "/a/5"}, {Prefix: "/a", Start: "/b"}} {
		if _, err := core.QueryFrom(t.Context(), b, q); !errors.Is(err, core.ErrClosed) {
			t.Errorf("QueryFrom(%+v) on a closed store: %v; want an error wrapping ErrClosed", q, err)
		}
	}
}
