package host_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// TestRefusals checks that every way a plugin URL or binary can be wrong is
// refused, by Describe and by Open, with an error that names the problem.
func TestRefusals(t *testing.T) {
	pebble := bins[testplugins.Pebble]
	sum, err := host.Checksum(pebble)
	if err != nil {
		t.Fatal(err)
	}
	wrong := strings.Repeat("ab", 32)
	noexec := filepath.Join(t.TempDir(), "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noexecSum, err := host.Checksum(noexec)
	if err != nil {
		t.Fatal(err)
	}
	// A program that prints a line of 60000 bytes.
	chatty := filepath.Join(t.TempDir(), "chatty")
	if err := os.WriteFile(chatty, []byte("#!/bin/sh\nhead -c 60000 /dev/zero | tr '\\0' x\necho\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	chattySum, err := host.Checksum(chatty)
	if err != nil {
		t.Fatal(err)
	}
	path := url.Values{"path": {filepath.Join(t.TempDir(), "db")}}
	for _, tc := range []struct {
		name string
		url  string
		want []string
		is   error // nil: no sentinel to match
	}{
		{"wrong checksum", host.FormatURL(pebble, wrong, path), []string{"its sha256 checksum is " + sum, "pins " + wrong, "netabase plugin pin"}, core.ErrRejected},
		{"no checksum", "plugin://" + pebble + "?path=/tmp/x", []string{"?sha256=<hex>", "netabase plugin pin " + pebble}, core.ErrInvalidURL},
		{"malformed checksum", "plugin://" + pebble + "?sha256=xyz", []string{"64 hex digits"}, core.ErrInvalidURL},
		{"two checksums", "plugin://" + pebble + "?sha256=" + sum + "&sha256=" + sum, []string{"given 2 times"}, core.ErrInvalidURL},
		{"relative binary", "plugin://bin/plugin?sha256=" + sum, []string{"three slashes"}, core.ErrInvalidURL},
		{"missing binary", host.FormatURL("/nonexistent/plugin", sum, nil), []string{"there is no plugin binary at /nonexistent/plugin"}, core.ErrInvalidURL},
		{"directory", host.FormatURL(filepath.Dir(pebble), sum, nil), []string{filepath.Dir(pebble) + " is a directory"}, core.ErrInvalidURL},
		{"not executable", host.FormatURL(noexec, noexecSum, nil), []string{noexec + " is not executable"}, core.ErrInvalidURL},
		{"not a plugin", pluginURL(t, testplugins.NotAPlugin, nil), []string{"is not a netabase storage plugin", "hello, I am an ordinary program"}, nil},
		{"long line", host.FormatURL(chatty, chattySum, nil), []string{"is not a netabase storage plugin", "more bytes cut"}, nil},
		{"crash at start", pluginURL(t, testplugins.Crash, nil), []string{"exited (exit status 2) before the plugin handshake", "out of cheese"}, nil},
		{"other protocol", pluginURL(t, testplugins.OtherProto, nil), []string{"protocol version 99", "this netabase speaks versions 1, 2 and 3"}, nil},
		{"unknown option", host.FormatURL(pebble, sum, url.Values{"path": path["path"], "colour": {"blue"}}), []string{`unknown option "colour"`, `"path", "sync"`}, core.ErrInvalidURL},
		{"missing option", host.FormatURL(pebble, sum, nil), []string{`option "path" is required`}, core.ErrInvalidURL},
		{"relative path option", host.FormatURL(pebble, sum, url.Values{"path": {"db"}}), []string{`option "path": want an absolute path`}, core.ErrInvalidURL},
		{"malformed option", host.FormatURL(pebble, sum, url.Values{"path": path["path"], "sync": {"perhaps"}}), []string{`option "sync": want true or false`}, core.ErrInvalidURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
			_, derr := d.Describe(t.Context(), u)
			b, oerr := d.Open(t.Context(), u)
			if oerr == nil {
				_ = b.Close()
			}
			for op, err := range map[string]error{"Describe": derr, "Open": oerr} {
				if err == nil {
					t.Fatalf("%s succeeded; want a refusal", op)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: the error does not say %q: %v", op, w, err)
					}
				}
				if len(err.Error()) > 8<<10 {
					t.Errorf("%s: the error is %d bytes long", op, len(err.Error()))
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("%s: the error does not match %v: %v", op, tc.is, err)
				}
			}
		})
	}
}

// TestContractViolation checks that a plugin whose store breaks the
// contract fails the conformance suite, naming what it broke.
func TestContractViolation(t *testing.T) {
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	u, err := url.Parse(pluginURL(t, testplugins.Bad, url.Values{"path": {"/unused"}}))
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.Describe(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := conformance.Check(t.Context(), conformance.URLHarness(d, u, info, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed() {
		t.Fatalf("a plugin that forgets deletes and loses data on reopen passed:\n%s", rep)
	}
	failed := map[string]bool{}
	for _, c := range rep.Failed() {
		failed[c.Name] = true
	}
	for _, name := range []string{"delete", "persistence"} {
		if !failed[name] {
			t.Errorf("case %s did not fail:\n%s", name, rep)
		}
	}
}

// TestPluginLogs checks that what a plugin writes reaches the host's log
// under the plugin's name, and that its last lines explain a failed start.
func TestPluginLogs(t *testing.T) {
	var buf syncBuffer
	d := host.NewDriver(host.Config{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	u, err := url.Parse(pluginURL(t, testplugins.Crash, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Describe(t.Context(), u); err == nil {
		t.Fatal("the crashing plugin was described")
	}
	got := buf.String()
	if !strings.Contains(got, "plugin=crashplugin") || !strings.Contains(got, "out of cheese") || !strings.Contains(got, "level=ERROR") {
		t.Errorf("the plugin's panic is not in the host's log as an error under its name:\n%s", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCancelledStart checks that a caller whose context ends while a
// plugin starts is not kept waiting for it.
func TestCancelledStart(t *testing.T) {
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	u, err := url.Parse(pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "db")}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := d.Open(ctx, u); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context: %v", err)
	}
}

// TestMutePlugin checks that a plugin that completes the handshake and
// then never answers is refused within the start timeout, even when the
// caller would wait longer.
func TestMutePlugin(t *testing.T) {
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t), StartTimeout: time.Second})
	u, err := url.Parse(pluginURL(t, testplugins.Mute, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The caller allows 30s; the start timeout is what must end the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = d.Describe(ctx, u)
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Describe of a plugin that never answers took %v with a start timeout of 1s", took)
	}
	if err == nil || !strings.Contains(err.Error(), "did not answer within the start timeout (1s)") {
		t.Errorf("Describe of a mute plugin: %v; want a refusal saying it did not answer in time", err)
	}
}

// TestLogFlood checks that a program that floods its stderr cannot flood
// the host's log: lines beyond the rate are dropped, the log says so, and
// the refusal still quotes its last lines.
func TestLogFlood(t *testing.T) {
	flood := filepath.Join(t.TempDir(), "flood")
	if err := os.WriteFile(flood, []byte("#!/bin/sh\nseq 1 50000 >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	sum, err := host.Checksum(flood)
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	d := host.NewDriver(host.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	start := time.Now()
	_, err = d.Describe(t.Context(), mustParse(t, host.FormatURL(flood, sum, nil)))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "50000") {
		t.Fatalf("Describe of a flooding program: %v; want a refusal quoting its last line", err)
	}
	logged := strings.Count(buf.String(), "stream=stderr\n")
	if most := 1000 + int(took.Seconds()*200) + 10; logged > most {
		t.Errorf("the host logged %d of the 50000 lines in %v; want at most %d", logged, took, most)
	}
	if !strings.Contains(buf.String(), "dropping its lines") {
		t.Errorf("the log does not say that lines were dropped")
	}
}

// TestOptionSpecs checks that a plugin declaring an option the SDK would
// refuse — a name that leads out of a scratch directory, a default its
// kind does not take — is refused as the plugin's fault, not the URL's.
func TestOptionSpecs(t *testing.T) {
	for _, tc := range []struct{ option, want string }{
		{"escape", `an option named "../escape"`},
		{"default", `the option "n" with a default it does not take`},
	} {
		t.Run(tc.option, func(t *testing.T) {
			t.Setenv("SPECPLUGIN_OPTION", tc.option)
			d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
			_, err := d.Describe(t.Context(), mustParse(t, pluginURL(t, testplugins.Spec, nil)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, core.ErrInvalidURL) {
				t.Errorf("Describe: %v; want a refusal of the plugin saying %q", err, tc.want)
			}
		})
	}
}
