package model

import (
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

type chain struct {
	ID   string `netabase:"key"`
	Next *chain
	Any  any
	At   time.Time
}

func openChains(t *testing.T) *Collection[string, chain] {
	s := NewLocal(dssync.MutexWrap(ds.NewMapDatastore()))
	t.Cleanup(func() { _ = s.Close() })
	c, err := Open[string, chain](t.Context(), s, "chains")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNestingLimit checks that whatever Put accepts Get reads back: values
// nested deeper than the decoder allows are refused when written.
func TestNestingLimit(t *testing.T) {
	ctx := t.Context()
	c := openChains(t)
	accepted, refused := false, false
	for n := maxNesting - 3; n <= maxNesting+3; n++ {
		v := chain{ID: "k"}
		for range n {
			inner := v
			v = chain{ID: "k", Next: &inner, At: time.Now()}
		}
		err := c.Put(ctx, v)
		if err != nil {
			if !strings.Contains(err.Error(), "nests more than") {
				t.Fatalf("a chain of %d: %v", n, err)
			}
			refused = true
			continue
		}
		accepted = true
		if _, err := c.Get(ctx, "k"); err != nil {
			t.Fatalf("a chain of %d is stored but does not read back: %v", n, err)
		}
	}
	if !accepted || !refused {
		t.Fatalf("around the limit, accepted: %v, refused: %v", accepted, refused)
	}
}

// TestCycles checks that a value holding a cycle is refused, not encoded
// forever.
func TestCycles(t *testing.T) {
	ctx := t.Context()
	c := openChains(t)
	loop := &chain{ID: "a"}
	loop.Next = loop
	m := map[string]any{}
	m["self"] = m
	s := []any{nil}
	s[0] = s
	for name, v := range map[string]chain{
		"pointer": {ID: "k", Next: loop},
		"map":     {ID: "k", Any: m},
		"slice":   {ID: "k", Any: s},
	} {
		if err := c.Put(ctx, v); err == nil || !strings.Contains(err.Error(), "cycle") {
			t.Errorf("%s cycle: Put = %v", name, err)
		}
	}
	// A cycle through fields that are not encoded is no concern.
	type parent struct {
		ID   string `netabase:"key"`
		self *parent
		Skip *parent `cbor:"-"`
		Any  any     // so that values are walked
	}
	ps := NewLocal(dssync.MutexWrap(ds.NewMapDatastore()))
	defer ps.Close()
	parents, err := Open[string, parent](ctx, ps, "parents")
	if err != nil {
		t.Fatal(err)
	}
	p := parent{ID: "p", Any: 1}
	p.self, p.Skip = &p, &p
	if err := parents.Put(ctx, p); err != nil {
		t.Fatalf("a cycle through fields left out of the value: %v", err)
	}
	// A value reached twice without a cycle is fine.
	shared := &chain{ID: "s"}
	if err := c.Put(ctx, chain{ID: "k", Any: []any{shared, shared}}); err != nil {
		t.Fatal(err)
	}
}
