package netabase_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

// module is this module's path.
const module = "github.com/netabase/netabase"

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

// goList runs go list -json with args, in the environment with env added,
// and decodes the packages it lists.
func goList(t *testing.T, env []string, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Imports,Deps"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
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

// rule is one of ARCHITECTURE.md's rules of what may import what, as data.
// A rule is about the packages that from matches, less those except
// matches; it looks at their direct imports, or with deps at everything
// they depend on. With only set, the packages of this module they may use
// are those only matches (other modules' packages are not its business);
// never names packages, of any module, they may not use.
//
// A pattern is a path relative to this module ("." is its root package),
// or a full import path when its first element holds a dot; path.Match's
// wildcards apply, and a trailing "/..." also matches every package below.
type rule struct {
	says   string
	from   []string
	except []string
	deps   bool
	only   []string
	never  []string
}

// rules are ARCHITECTURE.md's "What may import what", and the stack of
// core's packages its "Layers" draws: each of those imports only the
// packages below it, so each has a row saying which.
var rules = []rule{
	{says: "nothing under core/ imports backends/, plugins/, conformance/ or cmd/: the caller composes them",
		from: []string{"core/..."}, deps: true, never: []string{"backends/...", "plugins/...", "conformance/...", "cmd/..."}},
	{says: "core is the bottom of the stack", from: []string{"core"}, only: []string{}},
	{says: "core/envelope stacks over core", from: []string{"core/envelope"}, only: []string{"core"}},
	{says: "core/replica stacks over core/envelope", from: []string{"core/replica"}, only: []string{"core", "core/envelope"}},
	{says: "core/apijson, the JSON the control API and the gateway share, stacks over core/envelope",
		from: []string{"core/apijson"}, only: []string{"core", "core/envelope"}},
	{says: "core/config stacks over core/replica", from: []string{"core/config"}, only: []string{"core", "core/envelope", "core/replica"}},
	{says: "core/gateway/gatewayclient never imports core/node, so it builds for js/wasm",
		from: []string{"core/gateway/gatewayclient"}, only: []string{"core", "core/envelope", "core/apijson", "core/replica"}},
	{says: "core/gateway/wsync never imports core/node, so it builds for js/wasm",
		from: []string{"core/gateway/wsync"}, only: []string{"core", "core/envelope", "core/replica"}},
	{says: "core/page, a page's side of sync, stacks over core/gateway/wsync and core/gateway/gatewayclient, never core/node, so it builds for js/wasm",
		from: []string{"core/page"}, only: []string{"core", "core/envelope", "core/replica", "core/gateway/gatewayclient", "core/gateway/wsync"}},
	{says: "core/page links nothing of libp2p's host or network stack (go-libp2p/core/peer and core/crypto are enough for an identity)",
		from: []string{"core/page"}, deps: true, never: []string{"core/node", "github.com/libp2p/go-libp2p", "github.com/libp2p/go-libp2p/p2p/...", "github.com/libp2p/go-libp2p/core/host", "github.com/libp2p/go-libp2p/core/network", "github.com/libp2p/go-libp2p-pubsub", "github.com/libp2p/go-libp2p-kad-dht"}},
	{says: "core/model reaches a node only through model.Network",
		from: []string{"core/model"}, only: []string{"core", "core/envelope", "core/replica", "core/config"}},
	{says: "core/node stacks over core/config, and never imports core/model",
		from: []string{"core/node"}, only: []string{".", "core", "core/envelope", "core/replica", "core/config"}},
	{says: "core/gateway stacks over core/node",
		from: []string{"core/gateway"}, only: []string{".", "core", "core/envelope", "core/apijson", "core/replica", "core/config", "core/node", "core/gateway/gatewayclient", "core/gateway/wsync"}},
	{says: "backends/* import core only", from: []string{"backends/*store"}, only: []string{"core"}},
	{says: "backends/all lists the backends", from: []string{"backends/all"}, only: []string{"core", "backends/*store"}},
	{says: "conformance imports core only: every plugin author imports it, so it stays small",
		from: []string{"conformance"}, deps: true, only: []string{"core"}},
	{says: "a plugin imports plugins/sdk only",
		from: []string{"examples/plugin-*"}, except: []string{"examples/plugin-postgres"}, only: []string{"plugins/sdk"}},
	{says: "a plugin imports plugins/sdk only (examples/plugin-postgres also names core.SeekQuery)",
		from: []string{"examples/plugin-postgres"}, only: []string{"plugins/sdk", "core"}},
	{says: "the daemon's control API and metrics read a plugin's call figures through core.CallReporter, not plugins/host",
		from: []string{"internal/control", "internal/metrics"}, deps: true, never: []string{"plugins/..."}},
	{says: "metrics live outside core: core/node takes a Prometheus registerer only to hand it to go-libp2p",
		from: []string{"core/..."}, except: []string{"core/node"}, never: []string{"github.com/prometheus/..."}},
	{says: "core and core/node import only OpenTelemetry's API; only the daemon exports",
		from: []string{"core/..."}, deps: true, never: []string{"go.opentelemetry.io/otel/sdk/...", "go.opentelemetry.io/otel/exporters/..."}},
}

// builds are the builds the rules hold for: the native one and the
// browser's.
var builds = []struct{ goos, goarch string }{{"linux", "amd64"}, {"js", "wasm"}}

// matches reports whether pkg, a full import path, matches pattern.
func matches(pattern, pkg string) bool {
	if first, _, _ := strings.Cut(pattern, "/"); pattern == "." {
		pattern = module
	} else if !strings.Contains(first, ".") {
		pattern = module + "/" + pattern
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		if ok, _ := path.Match(base, pkg); ok {
			return true
		}
		pattern = base + "/*"
		for range strings.Count(pkg, "/") - strings.Count(base, "/") - 1 {
			pattern += "/*"
		}
	}
	ok, _ := path.Match(pattern, pkg)
	return ok
}

// matchesAny reports whether pkg matches one of patterns.
func matchesAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matches(p, pkg) })
}

