package main

import (
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/netabase/netabase/internal/pgtest"
	"github.com/netabase/netabase/internal/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// pkg is this plugin's package.
const pkg = "github.com/netabase/netabase/examples/plugin-postgres"

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	buildDir  string
)

// TestMain removes the plugin binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// pluginURL builds the plugin once and returns its storage URL, checksum
// pinned, with options (name=value pairs).
func pluginURL(t testing.TB, options url.Values) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "netabase-pgplugin-"); buildErr != nil {
			return
		}
		var bins map[string]string
		if bins, buildErr = testplugins.Build(buildDir, pkg); buildErr == nil {
			binary = bins[pkg]
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	sum, err := host.Checksum(binary)
	if err != nil {
		t.Fatal(err)
	}
	return host.FormatURL(binary, sum, options)
}

// TestPlugin runs the conformance suite on this plugin through netabase's
// plugin host, as a node admits it, on a real PostgreSQL server: every
// case on a scratch table, the durable case killing the plugin. Then no
// scratch table is left.
func TestPlugin(t *testing.T) {
	srv := pgtest.Start(t)
	for _, sync := range []string{"false", "true"} {
		t.Run("sync="+sync, func(t *testing.T) {
			sdktest.RunURL(t, pluginURL(t, url.Values{"dsn": {srv.DSN("")}, "sync": {sync}}))
			if left := srv.Psql(t.Context(), "", "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"); left != "" {
				t.Errorf("tables left behind in schema public:\n%s", left)
			}
		})
	}
}
