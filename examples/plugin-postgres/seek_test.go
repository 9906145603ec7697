package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/pgtest"
)

// TestSeek runs queries that start at a key on the store directly against
// a real PostgreSQL, and compares them with the entries they select.
func TestSeek(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := t.Context()
	c, err := newSettings(srv.DSN(""), "public", "seek", false, 10*time.Second, 4)
	if err != nil {
		t.Fatal(err)
	}
	s, err := openStore(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var keys []string
	for i := range 700 { // more than two pages
		k := fmt.Sprintf("/a/%04d", i)
		keys = append(keys, k)
		if err := s.Put(ctx, datastore.NewKey(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"/a", "/ab/0", "/b/0"} { // outside the prefix /a
		if err := s.Put(ctx, datastore.NewKey(k), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []core.SeekQuery{
		{Prefix: "/a"},
		{Prefix: "/a", Start: "/a/0300"},
		{Prefix: "/a", Start: "/a/0300", Limit: 10, KeysOnly: true},
		{Prefix: "/a", Start: "/a/0300", Descending: true},
		{Prefix: "/a", Start: "/a/0300", Descending: true, Limit: 300},
		{Prefix: "/a", Descending: true, Limit: 5},
		{Prefix: "/a", Start: "/b"},
		{Prefix: "/a", Start: "/0", Descending: true},
	} {
		var want []string
		for _, k := range keys {
			if q.Start == "" || (!q.Descending && k >= q.Start) || (q.Descending && k < q.Start) {
				want = append(want, k)
			}
		}
		if q.Descending {
			slices.Reverse(want)
		}
		if q.Limit > 0 && len(want) > q.Limit {
			want = want[:q.Limit]
		}
		res, err := s.QueryFrom(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all, err := res.Rest()
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		var got []string
		for _, e := range all {
			got = append(got, e.Key)
			if q.KeysOnly != (e.Value == nil) || (!q.KeysOnly && string(e.Value) != e.Key) {
				t.Errorf("%+v: entry %s has value %q", q, e.Key, e.Value)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%+v: got %d entries %.80v..., want %d %.80v...", q, len(got), got, len(want), want)
		}
	}
}
