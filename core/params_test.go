package core_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core"
)

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return u
}

// readAll reads the parameters a typical file-backed driver accepts.
func readAll(p *core.Params) []any {
	return []any{
		p.Bool("sync", false),
		p.Int("cache", 8),
		p.Bytes("block", 4096),
		p.String("mode", "fast"),
	}
}

func readTimeout(p *core.Params) []any {
	return []any{p.Duration("timeout", 30*time.Second)}
}

func TestParams(t *testing.T) {
	defaults := []any{false, 8, int64(4096), "fast"}
	for _, tc := range []struct {
		name string
		url  string
		read func(*core.Params) []any
		want []any
		// wantErr lists what the error names; nil means no error.
		wantErr []string
		// notInErr lists what the error must not show.
		notInErr []string
	}{
		{name: "defaults", url: "pebble:///d", read: readAll, want: defaults},
		{name: "all given", url: "pebble:///d?sync=true&cache=0&block=64MiB&mode=slow", read: readAll,
			want: []any{true, 0, int64(64 << 20), "slow"}},
		{name: "bool forms", url: "pebble:///d?sync=1", read: readAll, want: []any{true, 8, int64(4096), "fast"}},
		{name: "bool false", url: "pebble:///d?sync=false", read: readAll, want: defaults},
		{name: "plain bytes", url: "pebble:///d?block=65536", read: readAll, want: []any{false, 8, int64(65536), "fast"}},
		{name: "KiB", url: "pebble:///d?block=3KiB", read: readAll, want: []any{false, 8, int64(3 << 10), "fast"}},
		{name: "GiB", url: "pebble:///d?block=2GiB", read: readAll, want: []any{false, 8, int64(2 << 30), "fast"}},
		{name: "empty string", url: "pebble:///d?mode=", read: readAll, want: []any{false, 8, int64(4096), ""}},
		{name: "escaped string", url: "pebble:///d?mode=a%20b%26c", read: readAll, want: []any{false, 8, int64(4096), "a b&c"}},
		{name: "bad bool", url: "pebble:///d?sync=maybe", read: readAll, want: defaults,
			wantErr: []string{`"sync"`, `"maybe"`}},
		{name: "negative int", url: "pebble:///d?cache=-1", read: readAll, want: defaults,
			wantErr: []string{`"cache"`, `"-1"`}},
		{name: "bad int", url: "pebble:///d?cache=lots", read: readAll, want: defaults,
			wantErr: []string{`"cache"`, `"lots"`}},
		{name: "bad size unit", url: "pebble:///d?block=1TB", read: readAll, want: defaults,
			wantErr: []string{`"block"`, `"1TB"`}},
		{name: "negative size", url: "pebble:///d?block=-1KiB", read: readAll, want: defaults,
			wantErr: []string{`"block"`}},
		{name: "size overflow", url: "pebble:///d?block=9999999999999GiB", read: readAll, want: defaults,
			wantErr: []string{`"block"`}},
		{name: "empty size", url: "pebble:///d?block=", read: readAll, want: defaults,
			wantErr: []string{`"block"`}},
		{name: "duplicate", url: "pebble:///d?sync=true&sync=false", read: readAll, want: []any{true, 8, int64(4096), "fast"},
			wantErr: []string{`"sync"`, "2 times"}},
		{name: "unknown", url: "pebble:///d?sync=true&colour=red&cach=1", read: readAll, want: []any{true, 8, int64(4096), "fast"},
			wantErr: []string{`"cach", "colour"`, "pebble backend", "only sync, cache, block, mode"}},
		{name: "unknown with none accepted", url: "memory://?x=1", read: func(*core.Params) []any { return nil },
			wantErr: []string{`"x"`, "memory backend accepts no parameters"}},
		{name: "malformed query", url: "pebble:///d?sync=%zz", read: readAll, want: defaults,
			wantErr: []string{"malformed query"}},
		{name: "several problems", url: "pebble:///d?sync=maybe&cache=x&extra=1", read: readAll, want: defaults,
			wantErr: []string{`"sync"`, `"cache"`, `"extra"`}},
		{name: "duration", url: "pebble:///d?timeout=1m30s", read: readTimeout, want: []any{90 * time.Second}},
		{name: "zero duration", url: "pebble:///d?timeout=0", read: readTimeout, want: []any{time.Duration(0)}},
		{name: "default duration", url: "pebble:///d", read: readTimeout, want: []any{30 * time.Second}},
		{name: "negative duration", url: "pebble:///d?timeout=-1s", read: readTimeout, want: []any{30 * time.Second},
			wantErr: []string{`"timeout"`, `"-1s"`}},
		{name: "bad duration", url: "pebble:///d?timeout=soon", read: readTimeout, want: []any{30 * time.Second},
			wantErr: []string{`"timeout"`, `"soon"`}},
		{name: "duration without unit", url: "pebble:///d?timeout=90", read: readTimeout, want: []any{30 * time.Second},
			wantErr: []string{`"timeout"`}},
		{name: "password redacted", url: "plugin://user:hunter2@host/p?x=1", read: readAll, want: defaults,
			wantErr: []string{`"x"`, "user:xxxxx@host"}, notInErr: []string{"hunter2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := core.NewParams(mustParse(t, tc.url))
			if got := tc.read(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("read %#v, want %#v", got, tc.want)
			}
			err := p.Err()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Err: %v", err)
				}
				return
			}
			if !errors.Is(err, core.ErrInvalidURL) {
				t.Fatalf("Err: got %v, want an error matching core.ErrInvalidURL", err)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			for _, s := range tc.notInErr {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows %q", err, s)
				}
			}
		})
	}
}

func TestInvalidURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"plugin://u:secret@h/x", "invalid storage URL plugin://u:xxxxx@h/x: bad thing"},
		{"memory://?a=b", "invalid storage URL memory://?a=b: bad thing"},
		{"memory://", "invalid storage URL memory://: bad thing"},
		{"pebble:///abs?a=b", "invalid storage URL pebble:///abs?a=b: bad thing"},
	} {
		err := core.InvalidURL(mustParse(t, tc.url), "bad %s", "thing")
		if !errors.Is(err, core.ErrInvalidURL) {
			t.Errorf("%v does not match core.ErrInvalidURL", err)
		}
		if err.Error() != tc.want {
			t.Errorf("got %q, want %q", err, tc.want)
		}
	}
}

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		name    string
		u       *url.URL
		want    string
		wantErr string // what the error names; "" means no error
	}{
		{name: "absolute", u: &url.URL{Scheme: "pebble", Path: "/var/lib/netabase"}, want: "/var/lib/netabase"},
		{name: "cleaned", u: &url.URL{Scheme: "pebble", Path: "/var//lib/./x/../netabase/"}, want: "/var/lib/netabase"},
		{name: "root", u: &url.URL{Scheme: "pebble", Path: "/"}, want: "/"},
		{name: "host given", u: &url.URL{Scheme: "pebble", Host: "data", Path: "/x"}, wantErr: `host "data"`},
		{name: "host only", u: &url.URL{Scheme: "pebble", Host: "data"}, wantErr: "pebble:///abs/path"},
		{name: "relative", u: &url.URL{Scheme: "leveldb", Path: "rel/path"}, wantErr: "leveldb:///abs/path"},
		{name: "opaque", u: &url.URL{Scheme: "badger", Opaque: "rel/path"}, wantErr: "absolute path"},
		{name: "empty", u: &url.URL{Scheme: "pebble"}, wantErr: "absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := core.Path(tc.u)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Path(%s) = %q, %v; want %q", tc.u, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, core.ErrInvalidURL) || !strings.Contains(err.Error(), tc.wantErr) || got != "" {
				t.Fatalf("Path(%s) = %q, %v; want an error matching core.ErrInvalidURL naming %q", tc.u, got, err, tc.wantErr)
			}
		})
	}
	u := mustParse(t, "pebble://data/x")
	if _, err := core.Path(u); err == nil {
		t.Errorf("Path(%s): no error for a URL with a host", u)
	}
	// One form for a path, whatever the backend: leveldb:/abs is refused
	// as badger://relative is.
	u = mustParse(t, "leveldb:/abs/path")
	if _, err := core.Path(u); !errors.Is(err, core.ErrInvalidURL) || !strings.Contains(err.Error(), "leveldb:///abs/path") {
		t.Errorf("Path(%s) = %v; want an error showing leveldb:///abs/path", u, err)
	}
}

