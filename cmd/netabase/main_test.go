package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata, and the README's table of backends (TestREADMEBackends)")

// run runs the command line in-process and returns its exit status and
// output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runWith(t, all.Registry(), args...)
}

// runWith is run with the backends of r.
func runWith(t *testing.T, r *core.Registry, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, registry: r}
	code := Main(args, e)
	return code, stdout.String(), stderr.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/netabase -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test ./cmd/netabase -update after checking it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// durations matches the timings in a report, which differ from run to run.
var durations = regexp.MustCompile(` +\d+(\.\d+)?(ns|µs|ms|s)\b`)

// normaliseSuite replaces the conformance suite's version, which every new
// case of the suite changes, so that a golden file need not.
func normaliseSuite(s string) string {
	return strings.ReplaceAll(s, "conformance suite v"+conformance.Version, "conformance suite v<suite>")
}

// TestBackends checks the form of the list on two backends, one with URL
// parameters and one without, so that adding a backend changes no golden
// file; TestREADMEBackends checks what the CLI's registry lists.
func TestBackends(t *testing.T) {
	r := &core.Registry{}
	for _, d := range []core.Driver{pebblestore.Driver(), memstore.Driver()} {
		if err := r.Register(d); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runWith(t, r, "backends")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	golden(t, "backends.golden", out)

	code, out, _ = runWith(t, r, "backends", "--json")
	var list []struct {
		Scheme, Version string
		Capabilities    map[string]bool
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("backends --json: exit %d, output %q", code, out)
	}
	if list[1].Scheme != "pebble" || !list[1].Capabilities["durable"] || list[1].Capabilities["transactions"] {
		t.Errorf("backends --json lists %+v second", list[1])
	}
}

// caseLine matches a case's line of a report whose durations are
// normalised: its result, its name and what it says.
var caseLine = regexp.MustCompile(`(?m)^(PASS|SKIP|FAIL)  (\S+) T(  .*)?\n`)

// reportCounts matches a report's counts.
var reportCounts = regexp.MustCompile(`(\d+) passed, (\d+) failed, (\d+) skipped`)

// TestConformanceMemory checks the report's form against the golden file,
// and its cases, which every new case of the suite changes, against the
// suite's list: each case once, in order, passed or skipped for a
// capability memory:// does not declare.
func TestConformanceMemory(t *testing.T) {
	code, out, errOut := run(t, "conformance", "memory://")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	out = normaliseSuite(durations.ReplaceAllString(out, " T"))
	var names []string
	passed, skipped := 0, 0
	for _, m := range caseLine.FindAllStringSubmatch(out, -1) {
		names = append(names, m[2])
		switch {
		case m[1] == "PASS" && m[3] == "":
			passed++
		case m[1] == "SKIP" && strings.HasPrefix(m[3], "  the backend does not declare "):
			skipped++
		default:
			t.Errorf("case line %q: want PASS, or SKIP for a capability memory:// does not declare", m[0])
		}
	}
	if want := conformance.Names(); !slices.Equal(names, want) {
		t.Errorf("the report's cases are %q, want the suite's %q", names, want)
	}
	if m := reportCounts.FindStringSubmatch(out); m == nil || m[1] != strconv.Itoa(passed) || m[2] != "0" || m[3] != strconv.Itoa(skipped) {
		t.Errorf("the report counts %q, want %d passed, 0 failed, %d skipped", m, passed, skipped)
	}
	first := true
	out = caseLine.ReplaceAllStringFunc(out, func(string) string {
		if first {
			first = false
			return "<cases>\n"
		}
		return ""
	})
	golden(t, "conformance-memory.golden", reportCounts.ReplaceAllString(out, "<n> passed, 0 failed, <n> skipped"))
}

func TestConformanceJSON(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, "conformance", "--json", "--scratch-dir", dir, "pebble://"+filepath.Join(dir, "unused"))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Passed  bool
		Backend struct{ Name string }
		Cases   []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !rep.Passed || rep.Backend.Name != "pebble" || len(rep.Cases) == 0 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused")); !os.IsNotExist(err) {
		t.Errorf("conformance touched the URL's own path: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("scratch stores were left behind: %v", left)
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"conformance"}, 2, "takes one storage URL"},
		{[]string{"conformance", "a", "b"}, 2, "takes one storage URL"},
		{[]string{"conformance", "nosuch:///x"}, 2, `unknown scheme "nosuch"`},
		{[]string{"conformance", "pebble:///x?synk=true"}, 2, `unknown parameter "synk"`},
		{[]string{"conformance", "pebble://relative"}, 2, "three slashes"},
		{[]string{"conformance", "leveldb:/abs/path"}, 2, "leveldb:///abs/path"},
		{[]string{"conformance", "leveldb:///x?sync=perhaps"}, 2, `parameter "sync"`},
		{[]string{"conformance", "--scratch-dir", "/nonexistent/dir", "memory://"}, 2, "not a directory"},
		{[]string{"backends", "extra"}, 2, "takes no arguments"},
		{[]string{"backends", "--nope"}, 2, "unknown flag"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("netabase %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.stderr)
		}
	}
}

// TestUnknownSubcommand: a word that names no command of a command group
// is a usage error (exit status 2) in every group, as at the top level,
// suggesting the commands of a similar name.
func TestUnknownSubcommand(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		want, suggest string
	}{
		{[]string{"sync", "lst", "notes"}, `unknown command "lst" for "netabase sync"`, "list"},
		{[]string{"dht", "mod"}, `unknown command "mod" for "netabase dht"`, "mode"},
		{[]string{"plugin", "pni"}, `unknown command "pni" for "netabase plugin"`, "pin"},
		{[]string{"syncc"}, `unknown command "syncc" for "netabase"`, "sync"},
	} {
		code, out, errOut := run(t, tc.args...)
		_, suggested, _ := strings.Cut(errOut, "Did you mean this?\n")
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || !strings.Contains(suggested, "\t"+tc.suggest+"\n") {
			t.Errorf("netabase %q: exit %d, stdout %q, stderr %q; want exit 2, %s and the suggestion %s", tc.args, code, out, errOut, tc.want, tc.suggest)
		}
	}
	// Every group, found by walking the command tree.
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if !cmd.HasSubCommands() {
			return
		}
		args := append(strings.Fields(cmd.CommandPath())[1:], "nosuchcommand")
		if code, _, errOut := run(t, args...); code != 2 || !strings.Contains(errOut, `unknown command "nosuchcommand" for "`+cmd.CommandPath()+`"`) {
			t.Errorf("netabase %q: exit %d, %q; want exit 2 and unknown command", args, code, errOut)
		}
		if code, out, _ := run(t, args[:len(args)-1]...); code != 0 || !strings.Contains(out, "Available Commands:") {
			t.Errorf("netabase %q: exit %d, %q; want its help", args[:len(args)-1], code, out)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(&env{stdout: io.Discard, stderr: io.Discard, registry: all.Registry()}))
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version", "--json")
	var v versionInfo
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.Conformance == "" {
		t.Fatalf("version --json: exit %d, %q", code, out)
	}
}
