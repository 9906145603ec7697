package storagev1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates the code of every protocol version
// from the .proto files into a
// temporary directory, offline, and compares it with the committed files.
// When the generator's modules are not in the module cache it cannot run
// offline, and the test says so loudly and is skipped.
func TestGeneratedCodeIsFresh(t *testing.T) {
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	out := t.TempDir()
	cmd := exec.Command(goCmd, "run", ".", "-out", out)
	cmd.Dir = filepath.Join("..", "gen")
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS="+os.Getenv("GOFLAGS")+" -mod=readonly")
	output, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(output), "GOPROXY=off") || strings.Contains(string(output), "module lookup disabled") {
			t.Skipf("\n*** THE GENERATOR IS NOT AVAILABLE OFFLINE: the staleness check of plugins/proto did NOT run. ***\n"+
				"*** Run plugins/proto/generate.sh once (it downloads the pinned generator modules). ***\n%s", output)
		}
		t.Fatalf("running the generator: %v\n%s", err, output)
	}
	for _, pkg := range []string{"storagev1", "storagev2", "storagev3"} {
		compareGenerated(t, filepath.Join(out, pkg), filepath.Join("..", pkg))
	}
}

// compareGenerated compares the files the generator wrote under fresh with
// the committed ones under committed.
func compareGenerated(t *testing.T, fresh, committed string) {
	t.Helper()
	want, err := filepath.Glob(filepath.Join(fresh, "*.pb.go"))
	if err != nil || len(want) == 0 {
		t.Fatalf("the generator wrote no files under %s: %v", fresh, err)
	}
	have, err := filepath.Glob(filepath.Join(committed, "*.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != len(want) {
		t.Errorf("the committed *.pb.go files are %v; the generator writes %d files", have, len(want))
	}
	for _, w := range want {
		got, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(committed, filepath.Base(w))
		old, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%s is not committed: %v", name, err)
			continue
		}
		if !bytes.Equal(got, old) {
			t.Errorf("%s is stale against the .proto: run plugins/proto/generate.sh and commit the result", name)
		}
	}
}
