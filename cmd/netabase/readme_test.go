package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/netabase/netabase/core"
)

// readmeBackend is a row of the README's table of storage backends.
type readmeBackend struct {
	url, engine, capabilities string
}

// readmeBackends parses the table under the README's "## Storage backends"
// heading: | `URL` | engine | capabilities |.
func readmeBackends(t *testing.T) []readmeBackend {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []readmeBackend
	inSection, inTable := false, false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inSection = line == "## Storage backends"
		case inSection && strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			if len(cells) != 3 {
				t.Fatalf("README: a row of the storage table has %d cells, want 3 (URL, engine, capabilities): %s", len(cells), line)
			}
			if !inTable { // the header; the separator row follows
				inTable = true
				continue
			}
			if strings.HasPrefix(cells[0], "---") {
				continue
			}
			rows = append(rows, readmeBackend{url: strings.Trim(cells[0], "`"), engine: cells[1], capabilities: cells[2]})
		case inTable:
			return rows
		}
	}
	t.Fatal(`README: no table under "## Storage backends"`)
	return nil
}

// urlParam matches a parameter named in a URL's shape, as in [?sync=true].
var urlParam = regexp.MustCompile(`[?&]([a-z0-9_]+)=`)

// TestREADMEBackends checks the README's table of storage backends against
// what `netabase backends --json` lists with the CLI's registry, so that a
// new backend is documented where users look for it: one row per scheme;
// the row's URL starts with the driver's URL form and names only
// parameters the driver accepts; its engine starts with the driver's
// version; its capabilities are the driver's ("none" when it declares
// none), and may be followed by a remark in parentheses.
func TestREADMEBackends(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, registry: newRegistry(&stderr)}
	if code := Main([]string{"backends", "--json"}, e); code != 0 {
		t.Fatalf("backends --json: exit %d: %s", code, stderr.String())
	}
	var abouts []core.About
	if err := json.Unmarshal(stdout.Bytes(), &abouts); err != nil {
		t.Fatal(err)
	}
	rows := map[string]readmeBackend{}
	for _, r := range readmeBackends(t) {
		scheme, _, _ := strings.Cut(r.url, ":")
		if _, dup := rows[scheme]; dup {
			t.Errorf("README: two rows for %s://", scheme)
		}
		rows[scheme] = r
	}
	for _, a := range abouts {
		r, ok := rows[a.Scheme]
		if !ok {
			t.Errorf("README: no row for %s:// in the table of storage backends", a.Scheme)
			continue
		}
		delete(rows, a.Scheme)
		rest, ok := strings.CutPrefix(r.url, a.Form)
		if !ok {
			t.Errorf("README: the %s row's URL %q does not start with the driver's form %q", a.Scheme, r.url, a.Form)
		}
		for _, m := range urlParam.FindAllStringSubmatch(rest, -1) {
			if !slices.ContainsFunc(a.Params, func(p core.Param) bool { return p.Name == m[1] }) {
				t.Errorf("README: the %s row's URL names a parameter %q the driver does not accept", a.Scheme, m[1])
			}
		}
		if !strings.HasPrefix(r.engine, a.Version) {
			t.Errorf("README: the %s row's engine %q does not start with the driver's version %q", a.Scheme, r.engine, a.Version)
		}
		want := strings.Join(a.Capabilities.Names(), ", ")
		if want == "" {
			want = "none"
		}
		if got, _, _ := strings.Cut(r.capabilities, " ("); got != want {
			t.Errorf("README: the %s row's capabilities are %q, the driver's %q", a.Scheme, got, want)
		}
	}
	for scheme := range rows {
		t.Errorf("README: the table of storage backends has a row for %s://, which the CLI does not register", scheme)
	}
}

// TestREADMETestCommand checks that the README's quick start names one test
// command, scripts/test.sh, that the script exists, and that CI runs it.
func TestREADMETestCommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile("(?m)^scripts/test\\.sh +# run the tests").Match(readme) {
		t.Error("README: the quick start does not name scripts/test.sh as the test command")
	}
	if fi, err := os.Stat("../../scripts/test.sh"); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("scripts/test.sh is missing or not executable: %v", err)
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile("(?m)^scripts/test\\.sh").Match(ci) {
		t.Error(".ci/run does not run scripts/test.sh, the README's test command")
	}
}
