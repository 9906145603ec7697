package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// expect checks that key holds want, through Get, Has and GetSize.
func expect(ctx context.Context, d ds.Read, key ds.Key, want []byte) error {
	got, err := d.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("Get(%s): %w", short(key.String()), err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("Get(%s) returned %s, want %s", short(key.String()), describe(got), describe(want))
	}
	ok, err := d.Has(ctx, key)
	if err != nil || !ok {
		return fmt.Errorf("Has(%s) = %v, %v after a put, want true, nil", short(key.String()), ok, err)
	}
	n, err := d.GetSize(ctx, key)
	if err != nil || n != len(want) {
		return fmt.Errorf("GetSize(%s) = %d, %v, want %d, nil", short(key.String()), n, err, len(want))
	}
	return nil
}

// expectAbsent checks that key holds nothing, through Get, Has and GetSize.
func expectAbsent(ctx context.Context, d ds.Read, key ds.Key) error {
	if v, err := d.Get(ctx, key); !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("Get(%s) of a missing key = %s, %v; want an error matching ErrNotFound (errors.Is)", short(key.String()), describe(v), err)
	}
	if ok, err := d.Has(ctx, key); ok || err != nil {
		return fmt.Errorf("Has(%s) of a missing key = %v, %v; want false, nil", short(key.String()), ok, err)
	}
	if _, err := d.GetSize(ctx, key); !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("GetSize(%s) of a missing key: error %v; want one matching ErrNotFound (errors.Is)", short(key.String()), err)
	}
	return nil
}

// query is a query collect runs: a go-datastore query, or a
// core.SeekQuery, which runs through core.QueryFrom.
type query interface{ dsq.Query | core.SeekQuery }

// collect runs q on d and returns every entry, failing on the first error.
func collect[Q query](ctx context.Context, d ds.Read, q Q) ([]dsq.Entry, error) {
	var what string
	var res dsq.Results
	var err error
	switch q := any(q).(type) {
	case dsq.Query:
		what = fmt.Sprintf("Query(%s)", q)
		res, err = d.Query(ctx, q)
	case core.SeekQuery:
		what = fmt.Sprintf("QueryFrom(%+v)", q)
		res, err = core.QueryFrom(ctx, d, q)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer res.Close()
	var out []dsq.Entry
	for {
		r, ok := res.NextSync()
		if !ok {
			return out, nil
		}
		if r.Error != nil {
			return nil, fmt.Errorf("%s: result %d: %w", what, len(out), r.Error)
		}
		out = append(out, r.Entry)
	}
}

func keysOf(es []dsq.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

// sameKeys checks that a query returned exactly want, in any order.
func sameKeys(q dsq.Query, got []dsq.Entry, want []string) error {
	g := slices.Sorted(slices.Values(keysOf(got)))
	w := slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		return fmt.Errorf("Query(%s) returned keys %s, want %s", q, shortList(g), shortList(w))
	}
	return nil
}

// sameOrder checks that a query returned exactly want, in that order.
func sameOrder(q dsq.Query, got []dsq.Entry, want []string) error {
	if g := keysOf(got); !slices.Equal(g, want) {
		return fmt.Errorf("Query(%s) returned keys %s in this order, want %s", q, shortList(g), shortList(want))
	}
	return nil
}

// putAll puts each key with its own name as the value.
func putAll(ctx context.Context, d ds.Write, keys ...string) error {
	for _, k := range keys {
		if err := d.Put(ctx, ds.NewKey(k), []byte(k)); err != nil {
			return fmt.Errorf("Put(%s): %w", short(k), err)
		}
	}
	return nil
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// short abbreviates a long key or text for a message.
func short(s string) string {
	if len(s) <= 64 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…(%d bytes)", s[:48], len(s))
}

func shortList(keys []string) string {
	if len(keys) > 12 {
		return fmt.Sprintf("%q … (%d keys)", keys[:12], len(keys))
	}
	return fmt.Sprintf("%q", keys)
}

func describe(v []byte) string {
	switch {
	case v == nil:
		return "nil"
	case len(v) <= 32:
		return fmt.Sprintf("%q", v)
	default:
		return fmt.Sprintf("%d bytes starting %q", len(v), v[:16])
	}
}

func mustErr(what string, err error, target error) error {
	if !errors.Is(err, target) {
		return fmt.Errorf("%s: error %v, want one matching %v (errors.Is)", what, err, target)
	}
	return nil
}
