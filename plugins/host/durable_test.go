package host_test

import (
	"errors"
	"maps"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

var _ conformance.CrashDriver = (*host.Driver)(nil)

// TestDurableCheckedByCrash runs the suite as admission does on plugins that
// declare durable: the durable case kills their processes, the honest ones
// pass it, and lazyplugin, which writes its data only when closed, fails it
// and nothing else. Every plugin process the suite started is stopped.
func TestDurableCheckedByCrash(t *testing.T) {
	for _, tc := range []struct {
		pkg    string
		failed []string
	}{
		{testplugins.Pebble, nil},
		{testplugins.Bbolt, nil},
		{testplugins.Lazy, []string{"durable"}},
	} {
		t.Run(path.Base(tc.pkg), func(t *testing.T) {
			var (
				mu      sync.Mutex
				open    = map[string]bool{} // stores up and not stopped
				crashes int
			)
			d := host.NewWatchedDriver(host.Config{Logger: sdktest.TestLogger(t)}, func(e host.Event) {
				mu.Lock()
				defer mu.Unlock()
				switch e.State {
				case host.Up:
					open[e.Store] = true
				case host.Down:
					if errors.Is(e.Err, host.ErrPluginDown) && strings.Contains(e.Err.Error(), "killed to crash its store") {
						crashes++
					}
				case host.Stopped:
					delete(open, e.Store)
				}
			})
			u := mustParse(t, pluginURL(t, tc.pkg, url.Values{"path": {filepath.Join(t.TempDir(), "unused")}}))
			info, err := d.Describe(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			if !info.Capabilities.Durable {
				t.Fatalf("plugin %s does not declare durable", info.Name)
			}
			rep, err := conformance.Check(t.Context(), conformance.URLHarness(d, u, info, sdktest.ScratchDir(t)))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			var failed []string
			for _, c := range rep.Failed() {
				failed = append(failed, c.Name)
			}
			if !slices.Equal(failed, tc.failed) {
				t.Fatalf("the suite failed cases %q, want %q:\n%s", failed, tc.failed, rep)
			}
			i := slices.IndexFunc(rep.Cases, func(c conformance.CaseResult) bool { return c.Name == "durable" })
			if i < 0 || rep.Cases[i].Status == conformance.Skip {
				t.Fatalf("the durable case did not run:\n%s", rep)
			}
			c := rep.Cases[i]
			t.Logf("durable: %s %s", c.Status, c.Error)
			if c.Status == conformance.Fail && !strings.Contains(c.Error, "did not survive a crash") {
				t.Errorf("the durable case failed without saying synced writes did not survive a crash: %s", c.Error)
			}
			mu.Lock()
			defer mu.Unlock()
			if crashes != 1 {
				t.Errorf("the suite crashed %d plugin processes, want 1", crashes)
			}
			if len(open) != 0 {
				t.Errorf("the suite left stores open: %v", slices.Collect(maps.Keys(open)))
			}
		})
	}
}
