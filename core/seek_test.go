package core_test

import (
	"testing"

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
