package host_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// treeSum hashes every file under dir, names and contents.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		h.Write([]byte(p + "\x00"))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestNamespaceScratch admits a plugin whose data lives behind a namespace
// option (a directory that plays a database server, a store in it that
// plays a table): the suite runs on scratch namespaces, each destroyed
// afterwards through the plugin's Destroy, and the live store is left
// byte for byte as it was.
func TestNamespaceScratch(t *testing.T) {
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	root := t.TempDir()
	rawURL := pluginURL(t, testplugins.Namespace, url.Values{"root": {root}})
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.OpenURL(t.Context(), d, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), ds.NewKey("/live/record"), []byte("live data")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	reg := &core.Registry{}
	if err := reg.Register(d); err != nil {
		t.Fatal(err)
	}
	gate := &core.Gate{Registry: reg, Suite: conformance.Suite(sdktest.ScratchDir(t))}
	admitted, adm, err := gate.Admit(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("admission: %v", err)
	}
	if adm.Verdict == nil || !adm.Verdict.Passed() {
		t.Fatalf("admission ran no passing suite: %+v", adm)
	}
	// The admitted store is the live one, exactly as it was.
	res, err := admitted.Query(t.Context(), dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Key != "/live/record" || string(all[0].Value) != "live data" {
		t.Errorf("after admission the live store holds %v; want only /live/record", all)
	}
	if err := admitted.Close(); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, root); len(got) != 1 || got[0] != "live" {
		t.Errorf("after admission the server holds %q; want only the live store (scratch namespaces destroyed)", got)
	}

	// Destroy is for scratch stores only: the live store's URL is refused,
	// and the live store stays.
	before := treeSum(t, root)
	if err := d.DestroyScratch(t.Context(), u); !errors.Is(err, core.ErrRejected) {
		t.Errorf("DestroyScratch of the live store: got %v, want an error wrapping core.ErrRejected", err)
	}
	if got := treeSum(t, root); got != before {
		t.Error("a refused DestroyScratch changed the live store's files")
	}
}

// TestUnlocatedRefused: a persistent plugin whose data nothing the host can
// rewrite locates (neither a path nor a namespace option) gets no scratch
// store, so it is not admitted, and its live data is not touched.
func TestUnlocatedRefused(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "unlocated")
	b, err := os.ReadFile(bins[testplugins.Namespace])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o700); err != nil {
		t.Fatal(err)
	}
	sum, err := host.Checksum(bin)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "server")
	rawURL := host.FormatURL(bin, sum, url.Values{"root": {root}})
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	_, _, err = d.Scratch(t.Context(), u, t.TempDir())
	if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "neither") && !strings.Contains(err.Error(), "no option of kind path or namespace") {
		t.Errorf("Scratch of a plugin with unlocated data: got %v, want a refusal naming the missing path or namespace option", err)
	}
	reg := &core.Registry{}
	if err := reg.Register(d); err != nil {
		t.Fatal(err)
	}
	gate := &core.Gate{Registry: reg, Suite: conformance.Suite(t.TempDir())}
	if _, _, err := gate.Admit(t.Context(), rawURL); err == nil {
		t.Fatal("a plugin with unlocated data was admitted")
	} else {
		t.Logf("refused: %v", err)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused admission touched the plugin's data (%v)", err)
	}
}
