package core

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode"
)

// MarkerFile is the file core writes into every store directory it prepares,
// naming the engine whose files the directory holds.
const MarkerFile = "NETABASE-STORE"

// PrepareDir makes dir ready for the files of engine, the About of a driver
// whose URLs name a directory, and refuses anything that could lose data. It
// creates dir when missing. It fails, changing nothing, when dir is not a
// directory, is not writable, is marked as another engine's, or is not empty
// yet holds neither a marker nor files of engine's own (engine.Files). On
// success dir holds a marker naming engine.Name.
//
// PrepareDir knows no engine but engine, so it refuses an unmarked store
// another engine's library made only as a directory that is not empty, and
// does not see one among engine's own files. A [Registry] knows the other
// engines: [Registry.Open] and [Gate.Admit] refuse those directories too,
// naming the engine, before a driver's opener runs PrepareDir.
//
// dir must be an absolute path; a relative or empty one is an error wrapping
// ErrInvalidURL.
func PrepareDir(dir string, engine About) error {
	state, err := checkDir(dir, engine, nil)
	switch {
	case err != nil:
		return err
	case state == dirMissing:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create the %s store directory %s: %w", engine.Name, dir, unwrapPath(err))
		}
		return writeMarker(dir, engine.Name)
	case state == dirUnmarked:
		return writeMarker(dir, engine.Name)
	}
	return nil
}

// dirState is what checkDir found in an acceptable directory.
type dirState int

const (
	dirMissing  dirState = iota // no directory yet
	dirUnmarked                 // empty, or the engine's files without a marker
	dirMarked                   // the engine's marker is there
)

// checkDir is PrepareDir's judgement of dir for engine, without its
// writes, knowing the files of the engines in known besides engine's own.
// Its only trace is the writability probe, a file it creates and removes in
// an accepted directory.
func checkDir(dir string, engine About, known []About) (dirState, error) {
	name := engine.Name
	if !filepath.IsAbs(dir) {
		return 0, InvalidURL(&url.URL{Scheme: name, Path: dir}, "needs an absolute path, as in %s:///abs/path", name)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return dirMissing, nil
	case err != nil:
		return 0, fmt.Errorf("cannot use %s as a %s store: %w", dir, name, unwrapPath(err))
	case !fi.IsDir():
		return 0, fmt.Errorf("cannot use %s as a %s store: it is a file, not a directory; choose a directory path", dir, name)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("cannot read the %s store directory %s: %w", name, dir, unwrapPath(err))
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	owner := ""
	marked := slices.Contains(names, MarkerFile)
	if marked {
		b, err := os.ReadFile(filepath.Join(dir, MarkerFile))
		if err != nil {
			return 0, fmt.Errorf("cannot read %s: %w", filepath.Join(dir, MarkerFile), unwrapPath(err))
		}
		owner = parseMarker(b)
		if owner == "" {
			return 0, fmt.Errorf("cannot use %s as a %s store: its %s file is damaged; nothing was changed", dir, name, MarkerFile)
		}
	} else if found := engineFiles(names, append([]About{engine}, known...)); len(found) > 1 {
		return 0, fmt.Errorf("cannot use %s as a %s store: it holds files of several engines (%s); nothing was changed; move them apart by hand",
			dir, name, strings.Join(found, ", "))
	} else if len(found) == 1 {
		owner = found[0]
	} else if len(names) > 0 {
		return 0, fmt.Errorf("cannot use %s as a %s store: the directory is not empty and holds no store; choose an empty or new directory", dir, name)
	}
	if owner != "" && owner != name {
		return 0, fmt.Errorf("cannot use %s as a %s store: it holds a %s store; open it with %s:///%s or choose another directory; nothing was changed",
			dir, name, owner, owner, strings.TrimPrefix(dir, "/"))
	}
	if err := probeWritable(dir, name); err != nil {
		return 0, err
	}
	if marked {
		return dirMarked, nil
	}
	return dirUnmarked, nil
}

// engineFiles names, sorted, the engines among engines whose own files
// ([About.Files]) appear among names, the entries of one directory.
func engineFiles(names []string, engines []About) []string {
	var out []string
	for _, e := range engines {
		if !slices.Contains(out, e.Name) && slices.ContainsFunc(names, e.ownsFile) {
			out = append(out, e.Name)
		}
	}
	slices.Sort(out)
	return out
}

// ownsFile reports whether name matches one of the engine's file patterns.
// A malformed pattern matches nothing; Register refuses a driver with one.
func (a About) ownsFile(name string) bool {
	return slices.ContainsFunc(a.Files, func(pattern string) bool {
		ok, _ := path.Match(pattern, name)
		return ok
	})
}

func markerText(engine string) string {
	return "netabase store\nengine " + engine + "\n"
}

func parseMarker(b []byte) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 || lines[0] != "netabase store" {
		return ""
	}
	engine, ok := strings.CutPrefix(lines[1], "engine ")
	if !ok {
		return ""
	}
	return engine
}

func writeMarker(dir, engine string) error {
	if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(markerText(engine)), 0o600); err != nil {
		return fmt.Errorf("cannot write to the %s store directory %s: %w", engine, dir, unwrapPath(err))
	}
	return nil
}

func probeWritable(dir, engine string) error {
	f, err := os.CreateTemp(dir, ".netabase-probe-*")
	if err != nil {
		return fmt.Errorf("cannot use %s as a %s store: the directory is not writable: %w", dir, engine, unwrapPath(err))
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// unwrapPath drops the *fs.PathError layer, whose path the caller's message
// already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// OpenError explains why an engine failed to open the store in dir: another
// process holds its lock, its disk is full, the engine failed (the error
// says how), or its files are damaged or of another version.
func OpenError(dir, engine string, err error) error {
	switch {
	case errors.Is(err, ErrFailed): // it says what happened and what to do
		return fmt.Errorf("cannot open the %s store in %s: %w", engine, dir, err)
	case isDiskFull(err):
		return fmt.Errorf("cannot open the %s store in %s: the disk that holds it is full; free space on it, then start again: %w", engine, dir, err)
	}
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) ||
		mentionsLock(err.Error()) {
		return fmt.Errorf("cannot open the %s store in %s: it is in use by another process (its lock is held); stop that process or choose another directory: %w",
			engine, dir, err)
	}
	return fmt.Errorf("cannot open the %s store in %s: its files are damaged or were written by an incompatible version; nothing was changed; restore the directory from a backup or choose another one: %w",
		engine, dir, err)
}

// mentionsLock reports whether msg has the word "lock", as in badger's
// "Cannot acquire directory lock"; a "block" or "unlock" is no lock error.
func mentionsLock(msg string) bool {
	return slices.Contains(strings.FieldsFunc(msg, func(r rune) bool { return !unicode.IsLetter(r) }), "lock")
}
