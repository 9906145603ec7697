package core_test

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/netabase/netabase/core"
)

// snapshot maps every file and directory beneath dir (relative names) to
// its contents; a directory maps to "<dir>".
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel] = "<dir>"
			return nil
		}
		b, err := os.ReadFile(path)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}

// writeFiles creates dir holding the named files with their contents.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func marker(engine string) string { return "netabase store\nengine " + engine + "\n" }

// Files named like each engine's own.
var (
	pebbleFiles  = map[string]string{"OPTIONS-000003": "[Version]", "marker.manifest.000001.MANIFEST-000001": "", "000002.sst": "x"}
	badgerFiles  = map[string]string{"KEYREGISTRY": "k", "000001.vlog": "v", "MANIFEST": "m"}
	leveldbFiles = map[string]string{"CURRENT": "MANIFEST-000001\n", "000005.ldb": "l", "LOG": ""}
)

func union(ms ...map[string]string) map[string]string {
	out := make(map[string]string)
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

func TestPrepareDirRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string // what the directory holds; nil means it is a file
		engine  string
		wantErr []string
	}{
		{name: "a file", engine: "pebble", wantErr: []string{"it is a file"}},
		{name: "not empty, no store", files: map[string]string{"notes.txt": "mine"}, engine: "pebble",
			wantErr: []string{"not empty and holds no store"}},
		{name: "hidden file only", files: map[string]string{".keep": ""}, engine: "pebble",
			wantErr: []string{"not empty and holds no store"}},
		{name: "badger files for pebble", files: badgerFiles, engine: "pebble", wantErr: []string{"holds a badger store", "badger:///"}},
		{name: "leveldb files for pebble", files: leveldbFiles, engine: "pebble", wantErr: []string{"holds a leveldb store", "leveldb:///"}},
		{name: "pebble files for badger", files: pebbleFiles, engine: "badger", wantErr: []string{"holds a pebble store", "pebble:///"}},
		{name: "pebble options only", files: map[string]string{"OPTIONS-000003": ""}, engine: "leveldb", wantErr: []string{"holds a pebble store"}},
		{name: "pebble marker only", files: map[string]string{"marker.manifest.000001.MANIFEST-000001": ""}, engine: "leveldb",
			wantErr: []string{"holds a pebble store"}},
		{name: "badger key registry only", files: map[string]string{"KEYREGISTRY": ""}, engine: "pebble", wantErr: []string{"holds a badger store"}},
		{name: "badger value log only", files: map[string]string{"000001.vlog": ""}, engine: "leveldb", wantErr: []string{"holds a badger store"}},
		{name: "leveldb CURRENT only", files: map[string]string{"CURRENT": ""}, engine: "badger", wantErr: []string{"holds a leveldb store"}},
		{name: "several engines", files: union(pebbleFiles, leveldbFiles), engine: "pebble",
			wantErr: []string{"several engines", "leveldb, pebble"}},
		{name: "marker names another engine", files: map[string]string{core.MarkerFile: marker("badger"), "data": "x"}, engine: "pebble",
			wantErr: []string{"holds a badger store"}},
		{name: "marker names another engine over own files", files: union(pebbleFiles, map[string]string{core.MarkerFile: marker("leveldb")}),
			engine: "pebble", wantErr: []string{"holds a leveldb store"}},
		{name: "damaged marker", files: map[string]string{core.MarkerFile: "garbage"}, engine: "pebble",
			wantErr: []string{core.MarkerFile, "damaged"}},
		{name: "marker without engine", files: map[string]string{core.MarkerFile: "netabase store\n"}, engine: "pebble",
			wantErr: []string{"damaged"}},
		{name: "empty marker", files: map[string]string{core.MarkerFile: ""}, engine: "pebble", wantErr: []string{"damaged"}},
		{name: "marker with another heading", files: map[string]string{core.MarkerFile: "some store\nengine pebble\n"}, engine: "pebble",
			wantErr: []string{"damaged"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "store")
			if tc.files == nil {
				if err := os.WriteFile(dir, []byte("a file"), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFiles(t, dir, tc.files)
			}
			before := snapshot(t, root)
			// CheckDir refuses it as PrepareDir does, and first.
			checkErr := core.CheckDir(dir, tc.engine)
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Errorf("CheckDir changed the directory:\nbefore %q\nafter  %q", before, after)
			}
			err := core.PrepareDir(dir, tc.engine)
			if err == nil {
				t.Fatal("PrepareDir accepted it")
			}
			if checkErr == nil || checkErr.Error() != err.Error() {
				t.Errorf("CheckDir: got %v, want PrepareDir's error %q", checkErr, err)
			}
			for _, s := range append(tc.wantErr, dir) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Errorf("the refusal changed the directory:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

func TestPrepareDirAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string // what the directory holds; nil means it is missing
		engine string
	}{
		{name: "missing", engine: "pebble"},
		{name: "empty", files: map[string]string{}, engine: "pebble"},
		{name: "own marker", files: map[string]string{core.MarkerFile: marker("pebble")}, engine: "pebble"},
		{name: "own marker and files", files: union(pebbleFiles, map[string]string{core.MarkerFile: marker("pebble")}), engine: "pebble"},
		{name: "own marker and other files", files: map[string]string{core.MarkerFile: marker("leveldb"), "notes": "x"}, engine: "leveldb"},
		{name: "marker with more lines", files: map[string]string{core.MarkerFile: marker("badger") + "created 2024\n"}, engine: "badger"},
		{name: "adopt pebble files", files: pebbleFiles, engine: "pebble"},
		{name: "adopt badger files", files: badgerFiles, engine: "badger"},
		{name: "adopt leveldb files", files: leveldbFiles, engine: "leveldb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "parent", "store")
			if tc.files != nil {
				writeFiles(t, dir, tc.files)
			}
			before := snapshot(t, root)
			if err := core.CheckDir(dir, tc.engine); err != nil {
				t.Fatalf("CheckDir: %v", err)
			}
			if after := snapshot(t, root); !maps.Equal(before, after) {
				t.Errorf("CheckDir changed the directory:\nbefore %q\nafter  %q", before, after)
			}
			if err := core.PrepareDir(dir, tc.engine); err != nil {
				t.Fatalf("PrepareDir: %v", err)
			}
			want := union(map[string]string{".": "<dir>", core.MarkerFile: marker(tc.engine)}, tc.files)
			if got := snapshot(t, dir); !maps.Equal(got, want) {
				t.Errorf("the directory holds %q, want %q", got, want)
			}
			// A second preparation accepts what the first left.
			if err := core.PrepareDir(dir, tc.engine); err != nil {
				t.Errorf("second PrepareDir: %v", err)
			}
			if got := snapshot(t, dir); !maps.Equal(got, want) {
				t.Errorf("after a second PrepareDir the directory holds %q, want %q", got, want)
			}
			// The marker keeps other engines out even of an empty store.
			other := "leveldb"
			if tc.engine == other {
				other = "pebble"
			}
			if err := core.PrepareDir(dir, other); err == nil || !strings.Contains(err.Error(), "holds a "+tc.engine+" store") {
				t.Errorf("PrepareDir for %s: got %v, want a refusal naming %s", other, err, tc.engine)
			}
		})
	}
}

func TestPrepareDirBeneathFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(file, "store"), filepath.Join(file, "a", "b")} {
		err := core.PrepareDir(dir, "pebble")
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("PrepareDir(%s): got %v, want an error naming the path", dir, err)
		}
		if err != nil && strings.Count(err.Error(), dir) != 1 {
			t.Errorf("PrepareDir(%s): the error %q names the path more than once", dir, err)
		}
	}
}

func TestDetectEngines(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{nil, nil},
		{[]string{"notes.txt", "LOCK", "LOG", ".keep"}, nil},
		{slices.Collect(maps.Keys(pebbleFiles)), []string{"pebble"}},
		{[]string{"marker.format-version.000001.013"}, []string{"pebble"}},
		{[]string{"OPTIONS-000007"}, []string{"pebble"}},
		{slices.Collect(maps.Keys(badgerFiles)), []string{"badger"}},
		{[]string{"MANIFEST"}, []string{"badger"}},
		{[]string{"000001.vlog"}, []string{"badger"}},
		{slices.Collect(maps.Keys(leveldbFiles)), []string{"leveldb"}},
		{[]string{"000005.ldb"}, []string{"leveldb"}},
		{[]string{"CURRENT", "KEYREGISTRY", "OPTIONS-000003"}, []string{"badger", "leveldb", "pebble"}},
		{[]string{"current", "options-1", "keyregistry"}, nil},
	} {
		if got := core.DetectEngines(tc.names); !slices.Equal(got, tc.want) {
			t.Errorf("DetectEngines(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

func TestOpenError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		inUse  bool
		unwrap error
	}{
		{"EAGAIN", &fs.PathError{Op: "open", Path: "/d/LOCK", Err: syscall.EAGAIN}, true, syscall.EAGAIN},
		{"EWOULDBLOCK", fmt.Errorf("flock: %w", syscall.EWOULDBLOCK), true, syscall.EWOULDBLOCK},
		{"lock message", errors.New("Cannot acquire directory lock on \"/d\""), true, nil},
		{"damaged", errors.New("pebble: corrupt manifest"), false, nil},
		// "block" contains "lock" but says nothing about a lock.
		{"damaged block", errors.New("leveldb: corruption on data-block (pos=0): checksum mismatch"), false, nil},
		{"block checksum", errors.New("pebble/table: block checksum mismatch"), false, nil},
		{"version", fmt.Errorf("open: %w", fs.ErrInvalid), false, fs.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := core.OpenError("/d", "pebble", tc.err)
			msg := err.Error()
			if !strings.Contains(msg, "pebble store in /d") || !strings.Contains(msg, tc.err.Error()) {
				t.Errorf("%q does not name the engine, the directory and the cause", msg)
			}
			if got := strings.Contains(msg, "in use by another process"); got != tc.inUse {
				t.Errorf("%q: says in use %v, want %v", msg, got, tc.inUse)
			}
			if got := strings.Contains(msg, "damaged"); got == tc.inUse {
				t.Errorf("%q: says damaged %v, want %v", msg, got, !tc.inUse)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap the engine's error", err)
			}
			if tc.unwrap != nil && !errors.Is(err, tc.unwrap) {
				t.Errorf("%v does not match %v", err, tc.unwrap)
			}
		})
	}
}
