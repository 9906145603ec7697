package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/replica"
)

// fileKey matches a table header or a key of a configuration file.
var fileKey = regexp.MustCompile(`(?m)^(\[\[?[a-z_]+\]\]?|[a-z_]+) =?`)

// TestInitHelpKeys: netabase init --help lists every table and key of the
// file init writes, a [[sync]] table's included.
func TestInitHelpKeys(t *testing.T) {
	c := config.Default(t.TempDir())
	c.SetSync(config.Sync{Settings: replica.Settings{Name: "notes", MaxRecords: 10}})
	file, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	code, help, errOut := runIn(t.Context(), nil, "init", "--help")
	if code != 0 {
		t.Fatalf("init --help: exit %d: %s", code, errOut)
	}
	keys, _, _ := strings.Cut(help, "\nExamples:")
	found := fileKey.FindAllStringSubmatch(string(file), -1)
	if len(found) < 10 {
		t.Fatalf("found %d keys in the file written, want them all:\n%s", len(found), file)
	}
	for _, m := range found {
		// A key heads a line of the list, alone or among the keys one
		// comment covers.
		if !regexp.MustCompile(`(?m)^  ([a-z_]+, )*` + regexp.QuoteMeta(m[1]) + `[ ,\n]`).MatchString(keys) {
			t.Errorf("init --help does not list %s, which the file written has", m[1])
		}
	}
}
