// Package tmpfs mounts small RAM file systems for tests that need a disk
// that fills up: writes past its size fail with ENOSPC, as on a full disk
// (a file-size limit would give EFBIG instead).
package tmpfs

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// Mount mounts a tmpfs of size (such as "2m") on a new directory and
// returns it; the test's cleanup unmounts it. Mounting needs root on
// Linux (CI runs these tests as root); elsewhere, or when the mount is not
// permitted, the test is skipped saying so.
func Mount(t testing.TB, size string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("a small tmpfs needs Linux, this is %s", runtime.GOOS)
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a %s tmpfs on %s (needs root; CI runs as root): %v: %s", size, dir, err, strings.TrimSpace(string(out)))
	}
	// Registered after TempDir's, so it runs before the directory's
	// removal; lazy, so a store left open cannot keep it mounted.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting the tmpfs on %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
		}
	})
	return dir
}
