package core

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
)

// ProgramBuild names the build of the running program, which holds the
// code of every in-tree backend: the module's revision and a digest of its
// build information when the program was built from a clean checkout;
// else the SHA-256 of its executable; else (no executable to read, as in
// a browser) a random name, so that no admission certificate outlives this
// run. [About.Info] adds it to an in-tree backend's build, so that a
// certificate kept for all of a user's nodes holds for one netabase build,
// not for every program that links the same engine library. It is worked
// out once per run.
func ProgramBuild() string { return programBuild() }

var programBuild = sync.OnceValue(identifyProgram)

func identifyProgram() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" && modified == "false" {
			// Settings (tags, flags, toolchain) and dependencies' sums
			// tell builds of one revision apart.
			sum := sha256.Sum256([]byte(bi.String()))
			return fmt.Sprintf("program %s at %s, build information sha256:%s", bi.Main.Path, rev, hex.EncodeToString(sum[:]))
		}
	}
	if sum, err := executableSum(); err == nil {
		return "program sha256:" + sum
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return "an unidentified program (this run only: " + hex.EncodeToString(id[:]) + ")"
}

// executableSum is the SHA-256 of the running program's executable, in hex.
func executableSum() (string, error) {
	path, err := os.Executable()
	if err != nil {
		return "", err
	}
	return FileChecksum(path)
}

// FileChecksum returns the hex SHA-256 checksum of the file at path: what
// pins a plugin binary, and names a program's build when it has no VCS
// revision.
func FileChecksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
