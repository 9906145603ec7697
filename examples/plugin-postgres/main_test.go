package main

import (
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/netabase/netabase/internal/testkit/pgtest"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// The packages the tests build: this plugin, and the netabase CLI.
const (
	pkg    = "github.com/netabase/netabase/examples/plugin-postgres"
	cliPkg = "github.com/netabase/netabase/cmd/netabase"
)

var (
	buildOnce sync.Once
	binary    string // the plugin
	cli       string // netabase
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

// build builds the plugin and the netabase CLI, once.
func build(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "netabase-pgplugin-"); buildErr != nil {
			return
		}
		var bins map[string]string
		if bins, buildErr = testplugins.Build(buildDir, pkg, cliPkg); buildErr == nil {
			binary, cli = bins[pkg], bins[cliPkg]
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// pluginURL builds the plugin once and returns its storage URL, checksum
// pinned, with options.
func pluginURL(t testing.TB, options url.Values) string {
	t.Helper()
	build(t)
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
