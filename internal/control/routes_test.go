package control

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the package doc's list of endpoints from routes (TestEndpointsDoc)")

// endpointsDoc is the package doc's list of endpoints, as routes gives it.
func endpointsDoc() string {
	var b strings.Builder
	for _, r := range routes {
		method, path, _ := strings.Cut(r.pattern, " ")
		fmt.Fprintf(&b, "//\t%-6s %-28s %s\n", method, path+r.params, r.doc)
	}
	return b.String()
}

// TestEndpointsDoc checks that the package doc (wire.go) lists the
// endpoints routes serves, so that a new endpoint is a row of routes and
// its handler; -update writes the list.
func TestEndpointsDoc(t *testing.T) {
	const file, heading = "wire.go", "// # Endpoints\n//\n"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, heading)
	if start < 0 {
		t.Fatalf("%s: no %q heading", file, strings.TrimSpace(heading))
	}
	start += len(heading)
	end := start + strings.Index(doc[start:], "//\n")
	want := endpointsDoc()
	if *update {
		doc = doc[:start] + want + doc[end:]
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		end = start + len(want)
	}
	if got := doc[start:end]; got != want {
		t.Errorf("%s: the list of endpoints is\n%s\nbut routes serves\n%s\n(go test ./internal/control -run TestEndpointsDoc -update writes it)", file, got, want)
	}
}
