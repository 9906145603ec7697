package core_test

import (
	"context"
	"errors"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
)

// lyingEngine answers every query with the entries it is given, whatever
// the query asked for.
type lyingEngine struct {
	*memstore.Store
	entries []dsq.Entry
}

func (l lyingEngine) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	return dsq.ResultsWithEntries(q, l.entries), nil
}

// TestQueryRefusesBadEntries checks that an engine or plugin returning a
// malformed key, or one outside the query's prefix, produces an error rather
// than an entry (go-datastore's RawKey panics on such keys).
func TestQueryRefusesBadEntries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    string
		prefix string
	}{
		{"trailing slash", "/a/", ""},
		{"no leading slash", "a", ""},
		{"empty segment", "/a//b", ""},
		{"outside the prefix", "/b/c", "/a"},
		{"the prefix itself", "/a", "/a"},
		{"a sibling sharing the prefix's text", "/ab", "/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, err := memstore.Open(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := core.Wrap(lyingEngine{mem, []dsq.Entry{{Key: "/a/ok", Value: []byte("v")}, {Key: tc.key, Value: []byte("v")}}}, core.Info{Name: "liar"})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			res, err := b.Query(t.Context(), dsq.Query{Prefix: tc.prefix})
			if err != nil {
				t.Fatal(err)
			}
			defer res.Close()
			first, ok := res.NextSync()
			if !ok || first.Error != nil || first.Key != "/a/ok" {
				t.Fatalf("first result = %+v, %v", first, ok)
			}
			second, ok := res.NextSync()
			if !ok || !errors.Is(second.Error, core.ErrRejected) {
				t.Fatalf("the bad entry %q came back as %+v (ok %v); want an error matching ErrRejected", tc.key, second, ok)
			}
			if r, ok := res.NextSync(); ok {
				t.Fatalf("the query went on after the error: %+v", r)
			}
		})
	}
}

var _ ds.Batching = lyingEngine{}
