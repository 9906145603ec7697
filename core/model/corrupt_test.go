package model_test

import (
	"errors"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
)

// valueKey is where users keeps the value of key.
func valueKey(users *model.Collection[string, User], key string) ds.Key {
	seg := strings.TrimPrefix(users.RecordName(key), users.Name()+"/")
	return ds.NewKey("/model/" + users.Name() + "/v/" + seg)
}

func TestCorruptValue(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	users := open[string, User](t, b, "users")
	if err := users.PutMany(ctx, []User{{Name: "ada", Email: "a@x", Age: 1}, {Name: "bob", Email: "b@x", Age: 2}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bad  []byte
		want error
	}{
		{[]byte{}, model.ErrCorrupt},                                   // no version
		{[]byte{0x01}, model.ErrCorrupt},                               // no value
		{[]byte{0x01, 0xff}, model.ErrCorrupt},                         // not CBOR
		{[]byte{0x01, 0xa1, 0x61, 'x'}, model.ErrCorrupt},              // truncated map
		{[]byte{0x01, 0x01}, model.ErrCorrupt},                         // an integer, not a struct
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, model.ErrCorrupt}, // a version that overflows
		{[]byte{0x09, 0xa0}, core.ErrUnsupported},                      // a version from the future
	} {
		if err := b.Put(ctx, valueKey(users, "ada"), c.bad); err != nil {
			t.Fatal(err)
		}
		_, err := users.Get(ctx, "ada")
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), `collection "users"`) || !strings.Contains(err.Error(), `key "ada"`) {
			t.Fatalf("Get of %x: %v, want %v naming the collection and key", c.bad, err, c.want)
		}
		var scanErr error
		for _, err := range users.Scan(ctx) {
			if err != nil {
				scanErr = err
				break
			}
		}
		if !errors.Is(scanErr, c.want) {
			t.Fatalf("Scan over %x: %v", c.bad, scanErr)
		}
		if err := users.Check(ctx); !errors.Is(err, model.ErrCorrupt) {
			t.Fatalf("Check over %x: %v", c.bad, err)
		}
	}

	// A value filed under another key is corrupt too.
	bob, err := b.Get(ctx, valueKey(users, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, valueKey(users, "ada"), bob); err != nil {
		t.Fatal(err)
	}
	if _, err := users.Get(ctx, "ada"); !errors.Is(err, model.ErrCorrupt) || !strings.Contains(err.Error(), `"bob"`) {
		t.Fatalf("a value under another key: %v", err)
	}

	// A corrupt value can be overwritten, and its index entries go.
	if err := users.Put(ctx, User{Name: "ada", Email: "new@x", Age: 3}); err != nil {
		t.Fatal(err)
	}
	if err := users.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, valueKey(users, "ada"), []byte{0x01, 0xff}); err != nil {
		t.Fatal(err)
	}
	if err := users.Delete(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := users.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptIndexEntry(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	users := open[string, User](t, b, "users")
	if err := users.Put(ctx, User{Name: "ada", Email: "a@x", Age: 1}); err != nil {
		t.Fatal(err)
	}
	byAge, err := model.IndexOf[int](users, "Age")
	if err != nil {
		t.Fatal(err)
	}
	// An entry whose key part is not a segment.
	entries := keysUnder(t, b, "/model/users/i/Age")
	if len(entries) != 1 {
		t.Fatalf("Age index entries: %q", entries)
	}
	ageSeg := strings.Split(strings.TrimPrefix(entries[0], "/model/users/i/Age/"), "/")[0]
	bad := ds.NewKey("/model/users/i/Age/" + ageSeg + "/not=base32")
	if err := b.Put(ctx, bad, nil); err != nil {
		t.Fatal(err)
	}
	var findErr error
	for _, err := range byAge.Find(ctx, 1) {
		if err != nil {
			findErr = err
		}
	}
	if !errors.Is(findErr, model.ErrCorrupt) || !strings.Contains(findErr.Error(), "not=base32") {
		t.Fatalf("Find over a corrupt entry: %v", findErr)
	}
	// An entry with no key part at all.
	if err := b.Delete(ctx, bad); err != nil {
		t.Fatal(err)
	}
	short := ds.NewKey("/model/users/i/Age/" + ageSeg)
	if err := b.Put(ctx, short, nil); err != nil {
		t.Fatal(err)
	}
	var rangeErr error
	for _, err := range byAge.Range(ctx, model.Range[int]{}) {
		if err != nil {
			rangeErr = err
		}
	}
	if !errors.Is(rangeErr, model.ErrCorrupt) {
		t.Fatalf("Range over an entry without a key: %v", rangeErr)
	}
	if err := users.Check(ctx); !errors.Is(err, model.ErrCorrupt) || !strings.Contains(err.Error(), "stale index entry") {
		t.Fatalf("Check with a stray entry: %v", err)
	}
	if err := b.Delete(ctx, short); err != nil {
		t.Fatal(err)
	}

	// Check reports a missing entry too.
	for _, k := range keysUnder(t, b, "/model/users/i/Email") {
		if err := b.Delete(ctx, ds.NewKey(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := users.Check(ctx); !errors.Is(err, model.ErrCorrupt) || !strings.Contains(err.Error(), "missing index entry /model/users/i/Email/") {
		t.Fatalf("Check with a missing entry: %v", err)
	}
}

// keysUnder lists the keys under prefix in b.
func keysUnder(t *testing.T, b ds.Batching, prefix string) []string {
	t.Helper()
	res, err := b.Query(t.Context(), dsq.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	return keys
}
