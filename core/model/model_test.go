package model_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

type User struct {
	Name  string    `netabase:"key"`
	Email string    `netabase:"index,unique"`
	Age   int       `netabase:"index"`
	Since time.Time `cbor:"since"`
}

// memory returns a fresh memory backend, through core.
func memory(t testing.TB) core.Backend {
	t.Helper()
	b := storetest.Open(t, memstore.Driver(), "memory://")
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func open[K, T any](t testing.TB, b ds.Batching, name string, opts ...model.Option) *model.Collection[K, T] {
	t.Helper()
	s := model.NewLocal(b)
	t.Cleanup(func() { _ = s.Close() })
	c, err := model.Open[K, T](t.Context(), s, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func collect[T any](t testing.TB, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func names(us []User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Name
	}
	return out
}

func TestPutGetDelete(t *testing.T) {
	ctx := t.Context()
	users := open[string, User](t, memory(t), "users")
	since := time.Date(2024, 2, 29, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	ada := User{Name: "ada", Email: "ada@example.org", Age: 36, Since: since}
	if err := users.Put(ctx, ada); err != nil {
		t.Fatal(err)
	}
	got, err := users.Get(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != ada.Name || got.Email != ada.Email || got.Age != ada.Age || !got.Since.Equal(since) {
		t.Fatalf("got %+v, want %+v", got, ada)
	}
	if ok, err := users.Has(ctx, "ada"); !ok || err != nil {
		t.Fatalf("Has(ada) = %v, %v", ok, err)
	}
	if ok, err := users.Has(ctx, "bob"); ok || err != nil {
		t.Fatalf("Has(bob) = %v, %v", ok, err)
	}
	_, err = users.Get(ctx, "bob")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `"users"`) || !strings.Contains(err.Error(), `"bob"`) {
		t.Fatalf("Get(bob) = %v, want not found naming the collection and key", err)
	}
	if err := users.Delete(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := users.Delete(ctx, "ada"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if n, err := users.Count(ctx); n != 0 || err != nil {
		t.Fatalf("Count = %d, %v after delete", n, err)
	}
	byEmail, err := model.IndexOf[string](users, "Email")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := byEmail.Lookup(ctx, "ada@example.org"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Lookup after delete = %v, want not found", err)
	}
}

func TestIndexes(t *testing.T) {
	ctx := t.Context()
	users := open[string, User](t, memory(t), "users")
	all := []User{
		{Name: "ada", Email: "a@x", Age: 36},
		{Name: "bob", Email: "b@x", Age: -1},
		{Name: "cy", Email: "c@x", Age: 36},
		{Name: "dee", Email: "", Age: 0},
	}
	if err := users.PutMany(ctx, all); err != nil {
		t.Fatal(err)
	}
	byAge, err := model.IndexOf[int](users, "Age")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(collect(t, byAge.Find(ctx, 36))); !slices.Equal(got, []string{"ada", "cy"}) {
		t.Fatalf("Find(36) = %v", got)
	}
	if got := names(collect(t, byAge.Range(ctx, model.Range[int]{}))); !slices.Equal(got, []string{"bob", "dee", "ada", "cy"}) {
		t.Fatalf("by age = %v", got)
	}
	if got := names(collect(t, byAge.Range(ctx, model.Range[int]{Reverse: true, Limit: 3}.From(-1).To(36)))); !slices.Equal(got, []string{"dee", "bob"}) {
		t.Fatalf("ages in [-1, 36) descending = %v", got)
	}
	if n, err := byAge.Count(ctx, 36); n != 2 || err != nil {
		t.Fatalf("Count(36) = %d, %v", n, err)
	}

	// An update moves the value in every index.
	if err := users.Put(ctx, User{Name: "ada", Email: "ada@x", Age: 37}); err != nil {
		t.Fatal(err)
	}
	if got := names(collect(t, byAge.Find(ctx, 36))); !slices.Equal(got, []string{"cy"}) {
		t.Fatalf("Find(36) after update = %v", got)
	}
	byEmail, err := model.IndexOf[string](users, "Email")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := byEmail.Lookup(ctx, "ada@x"); err != nil || u.Name != "ada" {
		t.Fatalf("Lookup(ada@x) = %+v, %v", u, err)
	}
	if got := names(collect(t, byEmail.Find(ctx, "a@x"))); len(got) != 0 {
		t.Fatalf("the old email still finds %v", got)
	}
	if got := names(collect(t, users.Range(ctx, model.Range[string]{}.From("b").To("d")))); !slices.Equal(got, []string{"bob", "cy"}) {
		t.Fatalf("keys in [b, d) = %v", got)
	}
	if err := users.Check(ctx); err != nil {
		t.Fatal(err)
	}

	if _, err := model.IndexOf[string](users, "Age"); err == nil {
		t.Fatal("IndexOf with the wrong value type works")
	}
	if _, err := model.IndexOf[string](users, "Since"); err == nil || !strings.Contains(err.Error(), "Email") {
		t.Fatalf("IndexOf(Since) = %v, want an error listing the indexes", err)
	}
}

func TestUniqueConflict(t *testing.T) {
	ctx := t.Context()
	users := open[string, User](t, memory(t), "users")
	if err := users.Put(ctx, User{Name: "ada", Email: "same@x"}); err != nil {
		t.Fatal(err)
	}
	err := users.Put(ctx, User{Name: "bob", Email: "same@x"})
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "Email") || !strings.Contains(err.Error(), `"same@x"`) || !strings.Contains(err.Error(), `"ada"`) {
		t.Fatalf("second value for a unique index: %v", err)
	}
	// A batch with a conflict stores nothing.
	err = users.PutMany(ctx, []User{{Name: "cy", Email: "c@x"}, {Name: "dee", Email: "c@x"}})
	if !errors.Is(err, core.ErrConflict) {
		t.Fatalf("conflict within a batch: %v", err)
	}
	if ok, _ := users.Has(ctx, "cy"); ok {
		t.Fatal("a refused batch stored its first value")
	}
	// A batch may move a unique value from one key to another.
	if err := users.PutMany(ctx, []User{{Name: "ada", Email: "new@x"}, {Name: "bob", Email: "same@x"}}); err != nil {
		t.Fatalf("moving a unique value within a batch: %v", err)
	}
	// Rewriting a value with its own unique value is no conflict.
	if err := users.Put(ctx, User{Name: "bob", Email: "same@x", Age: 1}); err != nil {
		t.Fatal(err)
	}
	if err := users.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	type noKey struct{ A string }
	type twoKeys struct {
		A string `netabase:"key"`
		B string `netabase:"key"`
	}
	type badType struct {
		A float64 `netabase:"key"`
	}
	type badTag struct {
		A string `netabase:"key"`
		B string `netabase:"idx"`
	}
	type skipped struct {
		A string `netabase:"key" cbor:"-"`
	}
	type unexported struct {
		A string `netabase:"key"`
		b string `netabase:"index"`
	}
	ctx := t.Context()
	s := model.NewLocal(memory(t))
	defer s.Close()
	cases := []struct {
		name string
		open func() error
		want string
	}{
		{"no key", func() error { _, err := model.Open[string, noKey](ctx, s, "a"); return err }, "no key field"},
		{"two keys", func() error { _, err := model.Open[string, twoKeys](ctx, s, "a"); return err }, "two key fields"},
		{"float key", func() error { _, err := model.Open[float64, badType](ctx, s, "a"); return err }, "must be a string"},
		{"bad tag", func() error { _, err := model.Open[string, badTag](ctx, s, "a"); return err }, "unknown tag"},
		{"not stored", func() error { _, err := model.Open[string, skipped](ctx, s, "a"); return err }, "left out"},
		{"unexported", func() error { _, err := model.Open[string, unexported](ctx, s, "a"); return err }, "not exported"},
		{"key type", func() error { _, err := model.Open[int, User](ctx, s, "a"); return err }, "not a int"},
		{"not a struct", func() error { _, err := model.Open[string, string](ctx, s, "a"); return err }, "not a struct"},
		{"bad name", func() error { _, err := model.Open[string, User](ctx, s, "a/b"); return err }, "not allowed"},
		{"empty name", func() error { _, err := model.Open[string, User](ctx, s, ""); return err }, "collection name"},
		{"version 0", func() error { _, err := model.Open[string, User](ctx, s, "a", model.Version(0)); return err }, "start at 1"},
		{"migration forward", func() error {
			_, err := model.Open[string, User](ctx, s, "a", model.Migrate(1, func(u User) (User, error) { return u, nil }))
			return err
		}, "does not lead up"},
		{"migration type", func() error {
			_, err := model.Open[string, User](ctx, s, "a", model.Version(2), model.Migrate(1, func(u User) (noKey, error) { return noKey{}, nil }))
			return err
		}, "returns"},
	}
	for _, c := range cases {
		if err := c.open(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open = %v, want an error saying %q", c.name, err, c.want)
		}
	}

	// One name, one type per Store.
	if _, err := model.Open[string, User](ctx, s, "users"); err != nil {
		t.Fatal(err)
	}
	type other struct {
		Name string `netabase:"key"`
	}
	if _, err := model.Open[string, other](ctx, s, "users"); err == nil || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("opening a name with a second type: %v", err)
	}
	if _, err := model.Open[string, User](ctx, s, "users"); err != nil {
		t.Fatalf("opening a name again with its type: %v", err)
	}
}

func TestClosedStore(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	s := model.NewLocal(b)
	users, err := model.Open[string, User](ctx, s, "users")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := users.Put(ctx, User{Name: "ada"}); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Put after Close = %v", err)
	}
	if _, err := users.Get(ctx, "ada"); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	for _, err := range users.Scan(ctx) {
		if !errors.Is(err, core.ErrClosed) {
			t.Fatalf("Scan after Close = %v", err)
		}
	}
	if _, err := model.Open[string, User](ctx, s, "other"); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Open after Close = %v", err)
	}
}

// TestWriteFailureStoresNothing checks that a write fails cleanly, storing
// nothing, when the backend refuses it midway, with and without
// transactions.
func TestWriteFailureStoresNothing(t *testing.T) {
	ctx := t.Context()
	for _, txn := range []bool{false, true} {
		f, b := newFaulty(memory(t), txn)
		users := open[string, User](t, b, "users")
		if err := users.Put(ctx, User{Name: "ada", Email: "a@x", Age: 1}); err != nil {
			t.Fatal(err)
		}
		f.failPuts(2) // the value goes in, the second index entry fails
		if err := users.Put(ctx, User{Name: "ada", Email: "b@x", Age: 2}); !errors.Is(err, errInjected) {
			t.Fatalf("txn=%v: Put = %v, want the injected error", txn, err)
		}
		if got, err := users.Get(ctx, "ada"); err != nil || got.Email != "a@x" {
			t.Fatalf("txn=%v: after a failed write Get = %+v, %v", txn, got, err)
		}
		if err := users.Check(ctx); err != nil {
			t.Fatalf("txn=%v: %v", txn, err)
		}
		if f.usedTxn != txn {
			t.Fatalf("the write used a transaction: %v, want %v", f.usedTxn, txn)
		}
	}
}
