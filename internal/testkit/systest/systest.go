// Package systest is for tests that need a system package the Go toolchain
// does not bring: Python's gRPC, a PostgreSQL server, Chromium. Under a plain
// `go test ./...` such a test skips when its package is missing and says to
// run scripts/test.sh; under scripts/test.sh, which installs them and sets
// NETABASE_SYSTEM_TESTS=1, it fails instead, so CI never skips it.
package systest

import (
	"io"
	"os"
	"os/exec"
	"testing"
)

// Env is the variable scripts/test.sh sets.
const Env = "NETABASE_SYSTEM_TESTS"

// Need skips or fails t when err says that what (a package or program,
// named as a user would install it) is missing.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(Env) == "1" {
		t.Fatalf("%s is missing although scripts/test.sh installs it: %v", what, err)
	}
	t.Skipf("%s is missing (%v); scripts/test.sh installs it and runs this test", what, err)
}

// LookPath returns the path of the program file, or skips or fails t
// (see Need) naming pkg, the Debian package that provides it.
func LookPath(t testing.TB, file, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(file)
	Need(t, "Debian package "+pkg, err)
	return p
}

// CopySelf copies the running test binary to path, executable by all (the
// umask notwithstanding), so that a test can run it as another user.
func CopySelf(t testing.TB, path string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
}
