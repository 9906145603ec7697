package core_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

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

// Three engines a directory may hold, known by their own files as real
// engines are (backends/all's tests check the real engines' patterns).
var (
	alpha = core.About{Scheme: "alpha", Name: "alpha", Version: "v1", Dir: true, Files: []string{"ALPHA-*", "*.alpha"}}
	beta  = core.About{Scheme: "beta", Name: "beta", Version: "v1", Dir: true, Files: []string{"BETA"}}
	gamma = core.About{Scheme: "gamma", Name: "gamma", Version: "v1", Dir: true, Files: []string{"CURRENT", "*.gamma"}}

	alphaFiles = map[string]string{"ALPHA-000003": "[Version]", "000002.alpha": "x", "LOCK": ""}
	betaFiles  = map[string]string{"BETA": "k", "000001.vlog": "v"}
	gammaFiles = map[string]string{"CURRENT": "MANIFEST-000001\n", "000005.gamma": "l", "LOG": ""}
)

// dirRegistry returns a registry of the three engines, each a driver whose
// opener prepares its directory with core.PrepareDir and opens a map
// datastore.
func dirRegistry(t *testing.T) *core.Registry {
	t.Helper()
	r := &core.Registry{}
	for _, about := range []core.About{alpha, beta, gamma} {
		open := func(_ context.Context, dir string) (ds.Batching, error) {
			if err := core.PrepareDir(dir, about); err != nil {
				return nil, err
			}
			return dssync.MutexWrap(ds.NewMapDatastore()), nil
		}
		if err := r.Register(core.NewDriver(about, func(u *url.URL) (string, error) { return core.Path(u) }, open)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func union(ms ...map[string]string) map[string]string {
	out := make(map[string]string)
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// TestStoreDirRefused: the registry refuses a directory an engine must not
// use, naming why, and the admission gate refuses it alike, without running
// the suite; neither changes anything. PrepareDir, knowing only its own
// engine, refuses it too, unless the engine's own files are among it.
func TestStoreDirRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string // what the directory holds; nil means it is a file
		engine  core.About
		wantErr []string
		// ownFiles: the directory holds engine's own files, so PrepareDir
		// alone adopts it; only the registry, knowing the others, refuses it.
		ownFiles bool
	}{
		{name: "a file", engine: alpha, wantErr: []string{"it is a file"}},
		{name: "not empty, no store", files: map[string]string{"notes.txt": "mine"}, engine: alpha,
			wantErr: []string{"not empty and holds no store"}},
		{name: "hidden file only", files: map[string]string{".keep": ""}, engine: alpha,
			wantErr: []string{"not empty and holds no store"}},
		{name: "names in another case", files: map[string]string{"current": "", "alpha-1": "", "beta": ""}, engine: alpha,
			wantErr: []string{"not empty and holds no store"}},
		{name: "beta files for alpha", files: betaFiles, engine: alpha, wantErr: []string{"holds a beta store", "beta:///"}},
		{name: "gamma files for alpha", files: gammaFiles, engine: alpha, wantErr: []string{"holds a gamma store", "gamma:///"}},
		{name: "alpha files for beta", files: alphaFiles, engine: beta, wantErr: []string{"holds a alpha store", "alpha:///"}},
		{name: "one alpha file for gamma", files: map[string]string{"ALPHA-000003": ""}, engine: gamma, wantErr: []string{"holds a alpha store"}},
		{name: "gamma CURRENT only", files: map[string]string{"CURRENT": ""}, engine: beta, wantErr: []string{"holds a gamma store"}},
		{name: "several engines", files: union(alphaFiles, gammaFiles), engine: alpha, ownFiles: true,
			wantErr: []string{"several engines", "alpha, gamma"}},
		{name: "marker names another engine", files: map[string]string{core.MarkerFile: marker("beta"), "data": "x"}, engine: alpha,
			wantErr: []string{"holds a beta store"}},
		{name: "marker names another engine over own files", files: union(alphaFiles, map[string]string{core.MarkerFile: marker("gamma")}),
			engine: alpha, wantErr: []string{"holds a gamma store"}},
		{name: "damaged marker", files: map[string]string{core.MarkerFile: "garbage"}, engine: alpha,
			wantErr: []string{core.MarkerFile, "damaged"}},
		{name: "marker without engine", files: map[string]string{core.MarkerFile: "netabase store\n"}, engine: alpha,
			wantErr: []string{"damaged"}},
		{name: "empty marker", files: map[string]string{core.MarkerFile: ""}, engine: alpha, wantErr: []string{"damaged"}},
		{name: "marker with another heading", files: map[string]string{core.MarkerFile: "some store\nengine alpha\n"}, engine: alpha,
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
			unchanged := func(who string) {
				t.Helper()
				if after := snapshot(t, root); !maps.Equal(before, after) {
					t.Errorf("%s changed the directory:\nbefore %q\nafter  %q", who, before, after)
				}
			}
			reg := dirRegistry(t)
			rawURL := tc.engine.Scheme + "://" + dir
			_, err := reg.Open(t.Context(), rawURL)
			if err == nil {
				t.Fatal("Registry.Open accepted it")
			}
			for _, s := range append(tc.wantErr, dir) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			unchanged("Registry.Open")

			s := &fakeSuite{version: "s1", verdict: fakeVerdict{passed: true}}
			g := &core.Gate{Registry: reg, Suite: s}
			if _, _, gateErr := g.Admit(t.Context(), rawURL); gateErr == nil || gateErr.Error() != err.Error() {
				t.Errorf("Gate.Admit: got %v, want Registry.Open's error %q", gateErr, err)
			}
			if s.runs != 0 {
				t.Errorf("the suite ran %d times before the store was refused", s.runs)
			}
			unchanged("Gate.Admit")

			if err := core.PrepareDir(dir, tc.engine); (err == nil) != tc.ownFiles {
				t.Errorf("PrepareDir alone: got %v", err)
			}
			if !tc.ownFiles {
				unchanged("PrepareDir")
			}
		})
	}
}

func TestStoreDirAccepted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string // what the directory holds; nil means it is missing
		engine core.About
	}{
		{name: "missing", engine: alpha},
		{name: "empty", files: map[string]string{}, engine: alpha},
		{name: "own marker", files: map[string]string{core.MarkerFile: marker("alpha")}, engine: alpha},
		{name: "own marker and files", files: union(alphaFiles, map[string]string{core.MarkerFile: marker("alpha")}), engine: alpha},
		{name: "own marker and other files", files: map[string]string{core.MarkerFile: marker("gamma"), "notes": "x"}, engine: gamma},
		{name: "marker with more lines", files: map[string]string{core.MarkerFile: marker("beta") + "created 2024\n"}, engine: beta},
		{name: "adopt alpha files", files: alphaFiles, engine: alpha},
		{name: "adopt beta files", files: betaFiles, engine: beta},
		{name: "adopt gamma files", files: gammaFiles, engine: gamma},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "parent", "store")
			if tc.files != nil {
				writeFiles(t, dir, tc.files)
			}
			reg := dirRegistry(t)
			open := func(engine core.About) error {
				b, err := reg.Open(t.Context(), engine.Scheme+"://"+dir)
				if err == nil {
					err = b.Close()
				}
				return err
			}
			if err := open(tc.engine); err != nil {
				t.Fatalf("Registry.Open: %v", err)
			}
			want := union(map[string]string{".": "<dir>", core.MarkerFile: marker(tc.engine.Name)}, tc.files)
			if got := snapshot(t, dir); !maps.Equal(got, want) {
				t.Errorf("the directory holds %q, want %q", got, want)
			}
			// A second opening accepts what the first left.
			if err := open(tc.engine); err != nil {
				t.Errorf("second Registry.Open: %v", err)
			}
			if got := snapshot(t, dir); !maps.Equal(got, want) {
				t.Errorf("after a second Registry.Open the directory holds %q, want %q", got, want)
			}
			// The marker keeps other engines out even of an empty store,
			// and so even PrepareDir alone refuses them.
			other := gamma
			if tc.engine.Name == other.Name {
				other = alpha
			}
			if err := open(other); err == nil || !strings.Contains(err.Error(), "holds a "+tc.engine.Name+" store") {
				t.Errorf("Registry.Open for %s: got %v, want a refusal naming %s", other.Name, err, tc.engine.Name)
			}
			if err := core.PrepareDir(dir, other); err == nil || !strings.Contains(err.Error(), "holds a "+tc.engine.Name+" store") {
				t.Errorf("PrepareDir for %s: got %v, want a refusal naming %s", other.Name, err, tc.engine.Name)
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
		err := core.PrepareDir(dir, alpha)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("PrepareDir(%s): got %v, want an error naming the path", dir, err)
		}
		if err != nil && strings.Count(err.Error(), dir) != 1 {
			t.Errorf("PrepareDir(%s): the error %q names the path more than once", dir, err)
		}
	}
}

func TestRegisterRefusesBadFilePattern(t *testing.T) {
	bad := alpha
	bad.Files = []string{"OK-*", "[unclosed"}
	d := core.NewDriver(bad, func(u *url.URL) (string, error) { return core.Path(u) },
		func(context.Context, string) (ds.Batching, error) { return nil, errors.New("not reached") })
	var r core.Registry
	if err := r.Register(d); err == nil || !strings.Contains(err.Error(), `file pattern "[unclosed"`) {
		t.Errorf("Register of a driver with a malformed file pattern: got %v", err)
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