// broken returns the packages p uses that r forbids it.
func (r rule) broken(p listed) []string {
	if !matchesAny(r.from, p.ImportPath) || matchesAny(r.except, p.ImportPath) {
		return nil
	}
	used := p.Imports
	if r.deps {
		used = p.Deps
	}
	var bad []string
	for _, dep := range used {
		own := dep == module || strings.HasPrefix(dep, module+"/")
		if matchesAny(r.never, dep) || r.only != nil && own && !matchesAny(r.only, dep) {
			bad = append(bad, dep)
		}
	}
	return bad
}

// TestImportRules: every rule of rules holds for every package of the
// module, in the native build and in the js/wasm one, and every package
// under core/ has its place in the stack.
func TestImportRules(t *testing.T) {
	for _, b := range builds {
		t.Run(b.goos+"/"+b.goarch, func(t *testing.T) {
			pkgs := goList(t, []string{"GOOS=" + b.goos, "GOARCH=" + b.goarch}, "./...")
			for _, p := range pkgs {
				for _, r := range rules {
					for _, dep := range r.broken(p) {
						t.Errorf("%s uses %s, against ARCHITECTURE.md's rule: %s", p.ImportPath, dep, r.says)
					}
				}
				if matches("core/...", p.ImportPath) && !slices.ContainsFunc(rules, func(r rule) bool {
					return r.only != nil && matchesAny(r.from, p.ImportPath)
				}) {
					t.Errorf("%s has no place in core's stack: add a row to rules saying which packages below it it imports, and place it in ARCHITECTURE.md's layers", p.ImportPath)
				}
			}
		})
	}
}

// TestImportRulesCatch: each kind of rule finds the use it forbids, so
// TestImportRules cannot pass by matching nothing.
func TestImportRulesCatch(t *testing.T) {
	for _, c := range []struct {
		pkg  listed
		want bool
	}{
		{listed{ImportPath: module + "/core/replica", Imports: []string{module + "/core/node"}}, true},
		{listed{ImportPath: module + "/core/replica", Imports: []string{module + "/core/envelope", "fmt"}}, false},
		{listed{ImportPath: module + "/core/model", Deps: []string{module + "/backends/memstore"}}, true},
		{listed{ImportPath: module + "/core/envelope", Imports: []string{"github.com/prometheus/client_golang/prometheus"}}, true},
		{listed{ImportPath: module + "/core/node", Imports: []string{"github.com/prometheus/client_golang/prometheus"}}, false},
		{listed{ImportPath: module + "/backends/pebblestore", Imports: []string{module + "/core/node"}}, true},
		{listed{ImportPath: module + "/examples/plugin-bbolt", Imports: []string{module + "/core"}}, true},
		{listed{ImportPath: module + "/examples/plugin-postgres", Imports: []string{module + "/core"}}, false},
		{listed{ImportPath: module + "/core/node", Deps: []string{"go.opentelemetry.io/otel/sdk/trace"}}, true},
		{listed{ImportPath: module + "/core/gateway/gatewayclient", Imports: []string{module + "/core/node"}}, true},
		{listed{ImportPath: module + "/conformance", Deps: []string{module + "/core"}}, false},
		{listed{ImportPath: module + "/conformance", Deps: []string{module + "/internal/measure"}}, true},
	} {
		var broken []string
		for _, r := range rules {
			broken = append(broken, r.broken(c.pkg)...)
		}
		if got := len(broken) > 0; got != c.want {
			t.Errorf("%s using %v: broken %v, want broken %v", c.pkg.ImportPath, append(c.pkg.Imports, c.pkg.Deps...), got, c.want)
		}
	}
}

// TestDaemonDoesNotLinkTesting: the daemon binary links Go's testing
// package only through the third-party packages of linkTesting.
func TestDaemonDoesNotLinkTesting(t *testing.T) {
	for _, p := range goList(t, nil, "-deps", "./cmd/netabase") {
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
