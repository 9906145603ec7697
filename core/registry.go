package core

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"
)

// Driver opens one kind of backend, named by a URL scheme. A driver parses
// the URL into its own typed options and rejects unknown parameters with an
// error wrapping ErrInvalidURL (see [Params]).
type Driver interface {
	// About describes the driver for listings such as `netabase backends`.
	About() About
	// Describe says what the backend named by u is, without opening it.
	Describe(ctx context.Context, u *url.URL) (Info, error)
	// Open opens the engine named by u. The caller wraps it with [Wrap].
	Open(ctx context.Context, u *url.URL) (ds.Batching, error)
	// Scratch makes a fresh, empty store of the same kind and with the same
	// options as u, which never names u's own data, for the conformance
	// suite and benchmarks to work on. It returns the scratch store's URL
	// and a function that removes the store and everything it wrote: the
	// files it keeps on this machine, in a new directory under root (the
	// system's temporary directory when root is empty; see
	// [NewScratchDir]), and the data it keeps elsewhere, such as a
	// namespace on a database server or a browser's database. A store that
	// keeps no files makes no directory. destroy is called once, after
	// every store opened on the URL is closed.
	Scratch(ctx context.Context, u *url.URL, root string) (scratch *url.URL, destroy func() error, err error)
}

// About describes a driver.
type About struct {
	Scheme       string       `json:"scheme"`
	Name         string       `json:"name"`
	Version      string       `json:"version"`
	Capabilities Capabilities `json:"capabilities"`
	// Form shows the URL's shape, such as "pebble:///abs/path".
	Form string `json:"form"`
	// Dir is true when the URL's path names the directory that holds the
	// store's files.
	Dir bool `json:"dir"`
	// Files are patterns ([path.Match]) of the names of files the engine
	// writes into its store directory and no other engine does, such as
	// "OPTIONS-*". By them a store the engine's own library made, without
	// netabase's marker, is known for the engine's: adopted by it, refused
	// to every other engine in the same [Registry].
	Files []string `json:"-"`
	// Params documents the URL parameters the driver accepts.
	Params []Param `json:"params,omitempty"`
}

// Info is the Info of a backend this driver opens, for drivers whose code
// is in the running program (every in-tree driver): its build is the
// engine version and the program's build ([ProgramBuild]), since the
// adapter's code and the rules of [Wrap] that the suite checks come with
// the program.
func (a About) Info() Info {
	return Info{Name: a.Name, Version: a.Version, Build: a.Version + ", " + ProgramBuild(), Capabilities: a.Capabilities}
}

// Param documents one URL parameter.
type Param struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
}

// Registry maps URL schemes to drivers. The zero value is an empty registry
// ready to use; backends/all fills one with the in-tree backends. A Registry
// is not safe for concurrent Register calls; fill it before use.
type Registry struct {
	drivers map[string]Driver
}

// Register adds d under its scheme. A scheme may be registered once.
func (r *Registry) Register(d Driver) error {
	about := d.About()
	scheme := about.Scheme
	if scheme == "" || strings.ToLower(scheme) != scheme {
		return fmt.Errorf("netabase: driver %q: a scheme is a non-empty lower-case word", scheme)
	}
	for _, pattern := range about.Files {
		if _, err := path.Match(pattern, ""); err != nil {
			return fmt.Errorf("netabase: driver %q: file pattern %q: %w", scheme, pattern, err)
		}
	}
	if _, dup := r.drivers[scheme]; dup {
		return fmt.Errorf("netabase: scheme %q is registered twice", scheme)
	}
	if r.drivers == nil {
		r.drivers = make(map[string]Driver)
	}
	r.drivers[scheme] = d
	return nil
}

// Drivers returns the registered drivers, sorted by scheme.
func (r *Registry) Drivers() []Driver {
	out := make([]Driver, 0, len(r.drivers))
	for _, d := range r.drivers {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Driver) int { return strings.Compare(a.About().Scheme, b.About().Scheme) })
	return out
}

// Resolve parses a storage URL and finds its driver.
func (r *Registry) Resolve(rawURL string) (*url.URL, Driver, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("%w %q: %v", ErrInvalidURL, rawURL, err)
	}
	if u.Scheme == "" {
		return nil, nil, fmt.Errorf("%w %q: no scheme; use one of %s, as in pebble:///abs/path",
			ErrInvalidURL, rawURL, r.schemeList())
	}
	d, ok := r.drivers[u.Scheme]
	if !ok {
		return nil, nil, fmt.Errorf("%w %q: unknown scheme %q; known schemes are %s",
			ErrInvalidURL, u.Redacted(), u.Scheme, r.schemeList())
	}
	return u, d, nil
}

