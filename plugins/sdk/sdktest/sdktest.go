// Package sdktest tests a netabase storage plugin the way a node admits it:
// through netabase's plugin host, across a real gRPC hop to a separate
// process, with the checksum pinned, the handshake and mutual TLS.
//
// A plugin's test is one call, with the same Config its main serves:
//
//	func TestPlugin(t *testing.T) { sdktest.Run(t, config()) }
//
// Run runs the conformance suite on scratch stores; for a plugin that
// declares durable, its durable case kills the plugin process with SIGKILL
// after writes and a Sync, and checks that what the Sync covered is still
// there. A built plugin binary is tested the same way with RunURL.
package sdktest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/conformance/conformancetest"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk"
)

// serveEnv, set to a test's name, makes the test binary serve the plugin
// of that test instead of testing it.
const serveEnv = "NETABASE_SDKTEST_SERVE"

// Run tests the plugin cfg describes. The test binary itself serves the
// plugin: the host starts it again, through a small launcher script pinned
// by its checksum, and the copy serves cfg with sdk.Serve. options are
// "name=value" pairs for the plugin's required options other than paths
// (path options are set to scratch locations).
func Run(t *testing.T, cfg sdk.Config, options ...string) {
	if os.Getenv(serveEnv) == t.Name() {
		sdk.Serve(cfg)
	}
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary: %v", err)
	}
	dir := t.TempDir()
	launcher := filepath.Join(dir, "plugin")
	script := fmt.Sprintf("#!/bin/sh\nexec env %s=%s %s -test.run=%s\n",
		serveEnv, shellQuote(t.Name()), shellQuote(self), shellQuote(runPattern(t.Name())))
	if err := os.WriteFile(launcher, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	sum, err := host.Checksum(launcher)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{}
	for _, o := range cfg.Options {
		if o.Kind == sdk.Path {
			q.Set(o.Name, filepath.Join(dir, "unused", o.Name))
		}
	}
	for _, kv := range options {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("option %q is not name=value", kv)
		}
		q.Add(name, value)
	}
	RunURL(t, host.FormatURL(launcher, sum, q))
	if _, err := os.Stat(filepath.Join(dir, "unused")); !os.IsNotExist(err) {
		t.Errorf("the tests touched the URL's own path options (%s): scratch stores must keep all their files under their path options", filepath.Join(dir, "unused"))
	}
}

// runPattern is a -test.run pattern matching exactly the test named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RunURL runs the conformance suite on the plugin a plugin:// URL names (its
// path options are replaced by scratch locations).
func RunURL(t *testing.T, rawURL string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	d := host.NewDriver(host.Config{Logger: TestLogger(t)})
	info, err := d.Describe(t.Context(), u)
	if err != nil {
		t.Fatalf("describing the plugin: %v", err)
	}
	t.Run("Conformance", func(t *testing.T) {
		conformancetest.Run(t, conformance.URLHarness(d, u, info, ScratchDir(t)))
	})
}

// ScratchDir returns a directory for scratch stores, removed after t: on
// memory-backed storage when the machine has it (/dev/shm), else
// t.TempDir(). The suite checks semantics and kills processes, not the
// machine, so it needs no disk, and an engine that fsyncs every commit runs
// it in seconds.
func ScratchDir(t testing.TB) string {
	dir, err := os.MkdirTemp("/dev/shm", "netabase-sdktest-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// TestLogger returns a logger that writes to t's log while t runs and
// drops what comes after (a plugin's last lines may arrive late). Debug
// lines, such as the host's note at every start of the plugin, are kept
// for go test -v.
func TestLogger(t testing.TB) *slog.Logger {
	h := &testHandler{state: &testState{t: t}}
	t.Cleanup(func() {
		h.state.mu.Lock()
		h.state.t = nil
		h.state.mu.Unlock()
	})
	return slog.New(h)
}

type testState struct {
	mu sync.Mutex
	t  testing.TB
}

type testHandler struct {
	state *testState
	attrs []slog.Attr
}

func (h *testHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || testing.Verbose()
}

func (h *testHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Time.Format(time.TimeOnly+".000"), r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	if h.state.t != nil {
		h.state.t.Log(b.String())
	}
	return nil
}

func (h *testHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &testHandler{state: h.state, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], as...)}
}

func (h *testHandler) WithGroup(string) slog.Handler { return h }
