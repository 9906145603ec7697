package config_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/netabase/netabase/core/config"
)

var update = flag.Bool("update", false, "rewrite doc.go's list of keys from the comment tags (TestConfigDoc)")

// TestConfigDoc: the list of keys in the package doc is config.Keys, which
// is read from the comment tags, so that the doc says what the file
// written says; with -update it rewrites doc.go's list.
func TestConfigDoc(t *testing.T) {
	data, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	// The list starts at the first code line after the heading, or the
	// package clause when there is none yet.
	_, after, ok := strings.Cut(doc, "\n// # Keys\n")
	if !ok {
		t.Fatal(`doc.go has no heading "# Keys"`)
	}
	start := len(doc) - len(after)
	if i := strings.Index(after, "\n//\t"); i >= 0 && i < strings.Index(after, "\npackage config\n") {
		start += i + 1
	} else {
		start += strings.Index(after, "\npackage config\n") + 1
	}
	var want strings.Builder
	want.WriteString(doc[:start])
	for line := range strings.Lines(config.Keys()) {
		if line == "\n" {
			want.WriteString("//\n")
		} else {
			want.WriteString("//\t" + line)
		}
	}
	want.WriteString("package config\n")
	if doc == want.String() {
		return
	}
	if *update {
		if err := os.WriteFile("doc.go", []byte(want.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("doc.go's list of keys is not config.Keys(), from the comment tags: run go test -run TestConfigDoc -update ./core/config\n--- doc.go\n%s\n--- want\n%s", doc[start:], want.String()[start:])
}