// fakeDriver opens map datastores and describes them as info says.
type fakeDriver struct {
	scheme      string
	info        core.Info
	describeErr error // returned by Describe when set
	openErr     error // returned by Open when set
	opened      []*closeCounter
}

// closeCounter is a map datastore that counts its Close calls.
type closeCounter struct {
	*dssync.MutexDatastore
	closes int
}

func (c *closeCounter) Close() error {
	c.closes++
	return c.MutexDatastore.Close()
}

func newFakeDriver(scheme string) *fakeDriver {
	return &fakeDriver{scheme: scheme, info: core.Info{Name: scheme + "-engine", Version: "v1.0.0", Build: "build-1"}}
}

func (d *fakeDriver) About() core.About {
	return core.About{Scheme: d.scheme, Name: d.info.Name, Version: d.info.Version,
		Capabilities: d.info.Capabilities, Form: d.scheme + "://"}
}

func (d *fakeDriver) Describe(context.Context, *url.URL) (core.Info, error) {
	if d.describeErr != nil {
		return core.Info{}, d.describeErr
	}
	return d.info, nil
}

func (d *fakeDriver) Open(context.Context, *url.URL) (ds.Batching, error) {
	if d.openErr != nil {
		return nil, d.openErr
	}
	c := &closeCounter{MutexDatastore: dssync.MutexWrap(ds.NewMapDatastore())}
	d.opened = append(d.opened, c)
	return c, nil
}

func (d *fakeDriver) Scratch(_ context.Context, _ *url.URL, root string) (*url.URL, func() error, error) {
	return &url.URL{Scheme: d.scheme, Path: root}, func() error { return nil }, nil
}

func schemes(ds []core.Driver) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.About().Scheme
	}
	return out
}

