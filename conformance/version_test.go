package conformance_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/netabase/netabase/conformance"
)

var update = flag.Bool("update", false, "write the suite's Version and the hash of its cases' code to "+pinFile)

// pinFile pins the suite's Version to the code of its cases.
const pinFile = "testdata/suite.sum"

// caseRoots are the package-level names whose code decides a case's
// verdict: the table of cases, the code that runs one on an instance, and
// the harness the admission gate runs it through. The hash covers them and
// every declaration of the package they reach.
var caseRoots = []string{"cases", "runCase", "URLHarness"}

// TestVersionPinned fails when the code of the suite's cases changed and
// Version did not, so that no two suites ever share a version number and a
// certificate of an older suite never admits a backend.
func TestVersionPinned(t *testing.T) {
	sum, err := casesHash(".", caseRoots)
	if err != nil {
		t.Fatalf("hashing the code of the cases: %v", err)
	}
	pinnedVersion, pinnedSum, err := readPin(pinFile)
	if err != nil && !(*update && errors.Is(err, fs.ErrNotExist)) {
		t.Fatalf("%v; run go test ./conformance -run TestVersionPinned -update to write it", err)
	}
	if *update {
		if err == nil {
			if err := checkBump(pinnedVersion, pinnedSum, sum); err != nil {
				t.Fatal(err)
			}
		}
		if err := writePin(pinFile, sum); err != nil {
			t.Fatal(err)
		}
		t.Logf("pinned suite v%s to %s", conformance.Version, sum)
		return
	}
	switch {
	case sum != pinnedSum && conformance.Version == pinnedVersion:
		t.Fatalf("the code of the conformance cases changed, but the suite's Version is still %q: "+
			"a certificate of the old suite would admit a backend the new one was never run on. "+
			"Set Version in conformance/suite.go to %q (one past the version on main at the time you merge), "+
			"then run go test ./conformance -run TestVersionPinned -update and commit %s",
			pinnedVersion, nextVersion(pinnedVersion), filepath.Join("conformance", pinFile))
	case sum != pinnedSum || conformance.Version != pinnedVersion:
		t.Fatalf("%s pins suite v%s to %s, but the suite is v%s and its cases hash to %s: "+
			"run go test ./conformance -run TestVersionPinned -update and commit the file",
			filepath.Join("conformance", pinFile), pinnedVersion, pinnedSum, conformance.Version, sum)
	}
}

// checkBump refuses to pin changed cases under the old version, or under
// any version but the next one.
func checkBump(pinnedVersion, pinnedSum, sum string) error {
	next := nextVersion(pinnedVersion)
	switch {
	case sum == pinnedSum && conformance.Version == pinnedVersion:
		return nil
	case sum != pinnedSum && conformance.Version == pinnedVersion:
		return fmt.Errorf("not updating %s: the cases changed, so first set Version in conformance/suite.go to %q", pinFile, next)
	case conformance.Version != next:
		return fmt.Errorf("not updating %s: Version is %q, but the next version after the pinned %q is %q", pinFile, conformance.Version, pinnedVersion, next)
	}
	return nil
}

func nextVersion(v string) string {
	n, err := strconv.Atoi(v)
	if err != nil {
		return "(a number one past " + v + ")"
	}
	return strconv.Itoa(n + 1)
}

// readPin reads the version and hash pinFile holds: its one line that is
// not blank or a comment, "<version> <hash>".
func readPin(name string) (version, sum string, err error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", "", fmt.Errorf("reading the suite's pin: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if version, sum, ok := strings.Cut(line, " "); ok {
			return version, sum, nil
		}
	}
	return "", "", fmt.Errorf("%s holds no line \"<version> <hash>\"", name)
}

func writePin(name, sum string) error {
	text := "# The conformance suite's Version and a hash of the code of its cases.\n" +
		"# Written by go test ./conformance -run TestVersionPinned -update; see version_test.go.\n" +
		conformance.Version + " " + sum + "\n"
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, []byte(text), 0o644)
}

