package all_test

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

// TestRegistry checks that the registry holds every in-tree driver (no two
// share a scheme). Which schemes they are is checked against the README by
// cmd/netabase's TestREADMEBackends.
func TestRegistry(t *testing.T) {
	var want []string
	for _, d := range all.Drivers() {
		want = append(want, d.About().Scheme)
	}
	slices.Sort(want)
	var got []string
	for _, d := range all.Registry().Drivers() {
		got = append(got, d.About().Scheme)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("registered schemes = %q, want %q", got, want)
	}
}

// TestVersionsMatchGoMod checks that each driver reports the engine version
// the module actually builds with, since the admission gate's certificates
// are keyed by it.
func TestVersionsMatchGoMod(t *testing.T) {
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	required := map[string]string{}
	for _, r := range mf.Require {
		required[r.Mod.Path] = r.Mod.Version
	}
	for _, d := range all.Drivers() {
		name, version, ok := strings.Cut(d.About().Version, " ")
		if !ok {
			t.Fatalf("%s: version %q is not \"<module> <version>\"", d.About().Scheme, d.About().Version)
		}
		// The module is named by the last element of its path, whoever
		// publishes it.
		var paths []string
		for p := range required {
			if path.Base(p) == name {
				paths = append(paths, p)
			}
		}
		if len(paths) != 1 {
			t.Errorf("%s reports the engine %s, which names %d of the modules go.mod requires (%q), not one", d.About().Scheme, name, len(paths), paths)
			continue
		}
		if got := required[paths[0]]; got != version {
			t.Errorf("%s reports %s %s, but go.mod requires %s %s", d.About().Scheme, name, version, paths[0], got)
		}
	}
}

// TestForeignStores checks that no disk backend opens, or touches, a
// directory holding another engine's store: neither one netabase created
// (with its marker) nor one the engine library created directly, known by
// the files its driver names (core.About.Files); and that a backend adopts
// a store its own engine library created.
func TestForeignStores(t *testing.T) {
	r := all.Registry()
	var disk []core.About
	for _, d := range r.Drivers() {
		if d.About().Dir {
			disk = append(disk, d.About())
		}
	}
	refusedToOthers := func(owner, dir string) {
		t.Helper()
		for _, other := range disk {
			if other.Name != owner {
				storetest.Refused(t, r.Open, other.Scheme+"://"+dir, dir, "holds a "+owner+" store")
			}
		}
	}
	for _, owner := range disk {
		dir := filepath.Join(t.TempDir(), "db")
		storetest.Fill(t, driver(t, r, owner.Scheme), owner.Scheme+"://"+dir)
		refusedToOthers(owner.Name, dir)
	}

	// A store made by the engine's library itself has no netabase marker;
	// its files give it away.
	for _, e := range engines {
		dir := filepath.Join(t.TempDir(), "raw")
		raw, err := e.raw(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := raw.Close(); err != nil {
			t.Fatal(err)
		}
		refusedToOthers(e.scheme, dir)
		b, err := r.Open(t.Context(), e.scheme+"://"+dir)
		if err != nil {
			t.Fatalf("the %s backend does not adopt a store its engine library made: %v", e.scheme, err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// driver returns the driver of scheme in r.
func driver(t *testing.T, r *core.Registry, scheme string) core.Driver {
	t.Helper()
	_, d, err := r.Resolve(scheme + "://")
	if err != nil {
		t.Fatal(err)
	}
	return d
}