func (r *Registry) schemeList() string {
	var names []string
	for _, d := range r.Drivers() {
		names = append(names, d.About().Scheme+"://")
	}
	if len(names) == 0 {
		return "(none registered)"
	}
	return strings.Join(names, ", ")
}

// Open opens the backend named by rawURL and applies core's rules to it. It
// does not run the admission gate; see [Gate.Admit]. Like the gate, it
// refuses a store directory holding another registered engine's store
// before the driver opens anything.
func (r *Registry) Open(ctx context.Context, rawURL string) (Backend, error) {
	u, d, err := r.Resolve(rawURL)
	if err != nil {
		return nil, err
	}
	info, err := d.Describe(ctx, u)
	if err != nil {
		return nil, err
	}
	if err := r.checkStore(d, u); err != nil {
		return nil, err
	}
	return open(ctx, d, u, info)
}

// checkStore refuses, cheaply and changing nothing, the store directory
// that u names when d's opener would refuse it ([PrepareDir]) or when it
// holds the files of another engine registered here. It passes a driver
// whose URLs name no directory.
func (r *Registry) checkStore(d Driver, u *url.URL) error {
	about := d.About()
	if !about.Dir {
		return nil
	}
	dir, err := Path(u)
	if err != nil {
		return err
	}
	known := make([]About, 0, len(r.drivers))
	for _, o := range r.drivers {
		known = append(known, o.About())
	}
	_, err = checkDir(dir, about, known)
	return err
}

// OpenURL opens the backend that d names by u and applies core's rules to it.
// It knows no driver but d, so only d's opener judges the store directory;
// [Registry.Open] also refuses another registered engine's store.
func OpenURL(ctx context.Context, d Driver, u *url.URL) (Backend, error) {
	info, err := d.Describe(ctx, u)
	if err != nil {
		return nil, err
	}
	return open(ctx, d, u, info)
}

// open opens the backend that d names by u, described by info, and applies
// core's rules to it.
func open(ctx context.Context, d Driver, u *url.URL, info Info) (Backend, error) {
	b, err := d.Open(ctx, u)
	if err != nil {
		return nil, err
	}
	w, err := Wrap(b, info)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return w, nil
}

// NewDriver builds the Driver of an in-tree engine from its parts: what it
// is, a parser of its URLs into typed options (rejecting unknown parameters),
// and an opener of the engine from those options. When about.Dir, the
// opener should prepare its directory with [PrepareDir] and about. Its
// scratch stores keep the URL's options and, when about.Dir, live in a
// subdirectory named after the engine of a new scratch directory
// ([NewScratchDir]), which destroying them removes; without about.Dir
// every Open of the URL must be a new, empty store (as memory:// is), and
// destroying one does nothing.
func NewDriver[O any](about About, parse func(*url.URL) (O, error), open func(context.Context, O) (ds.Batching, error)) Driver {
	return &funcDriver[O]{about: about, parse: parse, open: open}
}

type funcDriver[O any] struct {
	about About
	parse func(*url.URL) (O, error)
	open  func(context.Context, O) (ds.Batching, error)
}

func (d *funcDriver[O]) About() About { return d.about }

func (d *funcDriver[O]) Describe(_ context.Context, u *url.URL) (Info, error) {
	if _, err := d.parse(u); err != nil {
		return Info{}, err
	}
	return d.about.Info(), nil
}

func (d *funcDriver[O]) Open(ctx context.Context, u *url.URL) (ds.Batching, error) {
	opts, err := d.parse(u)
	if err != nil {
		return nil, err
	}
	return d.open(ctx, opts)
}

func (d *funcDriver[O]) Scratch(_ context.Context, u *url.URL, root string) (*url.URL, func() error, error) {
	if _, err := d.parse(u); err != nil {
		return nil, nil, err
	}
	s := *u
	if !d.about.Dir {
		return &s, func() error { return nil }, nil
	}
	dir, err := NewScratchDir(root)
	if err != nil {
		return nil, nil, err
	}
	s.Path = filepath.Join(dir, d.about.Name)
	return &s, func() error { return os.RemoveAll(dir) }, nil
}

// NewScratchDir makes a new, empty directory under root (the system's
// temporary directory when root is empty) for the files of one scratch
// store, named "netabase-conformance-" and a random suffix, and returns
// its path. The driver that made it removes it when the store is
// destroyed ([Driver.Scratch]).
func NewScratchDir(root string) (string, error) {
	dir, err := os.MkdirTemp(root, "netabase-conformance-")
	if err != nil {
		return "", fmt.Errorf("making a directory for a scratch store: %w", err)
	}
	return dir, nil
}
