package host_test

import (
	"net/url"
	"path/filepath"
	"testing"

	"github.com/netabase/netabase/internal/testkit/modeltest"
	"github.com/netabase/netabase/internal/testkit/storetest"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
)

// TestModelProperty runs typed collections' property test through the
// plugin host: random puts, updates and deletes on a pebble plugin, with
// every index checked against one rebuilt from the data after each step;
// then concurrent writers of one collection.
func TestModelProperty(t *testing.T) {
	d := host.NewDriver(host.Config{})
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, rawURL string)
	}{
		{"random", func(t *testing.T, rawURL string) {
			b := storetest.Open(t, d, rawURL)
			t.Cleanup(func() { _ = b.Close() })
			modeltest.Run(t, b, 2, 200)
		}},
		{"concurrent", func(t *testing.T, rawURL string) {
			b := storetest.Open(t, d, rawURL)
			t.Cleanup(func() { _ = b.Close() })
			modeltest.RunConcurrent(t, b, 2, 4, 100)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "store")}}))
		})
	}
}
