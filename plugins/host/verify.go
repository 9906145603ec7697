package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
)

// exePath names the program a process runs: on Linux, /proc/<pid>/exe
// opens the file the process executed, even when its path has since been
// given to another file.
var exePath = func(pid int) string { return "/proc/" + strconv.Itoa(pid) + "/exe" }

// checkRunning verifies that the process pid, started from path, runs the
// binary whose SHA-256 checksum is sum. go-plugin checks the file at path
// and then executes path, so a file put there in between would otherwise
// run unchecked. Where the running program cannot be opened (not Linux,
// no /proc), the check of the path is all there is; so it is for a script
// (a file starting with "#!"), whose process runs its interpreter: when
// the file at path is a script with checksum sum, the check passes.
func checkRunning(pid int, path string, sum []byte) error {
	if runtime.GOOS != "linux" {
		return nil
	}
	f, err := os.Open(exePath(pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("refusing plugin %s: cannot read the program its process (pid %d) runs, to check it is the pinned binary: %v", path, pid, err)
	}
	got := h.Sum(nil)
	if bytes.Equal(got, sum) || pinnedScript(path, sum) {
		return nil
	}
	return &ChecksumError{Path: path, Want: hex.EncodeToString(sum), Got: hex.EncodeToString(got), PID: pid}
}

// pinnedScript reports whether the file at path starts with "#!" and has
// checksum sum.
func pinnedScript(path string, sum []byte) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	head := make([]byte, 2)
	if _, err := io.ReadFull(io.TeeReader(f, h), head); err != nil || string(head) != "#!" {
		return false
	}
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return bytes.Equal(h.Sum(nil), sum)
}
