package all_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	leveldbds "github.com/ipfs/go-ds-leveldb"
	"golang.org/x/mod/modfile"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/backends/leveldbstore"
	"github.com/netabase/netabase/internal/storetest"
)

func TestRegistry(t *testing.T) {
	r := all.Registry()
	var schemes []string
	for _, d := range r.Drivers() {
		schemes = append(schemes, d.About().Scheme)
	}
	if got := strings.Join(schemes, ","); got != "badger,leveldb,memory,pebble" {
		t.Fatalf("registered schemes = %s", got)
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
		if got := required["github.com/ipfs/"+name]; got != version {
			t.Errorf("%s reports %s %s, but go.mod requires %s", d.About().Scheme, name, version, got)
		}
	}
}

// TestForeignStores checks that no disk backend opens, or touches, a
// directory holding another engine's store: neither one netabase created
// (with its marker) nor one the engine library created directly.
func TestForeignStores(t *testing.T) {
	disk := map[string]bool{"badger": true, "leveldb": true, "pebble": true}
	for _, owner := range all.Drivers() {
		if !disk[owner.About().Scheme] {
			continue
		}
		dir := filepath.Join(t.TempDir(), "db")
		storetest.Fill(t, owner, owner.About().Scheme+"://"+dir)
		for _, other := range all.Drivers() {
			if other.About().Scheme == owner.About().Scheme || !disk[other.About().Scheme] {
				continue
			}
			storetest.Refused(t, other, other.About().Scheme+"://"+dir, dir, dir, "holds a "+owner.About().Name+" store")
		}
	}

	// A LevelDB store made by go-ds-leveldb itself has no netabase marker;
	// its files give it away.
	dir := filepath.Join(t.TempDir(), "raw")
	raw, err := leveldbds.NewDatastore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range all.Drivers() {
		if s := d.About().Scheme; disk[s] && s != "leveldb" {
			storetest.Refused(t, d, s+"://"+dir, dir, dir, "holds a leveldb store")
		}
	}
	b, err := storetest.OpenURL(context.Background(), leveldbstore.Driver(), "leveldb://"+dir)
	if err != nil {
		t.Fatalf("the leveldb backend does not adopt a store go-ds-leveldb made: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