func TestRegistryRegister(t *testing.T) {
	var r core.Registry
	if got := r.Drivers(); len(got) != 0 {
		t.Errorf("an empty registry lists %q", schemes(got))
	}
	for _, s := range []string{"pebble", "badger", "memory", "leveldb"} {
		if err := r.Register(newFakeDriver(s)); err != nil {
			t.Fatalf("Register(%s): %v", s, err)
		}
	}
	if got, want := schemes(r.Drivers()), []string{"badger", "leveldb", "memory", "pebble"}; !slices.Equal(got, want) {
		t.Errorf("Drivers() = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		scheme  string
		wantErr string
	}{
		{"pebble", `"pebble" is registered twice`},
		{"", "non-empty lower-case"},
		{"Pebble2", "non-empty lower-case"},
	} {
		if err := r.Register(newFakeDriver(tc.scheme)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Register(%q): got %v, want an error containing %q", tc.scheme, err, tc.wantErr)
		}
	}
	if got := len(r.Drivers()); got != 4 {
		t.Errorf("after refused registrations the registry holds %d drivers, want 4", got)
	}
}

func TestRegistryResolve(t *testing.T) {
	var empty core.Registry
	if _, _, err := empty.Resolve("/data"); !errors.Is(err, core.ErrInvalidURL) || !strings.Contains(err.Error(), "(none registered)") {
		t.Errorf("Resolve on an empty registry: got %v", err)
	}

	var r core.Registry
	mem, peb := newFakeDriver("memory"), newFakeDriver("pebble")
	for _, d := range []core.Driver{peb, mem} {
		if err := r.Register(d); err != nil {
			t.Fatal(err)
		}
	}
	u, d, err := r.Resolve("pebble:///var/data?sync=true")
	if err != nil || d != core.Driver(peb) || u.Path != "/var/data" || u.RawQuery != "sync=true" {
		t.Errorf("Resolve(pebble:///var/data?sync=true) = %v, %v, %v", u, d, err)
	}
	for _, tc := range []struct {
		name, url string
		wantErr   []string
		notInErr  string
	}{
		{"no scheme", "/var/data", []string{"no scheme", "memory://, pebble://"}, ""},
		{"empty", "", []string{"no scheme", "memory://, pebble://"}, ""},
		{"unknown scheme", "bolt:///var/data", []string{`unknown scheme "bolt"`, "memory://, pebble://"}, ""},
		{"unknown scheme with password", "bolt://u:hunter2@h/d", []string{`unknown scheme "bolt"`}, "hunter2"},
		{"unparsable", "pebble://[bad", []string{"pebble://[bad"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, d, err := r.Resolve(tc.url)
			if !errors.Is(err, core.ErrInvalidURL) || u != nil || d != nil {
				t.Fatalf("got %v, %v, %v; want an error matching core.ErrInvalidURL", u, d, err)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if tc.notInErr != "" && strings.Contains(err.Error(), tc.notInErr) {
				t.Errorf("error %q shows %q", err, tc.notInErr)
			}
		})
	}
}

func TestRegistryOpen(t *testing.T) {
	ctx := context.Background()
	var r core.Registry
	d := newFakeDriver("fake")
	if err := r.Register(d); err != nil {
		t.Fatal(err)
	}
	b, err := r.Open(ctx, "fake://")
	if err != nil {
		t.Fatal(err)
	}
	if b.Info() != d.info {
		t.Errorf("Info() = %+v, want %+v", b.Info(), d.info)
	}
	if err := b.Put(ctx, keyA, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, keyA); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Get after Close: %v; want core.ErrClosed: the backend is not wrapped by core", err)
	}

	if _, err := r.Open(ctx, "nope://"); !errors.Is(err, core.ErrInvalidURL) {
		t.Errorf("Open(nope://): got %v, want core.ErrInvalidURL", err)
	}
	d.describeErr = errBoom
	if _, err := r.Open(ctx, "fake://"); !errors.Is(err, errBoom) {
		t.Errorf("Open with a failing Describe: got %v, want its error", err)
	}
	d.describeErr, d.openErr = nil, errBoom
	if _, err := r.Open(ctx, "fake://"); !errors.Is(err, errBoom) {
		t.Errorf("Open with a failing Open: got %v, want its error", err)
	}

	// A driver that declares a capability its engine lacks is refused, and
	// the engine it opened is closed.
	d.openErr = nil
	d.info.Capabilities.TTL = true
	n := len(d.opened)
	if _, err := core.OpenURL(ctx, d, mustParse(t, "fake://")); !errors.Is(err, core.ErrRejected) {
		t.Fatalf("OpenURL of an engine lacking a declared capability: got %v, want core.ErrRejected", err)
	}
	if len(d.opened) != n+1 || d.opened[n].closes != 1 {
		t.Errorf("the refused engine was not closed exactly once")
	}
}

func TestAboutInfo(t *testing.T) {
	a := core.About{Scheme: "pebble", Name: "pebble", Version: "go-ds-pebble v0.5.13",
		Capabilities: core.Capabilities{Persistent: true}}
	want := core.Info{Name: "pebble", Version: "go-ds-pebble v0.5.13", Build: "go-ds-pebble v0.5.13, " + core.ProgramBuild(),
		Capabilities: core.Capabilities{Persistent: true}}
	if got := a.Info(); got != want {
		t.Errorf("Info() = %+v, want %+v", got, want)
	}
}

// TestProgramBuild: an in-tree backend's build names the program's build,
// here (a test binary, which carries no VCS revision) the SHA-256 of the
// running executable, so that a certificate holds for one program.
func TestProgramBuild(t *testing.T) {
	if bi, ok := debug.ReadBuildInfo(); ok && slices.ContainsFunc(bi.Settings, func(s debug.BuildSetting) bool { return s.Key == "vcs.revision" }) {
		t.Fatalf("the test binary carries a VCS revision; this test expects the executable's digest")
	}
	want := core.ProgramBuild()
	if path, err := os.Executable(); err != nil {
		// js/wasm has no executable to read: the build is a name for this
		// run, the same for every call in it.
		if !strings.HasPrefix(want, "an unidentified program (this run only: ") {
			t.Errorf("ProgramBuild() = %q with no executable (%v), want a name for this run", want, err)
		}
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if digest := "program sha256:" + hex.EncodeToString(sum[:]); want != digest {
			t.Errorf("ProgramBuild() = %q, want %q", want, digest)
		}
	}
	if again := core.ProgramBuild(); again != want {
		t.Errorf("ProgramBuild() changed within a run: %q, then %q", want, again)
	}
	if got := (core.About{Version: "v1"}).Info().Build; got != "v1, "+want {
		t.Errorf("an in-tree backend's build is %q, want its version and the program's build", got)
	}
}

type testOptions struct {
	path string
	sync bool
}

func TestNewDriver(t *testing.T) {
	parse := func(u *url.URL) (testOptions, error) {
		p := core.NewParams(u)
		opts := testOptions{sync: p.Bool("sync", false)}
		if err := p.Err(); err != nil {
			return testOptions{}, err
		}
		path, err := core.Path(u)
		opts.path = path
		return opts, err
	}
	var opened []testOptions
	open := func(_ context.Context, o testOptions) (ds.Batching, error) {
		opened = append(opened, o)
		return dssync.MutexWrap(ds.NewMapDatastore()), nil
	}
	about := core.About{Scheme: "disk", Name: "disk", Version: "v1", Capabilities: core.Capabilities{Persistent: true}, Dir: true}
	d := core.NewDriver(about, parse, open)
	ctx := context.Background()

	if !reflect.DeepEqual(d.About(), about) {
		t.Errorf("About() = %+v, want %+v", d.About(), about)
	}
	u := mustParse(t, "disk:///var/data?sync=true")
	if info, err := d.Describe(ctx, u); err != nil || info != about.Info() {
		t.Errorf("Describe = %+v, %v; want %+v", info, err, about.Info())
	}
	if _, err := d.Open(ctx, u); err != nil || !slices.Equal(opened, []testOptions{{"/var/data", true}}) {
		t.Errorf("Open: %v; the engine was opened with %+v", err, opened)
	}
	root := t.TempDir()
	s, destroy, err := d.Scratch(ctx, u, root)
	if err != nil {
		t.Fatalf("Scratch: %v", err)
	}
	dir := filepath.Dir(s.Path)
	if want := "disk://" + filepath.Join(dir, "disk") + "?sync=true"; s.String() != want || filepath.Dir(dir) != root {
		t.Errorf("Scratch = %v; want %s, in a new directory under %s", s, want, root)
	}
	if u.String() != "disk:///var/data?sync=true" {
		t.Errorf("Scratch changed its URL to %v", u)
	}
	if err := destroy(); err != nil {
		t.Errorf("destroying the scratch store: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after destroy the scratch directory %s is still there (%v)", dir, err)
	}

	bad := mustParse(t, "disk:///var/data?colour=red")
	if _, err := d.Describe(ctx, bad); !errors.Is(err, core.ErrInvalidURL) {
		t.Errorf("Describe of a bad URL: got %v, want core.ErrInvalidURL", err)
	}
	if _, err := d.Open(ctx, bad); !errors.Is(err, core.ErrInvalidURL) || len(opened) != 1 {
		t.Errorf("Open of a bad URL: got %v after %d opens; want core.ErrInvalidURL and no open", err, len(opened))
	}
	if _, _, err := d.Scratch(ctx, bad, root); !errors.Is(err, core.ErrInvalidURL) {
		t.Errorf("Scratch of a bad URL: got %v, want core.ErrInvalidURL", err)
	}

	// A driver whose URL names no directory keeps the URL for its scratch
	// stores, and makes no directory.
	mem := core.NewDriver(core.About{Scheme: "mem", Name: "mem"},
		func(*url.URL) (testOptions, error) { return testOptions{}, nil }, open)
	mu := mustParse(t, "mem://?x=1")
	if s, destroy, err := mem.Scratch(ctx, mu, root); err != nil || *s != *mu || destroy() != nil {
		t.Errorf("Scratch without Dir = %#v, %v; want %#v", s, err, mu)
	}
	if es, err := os.ReadDir(root); err != nil || len(es) != 0 {
		t.Errorf("the scratch directories left under %s: %v (%v); want none", root, es, err)
	}
}
