package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
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
// none), and may be followed by a remark in parentheses. With -update it
// writes the table instead: a row it would refuse (or a scheme's missing
// row, at the end) becomes the row backendRow makes from the driver, a row
// of a scheme the CLI does not register goes, and the others stay as
// they are, remarks and all.
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
	about := map[string]core.About{}
	for _, a := range abouts {
		about[a.Scheme] = a
	}
	if *update {
		var table []string
		written := map[string]bool{}
		for _, r := range readmeBackends(t) {
			scheme, _, _ := strings.Cut(r.url, ":")
			a, ok := about[scheme]
			switch {
			case !ok || written[scheme]:
				continue
			case len(backendRowProblems(a, r)) > 0:
				table = append(table, backendRow(a))
			default:
				table = append(table, fmt.Sprintf("| `%s` | %s | %s |", r.url, r.engine, r.capabilities))
			}
			written[scheme] = true
		}
		for _, a := range abouts {
			if !written[a.Scheme] {
				table = append(table, backendRow(a))
			}
		}
		writeReadmeBackends(t, table)
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
			t.Errorf("README: no row for %s:// in the table of storage backends (go test ./cmd/netabase -run TestREADMEBackends -update writes one)", a.Scheme)
			continue
		}
		delete(rows, a.Scheme)
		for _, p := range backendRowProblems(a, r) {
			t.Errorf("README: the %s row's %s", a.Scheme, p)
		}
	}
	for scheme := range rows {
		t.Errorf("README: the table of storage backends has a row for %s://, which the CLI does not register", scheme)
	}
}

// backendRowProblems says what is wrong with r, the README's row of the
// driver described by a.
func backendRowProblems(a core.About, r readmeBackend) []string {
	var out []string
	rest, ok := strings.CutPrefix(r.url, a.Form)
	if !ok {
		out = append(out, fmt.Sprintf("URL %q does not start with the driver's form %q", r.url, a.Form))
	}
	for _, m := range urlParam.FindAllStringSubmatch(rest, -1) {
		if !slices.ContainsFunc(a.Params, func(p core.Param) bool { return p.Name == m[1] }) {
			out = append(out, fmt.Sprintf("URL names a parameter %q the driver does not accept", m[1]))
		}
	}
	if !strings.HasPrefix(r.engine, a.Version) {
		out = append(out, fmt.Sprintf("engine %q does not start with the driver's version %q", r.engine, a.Version))
	}
	if got, _, _ := strings.Cut(r.capabilities, " ("); got != backendCapabilities(a) {
		out = append(out, fmt.Sprintf("capabilities are %q, the driver's %q", got, backendCapabilities(a)))
	}
	return out
}

// backendCapabilities is how the README's table gives a driver's
// capabilities.
func backendCapabilities(a core.About) string {
	if names := a.Capabilities.Names(); len(names) > 0 {
		return strings.Join(names, ", ")
	}
	return "none"
}

// backendRow is the README's row of the driver described by a, as
// -update writes it: its URL's form and parameters, its version, its
// capabilities.
func backendRow(a core.About) string {
	url := a.Form
	for i, p := range a.Params {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		url += "[" + sep + p.Name + "=…]"
	}
	return fmt.Sprintf("| `%s` | %s | %s |", url, a.Version, backendCapabilities(a))
}

// writeReadmeBackends replaces the rows of the README's table of storage
// backends (after its header and separator) with rows.
func writeReadmeBackends(t *testing.T, rows []string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.Index(lines, "## Storage backends")
	for start >= 0 && start < len(lines) && !strings.HasPrefix(lines[start], "|") {
		start++
	}
	if start < 0 || start+2 > len(lines) {
		t.Fatal(`README: no table under "## Storage backends"`)
	}
	start += 2 // the header and the separator
	end := start
	for end < len(lines) && strings.HasPrefix(lines[end], "|") {
		end++
	}
	lines = slices.Concat(lines[:start], rows, lines[end:])
	if err := os.WriteFile("../../README.md", []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
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
