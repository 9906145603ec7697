package conformance

import (
	"fmt"
	"slices"

	"github.com/netabase/netabase/core"
)

// caseQuerySeek checks core.QueryFrom: a query that starts at a key,
// ascending from it or descending from just before it, with limits and
// starts between, before and after the prefix's keys. The store answers
// through its own seek when it has one (every core Backend does).
func caseQuerySeek(e *env) error {
	ctx, d := e.ctx, e.store
	// Neighbours of the prefix /o on either side, "/o0" just past its
	// last possible key.
	if err := putAll(ctx, d, append([]string{"/n", "/n/z", "/o0", "/p/a"}, orderKeys...)...); err != nil {
		return err
	}
	asc := sortedOrderKeys()
	desc := func(keys []string) []string { r := slices.Clone(keys); slices.Reverse(r); return r }
	for _, tc := range []struct {
		q    core.SeekQuery
		want []string
	}{
		{core.SeekQuery{Prefix: "/o"}, asc},
		{core.SeekQuery{Prefix: "/o", Start: "/o/10"}, asc[10:]},
		{core.SeekQuery{Prefix: "/o", Start: "/o/10", Limit: 5}, asc[10:15]},
		{core.SeekQuery{Prefix: "/o", Start: "/o/105"}, asc[11:]},
		{core.SeekQuery{Prefix: "/o", Start: "/o/39", Limit: 5}, asc[39:]},
		{core.SeekQuery{Prefix: "/o", Start: "/a"}, asc},
		{core.SeekQuery{Prefix: "/o", Start: "/o/4"}, nil},
		{core.SeekQuery{Prefix: "/o", Start: "/z"}, nil},
		{core.SeekQuery{Prefix: "/o", Descending: true}, desc(asc)},
		{core.SeekQuery{Prefix: "/o", Descending: true, Limit: 3}, desc(asc[37:])},
		{core.SeekQuery{Prefix: "/o", Start: "/o/10", Descending: true}, desc(asc[:10])},
		{core.SeekQuery{Prefix: "/o", Start: "/o/10", Descending: true, Limit: 4}, desc(asc[6:10])},
		{core.SeekQuery{Prefix: "/o", Start: "/o/105", Descending: true}, desc(asc[:11])},
		{core.SeekQuery{Prefix: "/o", Start: "/o/00", Descending: true}, nil},
		{core.SeekQuery{Prefix: "/o", Start: "/z", Descending: true}, desc(asc)},
		{core.SeekQuery{Prefix: "/o", Start: "/a", Descending: true}, nil},
		{core.SeekQuery{Prefix: "/o", Start: "/o/20", KeysOnly: true, Limit: 2}, asc[20:22]},
		{core.SeekQuery{Prefix: "/", Start: "/o/38"}, []string{"/o/38", "/o/39", "/o0", "/p/a"}},
		{core.SeekQuery{Prefix: "/", Start: "/o/01", Descending: true}, []string{"/o/00", "/n/z", "/n"}},
	} {
		es, err := collect(e.ctx, e.store, tc.q)
		if err != nil {
			return err
		}
		if g := keysOf(es); !slices.Equal(g, tc.want) {
			return fmt.Errorf("QueryFrom(%+v) returned keys %s in this order, want %s", tc.q, shortList(g), shortList(tc.want))
		}
		for _, en := range es {
			want := en.Key
			if tc.q.KeysOnly {
				want = ""
			}
			if string(en.Value) != want || !tc.q.KeysOnly && en.Size != len(want) {
				return fmt.Errorf("QueryFrom(%+v) returned %s with value %s and size %d", tc.q, en.Key, describe(en.Value), en.Size)
			}
		}
	}
	return nil
}
