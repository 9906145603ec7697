package host_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/netabase/netabase/conformance/crashdriver"
	"github.com/netabase/netabase/internal/testkit/storetest"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// bins holds the test plugins TestMain builds, by package.
var bins map[string]string

func TestMain(m *testing.M) {
	intruder()
	crashdriver.ServeChild(host.NewDriver(host.Config{}))
	if u := os.Getenv(hostChildEnv); u != "" {
		runHostChild(u)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "netabase-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bins, err = testplugins.Build(dir, testplugins.Pebble, testplugins.PebbleV1, testplugins.Bbolt, testplugins.NotAPlugin,
		testplugins.Crash, testplugins.OtherProto, testplugins.Bad, testplugins.Liar, testplugins.Mute, testplugins.Spec, testplugins.Lazy, testplugins.Partial, testplugins.Namespace)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// pluginURL pins the binary of pkg with options.
func pluginURL(t testing.TB, pkg string, options url.Values) string {
	t.Helper()
	sum, err := host.Checksum(bins[pkg])
	if err != nil {
		t.Fatal(err)
	}
	return host.FormatURL(bins[pkg], sum, options)
}

// TestPebblePlugin runs the conformance suite through pebbleplugin under
// protocol versions 3 and 2 (TestPebbleV1Plugin runs it under version 1).
func TestPebblePlugin(t *testing.T) {
	pipelined(t, func(t *testing.T, _ int) {
		sdktest.RunURL(t, pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "unused")}}))
	})
}

func TestBboltPlugin(t *testing.T) {
	sdktest.RunURL(t, pluginURL(t, testplugins.Bbolt, url.Values{"path": {filepath.Join(t.TempDir(), "unused.db")}}))
}

// TestLocked checks that a store another process's plugin holds open is
// refused with an error naming it and saying it is in use, and is intact
// once that process lets go.
func TestLocked(t *testing.T) {
	for _, tc := range []struct {
		pkg, file string
	}{{testplugins.Pebble, "db"}, {testplugins.Bbolt, "bolt.db"}} {
		t.Run(filepath.Base(tc.pkg), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			storetest.Locked(t, host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)}), pluginURL(t, tc.pkg, url.Values{"path": {path}}), path)
		})
	}
}
