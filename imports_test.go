package netabase_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is this module's path.
const module = "github.com/netabase/netabase"

// forbiddenInCore are the trees no package under core/ may import, directly
// or through another package: the caller composes them (ARCHITECTURE.md).
var forbiddenInCore = []string{"backends", "plugins", "conformance", "cmd"}

// linkTesting are the third-party packages that import testing in their
// non-test code, and so link it into the daemon whatever we do: kad-dht
// (dht_options.go) and go-plugin (testing.go). Any other package that
// brings testing into the daemon fails TestDaemonDoesNotLinkTesting.
var linkTesting = []string{
	"github.com/hashicorp/go-plugin",
	"github.com/libp2p/go-libp2p-kad-dht",
}

// listed is what go list -json says of one package.
type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// goList runs go list -json with args and decodes the packages it lists.
func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Imports,Deps"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatalf("decoding go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
}

// inTree reports whether pkg is tree (such as "backends") of this module or
// a package under it.
func inTree(pkg, tree string) bool {
	root := module + "/" + tree
	return pkg == root || strings.HasPrefix(pkg, root+"/")
}

// TestCoreImportRules: no package under core/ depends on backends/,
// plugins/, conformance/ or cmd/, so that a program embedding a node links
// only the backends and the suite it hands the node itself.
func TestCoreImportRules(t *testing.T) {
	for _, p := range goList(t, "./core/...") {
		for _, dep := range p.Deps {
			for _, tree := range forbiddenInCore {
				if inTree(dep, tree) {
					t.Errorf("%s depends on %s: nothing under core/ may import %s/ (see ARCHITECTURE.md); let the caller pass it in",
						p.ImportPath, dep, tree)
				}
			}
		}
	}
}

// TestDaemonDoesNotLinkTesting: the daemon binary links Go's testing
// package only through the third-party packages of linkTesting.
func TestDaemonDoesNotLinkTesting(t *testing.T) {
	for _, p := range goList(t, "-deps", "./cmd/netabase") {
		if !slices.Contains(p.Imports, "testing") {
			continue
		}
		if slices.ContainsFunc(linkTesting, func(allowed string) bool {
			return p.ImportPath == allowed || strings.HasPrefix(p.ImportPath, allowed+"/")
		}) {
			continue
		}
		t.Errorf("%s imports testing, so the daemon links it: %s", p.ImportPath, fix(p.ImportPath))
	}
}

// fix says how to stop pkg importing testing.
func fix(pkg string) string {
	if strings.HasPrefix(pkg, module+"/") {
		return "move what needs testing into a package the daemon does not import (as conformance/conformancetest)"
	}
	return "a new dependency; keep it out of the daemon, or add it to linkTesting saying why"
}
