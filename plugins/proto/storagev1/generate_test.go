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

// TestGeneratedCodeIsFresh regenerates the code from the .proto into a
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
	want, err := filepath.Glob(filepath.Join(out, "storagev1", "*.pb.go"))
	if err != nil || len(want) == 0 {
		t.Fatalf("the generator wrote no files under %s: %v", out, err)
	}
	have, err := filepath.Glob("*.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != len(want) {
		t.Errorf("the committed *.pb.go files are %v; the generator writes %d files", have, len(want))
	}
	for _, w := range want {
		fresh, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Base(w))
		if err != nil {
			t.Errorf("%s is not committed: %v", filepath.Base(w), err)
			continue
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("%s is stale against the .proto: run plugins/proto/generate.sh and commit the result", filepath.Base(w))
		}
	}
}