// casesHash returns a hash of the top-level declarations of the Go package
// in dir (test files aside) that roots reach, as tokens: a change of
// comments or layout does not change it, a change of code does.
//
// A declaration reaches every package-level name it mentions, and a type
// reaches all its methods, which covers calls through interfaces: a value
// of the package's own types is made by code that names them. Code outside
// the package (core, go-datastore) is not hashed.
func casesHash(dir string, roots []string) (string, error) {
	fset := token.NewFileSet()
	type decl struct {
		node ast.Decl
		src  []byte // the declaration's source, comments included
	}
	byName := map[string][]*decl{} // package-level names, and "T." for the methods of T
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return "", err
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			return "", err
		}
		for _, n := range f.Decls {
			d := &decl{node: n, src: src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset]}
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Recv == nil {
					byName[n.Name.Name] = append(byName[n.Name.Name], d)
					break
				}
				recv := receiverType(n.Recv.List[0].Type)
				byName[recv+"."] = append(byName[recv+"."], d)
			case *ast.GenDecl:
				for _, s := range n.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						byName[s.Name.Name] = append(byName[s.Name.Name], d)
					case *ast.ValueSpec:
						for _, id := range s.Names {
							byName[id.Name] = append(byName[id.Name], d)
						}
					}
				}
			}
		}
	}

	reached := map[*decl]bool{}
	var queue []*decl
	reach := func(ds []*decl) {
		for _, d := range ds {
			if !reached[d] {
				reached[d] = true
				queue = append(queue, d)
			}
		}
	}
	for _, r := range roots {
		if len(byName[r]) == 0 {
			return "", fmt.Errorf("the package declares no %s", r)
		}
		reach(byName[r])
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		ast.Inspect(d.node, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				reach(byName[id.Name])
				reach(byName[id.Name+"."]) // a type's methods
			}
			return true
		})
	}

	var texts []string
	for d := range reached {
		text, err := tokens(d.src)
		if err != nil {
			return "", err
		}
		texts = append(texts, text)
	}
	slices.Sort(texts) // moving a declaration does not change the hash
	h := sha256.New()
	for _, text := range texts {
		fmt.Fprintf(h, "%d\n%s\n", len(text), text)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// receiverType is the name of a method's receiver type.
func receiverType(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return ""
		}
	}
}

// tokens is src as one token a line, without comments, and with every
// semicolon alike whether written or inserted at a line end.
func tokens(src []byte) (string, error) {
	var s scanner.Scanner
	var errs scanner.ErrorList
	fset := token.NewFileSet()
	s.Init(fset.AddFile("", -1, len(src)), src, errs.Add, 0)
	var b strings.Builder
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON {
			lit = ""
		}
		fmt.Fprintf(&b, "%s %s\n", tok, lit)
	}
	return b.String(), errs.Err()
}

// TestCasesHash shows what changes the hash TestVersionPinned checks: code
// the cases reach, not comments, layout or code they do not reach.
func TestCasesHash(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string
		old, new string
		changes  bool
	}{
		{"a comment and blank lines", "cases.go", "\nfunc caseNoAliasing(", "\n// A comment.\n\n\nfunc caseNoAliasing( // another\n", false},
		{"indentation", "helpers.go", "\n\t", "\n\t\t", false},
		{"a function no case calls", "helpers.go", "\nfunc short(", "\nfunc unused() {}\n\nfunc short(", false},
		{"a row of the table", "cases.go", "\nvar cases = []testCase{\n", "\nvar cases = []testCase{\n\t{name: \"extra\", run: caseNoAliasing},\n", true},
		{"a helper a case calls", "helpers.go", "\nfunc short(s string) string {\n", "\nfunc short(s string) string {\n\ts += \"\"\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files, err := filepath.Glob("*.go")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before, err := casesHash(dir, caseRoots)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, tc.file)
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.old) {
				t.Fatalf("%s no longer holds %q: change this test's edit to one that still applies", tc.file, tc.old)
			}
			if err := os.WriteFile(name, []byte(strings.ReplaceAll(string(b), tc.old, tc.new)), 0o644); err != nil {
				t.Fatal(err)
			}
			after, err := casesHash(dir, caseRoots)
			if err != nil {
				t.Fatal(err)
			}
			if changed := after != before; changed != tc.changes {
				t.Errorf("changing %s: the hash changed: %v, want %v", tc.name, changed, tc.changes)
			}
		})
	}
}
