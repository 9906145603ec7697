package host_test

import (
	"net/url"
	"path/filepath"
	"testing"

	"github.com/netabase/netabase/internal/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// TestProtocolNegotiated checks that the host speaks protocol version 2 to
// a plugin built with the SDK, and version 1 to a plugin that serves only
// version 1.
func TestProtocolNegotiated(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		want int
	}{{testplugins.Pebble, 2}, {testplugins.PebbleV1, 1}} {
		t.Run(filepath.Base(tc.pkg), func(t *testing.T) {
			d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
			b, err := d.Open(t.Context(), mustParse(t, pluginURL(t, tc.pkg, url.Values{"path": {filepath.Join(t.TempDir(), "db")}})))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			got, err := host.Protocol(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("the host speaks protocol %d to %s, want %d", got, filepath.Base(tc.pkg), tc.want)
			}
		})
	}
}

// TestPebbleV1Plugin runs the conformance suite through a plugin that
// serves only protocol version 1.
func TestPebbleV1Plugin(t *testing.T) {
	sdktest.RunURL(t, pluginURL(t, testplugins.PebbleV1, url.Values{"path": {filepath.Join(t.TempDir(), "unused")}}))
}
