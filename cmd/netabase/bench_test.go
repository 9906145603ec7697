package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netabase/netabase/core"
)

func TestBenchJSON(t *testing.T) {
	code, out, errOut := run(t, "bench", "memory://", "--baseline", "memory://", "--records", "200", "--rounds", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	type side struct {
		RecordsPerSec float64 `json:"records_per_sec"`
		PeakHeapMiB   float64 `json:"peak_heap_mib"`
	}
	var rep struct {
		Subject, Baseline struct {
			URL     string
			Backend struct{ Name string }
		}
		Records, Rounds int
		ValueSize       int `json:"value_size"`
		Operations      []struct {
			Op                string
			Subject, Baseline side
			Ratio             float64
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Subject.URL != "memory://" || rep.Subject.Backend.Name != "memory" || rep.Baseline.Backend.Name != "memory" || rep.Records != 200 || rep.Rounds != 1 || rep.ValueSize != 1024 {
		t.Errorf("report %+v", rep)
	}
	var ops []string
	for _, o := range rep.Operations {
		ops = append(ops, o.Op)
		if o.Subject.RecordsPerSec <= 0 || o.Baseline.RecordsPerSec <= 0 || o.Subject.PeakHeapMiB <= 0 || o.Baseline.PeakHeapMiB <= 0 {
			t.Errorf("%s: %+v, want positive rates and heaps", o.Op, o)
		}
		if want := o.Subject.RecordsPerSec / o.Baseline.RecordsPerSec; o.Ratio != want {
			t.Errorf("%s: ratio %v, want subject/baseline records/s = %v", o.Op, o.Ratio, want)
		}
	}
	if got := strings.Join(ops, " "); got != "put-batch put get scan" {
		t.Errorf("operations %q, want put-batch put get scan", got)
	}
}

// TestBenchScratch runs the table output against the default baseline and
// checks that only scratch stores were used, and removed.
func TestBenchScratch(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, "bench", "--scratch-dir", dir, "--records", "150", "--rounds", "1", "leveldb://"+filepath.Join(dir, "unused"))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Backend leveldb (", "against baseline pebble (", "150 records of 1024 B", "put-batch", "scan", "RATIO"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "unused")); !os.IsNotExist(err) {
		t.Errorf("bench touched the URL's own path: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("scratch stores were left behind: %v", left)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"bench"}, "takes one storage URL"},
		{[]string{"bench", "memory://", "memory://"}, "takes one storage URL"},
		{[]string{"bench", "nosuch:///x"}, `unknown scheme "nosuch"`},
		{[]string{"bench", "pebble:///x?synk=true"}, `unknown parameter "synk"`},
		{[]string{"bench", "--baseline", "pebble://relative", "memory://"}, "--baseline: "},
		{[]string{"bench", "--baseline", "nosuch:///x", "memory://"}, `unknown scheme "nosuch"`},
		{[]string{"bench", "--records", "0", "memory://"}, "--records must be at least 1"},
		{[]string{"bench", "--rounds", "-1", "memory://"}, "--rounds must be at least 1"},
		{[]string{"bench", "--records", "many", "memory://"}, "invalid argument"},
		{[]string{"bench", "--scratch-dir", "/nonexistent/dir", "memory://"}, "not a directory"},
	} {
		code, out, errOut := run(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.stderr) || out != "" {
			t.Errorf("netabase %q: exit %d, stdout %q, stderr %q; want exit 2, no output and %q", tc.args, code, out, errOut, tc.stderr)
		}
	}
}

// TestBenchPluginHeap: the table says that a plugin's own memory is not in
// the heap column.
func TestBenchPluginHeap(t *testing.T) {
	var out bytes.Buffer
	rep := benchReport{
		Subject:  benchBackend{URL: "plugin:///opt/bolt?sha256=00", Backend: core.Info{Name: "bbolt"}},
		Baseline: benchBackend{URL: "pebble:///tmp/x", Backend: core.Info{Name: "pebble"}},
	}
	if err := writeBenchTable(&env{stdout: &out}, rep); err != nil {
		t.Fatal(err)
	}
	if want := "bbolt runs in a process of its own, whose memory the peak heap does not count.\n"; !strings.HasSuffix(out.String(), want) || strings.Contains(out.String(), "pebble runs") {
		t.Errorf("table:\n%s\nwant it to end with %q", out.String(), want)
	}
}
