package model_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
)

// The same collection, "pets", as its struct evolves.
type petV1 struct {
	ID   string `netabase:"key"`
	Kind string `netabase:"index"`
	Age  int
}

// petAdded adds a field and an index.
type petAdded struct {
	ID    string `netabase:"key"`
	Kind  string `netabase:"index"`
	Age   int    `netabase:"index"`
	Owner string
}

// petRetyped changes Age's type.
type petRetyped struct {
	ID   string `netabase:"key"`
	Kind string `netabase:"index"`
	Age  string
}

// petDropped drops Age.
type petDropped struct {
	ID   string `netabase:"key"`
	Kind string `netabase:"index"`
}

// petRekeyed keys by a number.
type petRekeyed struct {
	N    int    `netabase:"key"`
	Kind string `netabase:"index,unique"`
}

func openIn[K, T any](t *testing.T, b ds.Batching, opts ...model.Option) (*model.Collection[K, T], error) {
	t.Helper()
	s := model.NewLocal(b)
	t.Cleanup(func() { _ = s.Close() })
	return model.Open[K, T](t.Context(), s, "pets", opts...)
}

func mustOpenIn[K, T any](t *testing.T, b ds.Batching, opts ...model.Option) *model.Collection[K, T] {
	t.Helper()
	c, err := openIn[K, T](t, b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seedPets(t *testing.T, b ds.Batching) {
	t.Helper()
	v1 := mustOpenIn[string, petV1](t, b)
	if err := v1.PutMany(t.Context(), []petV1{{"rex", "dog", 3}, {"tom", "cat", 5}, {"kit", "cat", 1}}); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaAddField(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	seedPets(t, b)
	pets := mustOpenIn[string, petAdded](t, b)
	p, err := pets.Get(ctx, "tom")
	if err != nil {
		t.Fatal(err)
	}
	if p != (petAdded{ID: "tom", Kind: "cat", Age: 5}) {
		t.Fatalf("old value read with a new field: %+v", p)
	}
	// The new index was built from the stored values.
	byAge, err := model.IndexOf[int](pets, "Age")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := byAge.Lookup(ctx, 1); err != nil || got.ID != "kit" {
		t.Fatalf("new index: Lookup(1) = %+v, %v", got, err)
	}
	if err := pets.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// Back to the old struct: the index goes, the field is still stored.
	if _, err := openIn[string, petV1](t, b); err == nil || !strings.Contains(err.Error(), "Owner") {
		t.Fatalf("dropping a stored field at the same version: %v", err)
	}
}

func TestSchemaMismatch(t *testing.T) {
	b := memory(t)
	seedPets(t, b)
	cases := []struct {
		name string
		open func() error
		want []string
	}{
		{"retyped", func() error { _, err := openIn[string, petRetyped](t, b); return err }, []string{"Age", "int", "string", "Migrate"}},
		{"dropped", func() error { _, err := openIn[string, petDropped](t, b); return err }, []string{"Age", "no longer"}},
		{"rekeyed", func() error { _, err := openIn[int, petRekeyed](t, b); return err }, []string{"key", "ID", "N"}},
		{"retyped, new version", func() error { _, err := openIn[string, petRetyped](t, b, model.Version(2)); return err }, []string{"Age", "Migrate from version 1"}},
	}
	for _, c := range cases {
		err := c.open()
		if err == nil {
			t.Errorf("%s: Open works, want a schema error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nwant it to mention %q", c.name, err, w)
			}
		}
	}
}

func TestSchemaNewerStored(t *testing.T) {
	b := memory(t)
	mustOpenIn[string, petV1](t, b, model.Version(3))
	_, err := openIn[string, petV1](t, b, model.Version(2))
	if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("opening a newer schema: %v", err)
	}
}

func TestSchemaBumpWithoutMigration(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	seedPets(t, b)
	pets := mustOpenIn[string, petDropped](t, b, model.Version(2))
	if p, err := pets.Get(ctx, "rex"); err != nil || p != (petDropped{"rex", "dog"}) {
		t.Fatalf("Get = %+v, %v", p, err)
	}
	// Version 1 values stay readable at versions 3 and on, through the
	// floor the descriptor keeps.
	pets3 := mustOpenIn[string, petDropped](t, b, model.Version(3))
	if p, err := pets3.Get(ctx, "rex"); err != nil || p != (petDropped{"rex", "dog"}) {
		t.Fatalf("Get at version 3 = %+v, %v", p, err)
	}
}

func TestSchemaMigration(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	seedPets(t, b)
	calls := 0
	migrate := model.Migrate(1, func(old petV1) (petRetyped, error) {
		calls++
		return petRetyped{ID: old.ID, Kind: old.Kind, Age: strconv.Itoa(old.Age) + "y"}, nil
	})
	pets := mustOpenIn[string, petRetyped](t, b, model.Version(2), migrate)
	if calls != 3 {
		t.Fatalf("the migration ran %d times for 3 values", calls)
	}
	if p, err := pets.Get(ctx, "tom"); err != nil || p.Age != "5y" {
		t.Fatalf("migrated value = %+v, %v", p, err)
	}
	if err := pets.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// Opening again finds version 2 stored and migrates nothing.
	mustOpenIn[string, petRetyped](t, b, model.Version(2), migrate)
	if calls != 3 {
		t.Fatalf("reopening migrated again (%d calls)", calls)
	}
}

func TestSchemaMigrationRekeys(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	seedPets(t, b)
	n := map[string]int{"rex": -1, "tom": 0, "kit": 7}
	pets := mustOpenIn[int, petRekeyed](t, b, model.Version(2), model.Migrate(1, func(old petV1) (petRekeyed, error) {
		return petRekeyed{N: n[old.ID], Kind: old.ID}, nil
	}))
	got := collect(t, pets.Scan(ctx))
	if len(got) != 3 || got[0] != (petRekeyed{-1, "rex"}) || got[1] != (petRekeyed{0, "tom"}) || got[2] != (petRekeyed{7, "kit"}) {
		t.Fatalf("rekeyed values = %+v", got)
	}
	if err := pets.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaRebuildResumes checks that index work Open could not finish
// (here, a unique index the stored values break) leaves the collection
// refused until an Open completes it.
func TestSchemaRebuildResumes(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	seedPets(t, b)
	type petUniqueKind struct {
		ID   string `netabase:"key"`
		Kind string `netabase:"index,unique"`
		Age  int
	}
	_, err := openIn[string, petUniqueKind](t, b)
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), `"cat"`) {
		t.Fatalf("a unique index the values break: %v", err)
	}
	// The old struct still opens, and its index is rebuilt.
	pets := mustOpenIn[string, petV1](t, b)
	byKind, err := model.IndexOf[string](pets, "Kind")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := byKind.Count(ctx, "cat"); n != 2 || err != nil {
		t.Fatalf("Count(cat) after the rebuild = %d, %v", n, err)
	}
	if err := pets.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaCorrupt(t *testing.T) {
	ctx := t.Context()
	b := memory(t)
	seedPets(t, b)
	if err := b.Put(ctx, ds.NewKey("/model/pets/schema"), []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	if _, err := openIn[string, petV1](t, b); !errors.Is(err, model.ErrCorrupt) || !strings.Contains(err.Error(), "pets") {
		t.Fatalf("a corrupt descriptor: %v", err)
	}
	if err := b.Delete(ctx, ds.NewKey("/model/pets/schema")); err != nil {
		t.Fatal(err)
	}
	if _, err := openIn[string, petV1](t, b); !errors.Is(err, model.ErrCorrupt) || !strings.Contains(err.Error(), "descriptor is missing") {
		t.Fatalf("values without a descriptor: %v", err)
	}
}
