package host_test

import (
	"net/url"
	"path/filepath"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// TestAdmission runs core's admission gate on a plugin: the suite runs
// once, its certificate is keyed by the binary's checksum, and the next
// admission of the same binary is cached.
func TestAdmission(t *testing.T) {
	reg := &core.Registry{}
	if err := reg.Register(host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})); err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	gate := &core.Gate{Registry: reg, Suite: conformance.Suite(t.TempDir()), CertDir: certs}
	data := filepath.Join(t.TempDir(), "db")
	rawURL := pluginURL(t, testplugins.Pebble, url.Values{"path": {data}})
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	for i, wantCached := range []bool{false, true} {
		b, adm, err := gate.Admit(t.Context(), rawURL)
		if err != nil {
			t.Fatalf("admission %d: %v", i+1, err)
		}
		if adm.Cached != wantCached || adm.Certificate.Build != "sha256:"+u.Query().Get("sha256") || adm.Certificate.Name != "pebble-plugin" {
			t.Errorf("admission %d: cached %v, certificate %+v", i+1, adm.Cached, adm.Certificate)
		}
		if err := b.Put(t.Context(), ds.NewKey("/admitted"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
