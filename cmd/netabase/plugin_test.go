package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// runWithPlugins runs the command line in-process with the CLI's own
// registry, plugins included.
func runWithPlugins(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, &env{stdout: &stdout, stderr: &stderr, registry: newRegistry(&stderr)})
	return code, stdout.String(), stderr.String()
}

func TestPlugin(t *testing.T) {
	bins, err := testplugins.Build(t.TempDir(), testplugins.Bbolt, testplugins.NotAPlugin,
		testplugins.Crash, testplugins.OtherProto, testplugins.Bad, testplugins.Lazy)
	if err != nil {
		t.Fatal(err)
	}
	bbolt := bins[testplugins.Bbolt]
	sum, err := host.Checksum(bbolt)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "x.db")
	want := host.FormatURL(bbolt, sum, url.Values{"path": {data}})

	t.Run("pin", func(t *testing.T) {
		t.Chdir(filepath.Dir(data))
		code, out, errOut := runWithPlugins(t, "plugin", "pin", bbolt, "path=x.db")
		if code != 0 || out != want+"\n" {
			t.Fatalf("plugin pin: exit %d, %q, %q; want %q", code, out, errOut, want)
		}
		code, out, _ = runWithPlugins(t, "plugin", "pin", "--json", bbolt, "path=/x.db")
		var p struct {
			URL    string
			Plugin struct{ Name, Build string }
		}
		if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.Plugin.Name != "bbolt" || p.Plugin.Build != "sha256:"+sum {
			t.Fatalf("plugin pin --json: exit %d, %s", code, out)
		}
	})

	t.Run("conformance", func(t *testing.T) {
		code, out, errOut := runWithPlugins(t, "conformance", "--scratch-dir", sdktest.ScratchDir(t), want)
		if code != 0 || !strings.Contains(out, "PASSED") || !strings.Contains(out, "Backend bbolt (v0.1.0 (bbolt v1.5.0)), capabilities: persistent,durable") {
			t.Fatalf("conformance of the bbolt plugin: exit %d\n%s\n%s", code, out, errOut)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("conformance touched the URL's own data %s: %v", data, err)
		}
	})

	t.Run("conformance crashes a durable plugin", func(t *testing.T) {
		sum, err := host.Checksum(bins[testplugins.Lazy])
		if err != nil {
			t.Fatal(err)
		}
		lazy := host.FormatURL(bins[testplugins.Lazy], sum, url.Values{"path": {data}})
		code, out, errOut := runWithPlugins(t, "conformance", "--scratch-dir", sdktest.ScratchDir(t), lazy)
		if code != 1 || !strings.Contains(errOut, "lazy failed the conformance suite") {
			t.Fatalf("conformance of a plugin that declares durable and is not: exit %d, stderr %q; want exit 1 and the failure", code, errOut)
		}
		if !regexp.MustCompile(`(?m)^FAIL +durable .*did not survive a crash`).MatchString(out) || !strings.Contains(out, " 1 failed,") {
			t.Errorf("the report does not fail case durable alone:\n%s", out)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		wrong := strings.Repeat("0", 64)
		pin := func(pkg string) string {
			s, err := host.Checksum(bins[pkg])
			if err != nil {
				t.Fatal(err)
			}
			return host.FormatURL(bins[pkg], s, url.Values{"path": {data}})
		}
		for _, tc := range []struct {
			args   []string
			code   int
			stderr []string
		}{
			{[]string{"conformance", host.FormatURL(bbolt, wrong, url.Values{"path": {data}})}, 1, []string{"its sha256 checksum is " + sum, "pins " + wrong}},
			{[]string{"conformance", "plugin://" + bbolt + "?path=" + data}, 2, []string{"must pin the binary's checksum"}},
			{[]string{"conformance", pin(testplugins.NotAPlugin)}, 1, []string{"is not a netabase storage plugin", "hello, I am an ordinary program"}},
			{[]string{"conformance", pin(testplugins.Crash)}, 1, []string{"exited (exit status 2) before the plugin handshake", "out of cheese"}},
			{[]string{"conformance", pin(testplugins.OtherProto)}, 1, []string{"protocol version 99", "this netabase speaks versions 1, 2 and 3"}},
			{[]string{"conformance", "--scratch-dir", sdktest.ScratchDir(t), pin(testplugins.Bad)}, 1, []string{"forgetful failed the conformance suite"}},
			{[]string{"conformance", want + "&colour=blue"}, 2, []string{`unknown option "colour"`}},
			{[]string{"plugin", "pin", bins[testplugins.NotAPlugin]}, 1, []string{"is not a netabase storage plugin"}},
			{[]string{"plugin", "pin", "/nonexistent/plugin"}, 2, []string{"/nonexistent/plugin is not a plugin binary"}},
			{[]string{"plugin", "pin", bbolt, "colour=blue"}, 2, []string{`unknown option "colour"`}},
			{[]string{"plugin", "pin", bbolt, "path"}, 2, []string{`option "path" is not name=value`}},
			{[]string{"plugin", "pin"}, 2, []string{"takes a plugin binary"}},
		} {
			code, out, errOut := runWithPlugins(t, tc.args...)
			if code != tc.code {
				t.Errorf("netabase %q: exit %d, want %d\n%s\n%s", tc.args, code, tc.code, out, errOut)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("netabase %q: stderr does not say %q:\n%s", tc.args, w, errOut)
				}
			}
		}
	})
}

// TestPluginPinHangs: a binary that never completes the plugin handshake,
// a script whose child outlives it, is stopped at the start timeout with
// its child, and pin says what it waits for and for how long.
func TestPluginPinHangs(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hangs")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 100 &\necho $! > "+filepath.Join(dir, "child")+"\nwait\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	r := all.Registry()
	if err := r.Register(host.NewDriver(host.Config{StartTimeout: time.Second})); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code := Main([]string{"plugin", "pin", script}, &env{stdout: &stdout, stderr: &stderr, registry: r})
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("plugin pin took %v; the child kept it waiting", took)
	}
	if code != 1 || stdout.Len() != 0 {
		t.Errorf("exit %d, stdout %q", code, stdout.String())
	}
	for _, want := range []string{"Starting " + script + "; it has 1s to complete the plugin handshake", "did not complete the plugin handshake within the start timeout (1s)"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not say %q", stderr.String(), want)
		}
	}
	pid, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	// Gone, or a zombie nobody reaps yet: SIGKILL was sent to the group
	// when pin returned, and a process takes a moment to die of it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
		if err != nil || regexp.MustCompile(`\) Z `).Match(stat) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the script's child %s still runs 5 s after pin returned: %s", pid, stat)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}
