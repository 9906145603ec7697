package leveldbstore

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"

	ds "github.com/ipfs/go-datastore"
	leveldbds "github.com/ipfs/go-ds-leveldb"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/netabase/netabase/core"
)

// Scheme is the URL scheme of the LevelDB backend.
const Scheme = "leveldb"

// engineVersion is the go-ds-leveldb release this adapter wraps.
const engineVersion = "go-ds-leveldb v0.5.0"

// Options configure a LevelDB store.
type Options struct {
	// Path is the store's directory; it must be absolute.
	Path string
	// Sync is accepted for uniformity; writes are always synchronous.
	Sync bool
	// CacheSize is the block cache size in bytes; 0 means goleveldb's default.
	CacheSize int64
}

// Open opens the LevelDB store described by opts, with core's rules applied.
func Open(_ context.Context, opts *Options) (core.Backend, error) {
	if opts == nil {
		opts = &Options{}
	}
	e, err := openEngine(opts)
	if err != nil {
		return nil, err
	}
	return core.Wrap(e, Driver().About().Info())
}

func openEngine(opts *Options) (ds.Batching, error) {
	if err := core.PrepareDir(opts.Path, Driver().About()); err != nil {
		return nil, err
	}
	if err := checkIntact(opts.Path); err != nil {
		return nil, err
	}
	e, err := leveldbds.NewDatastore(opts.Path, &leveldbds.Options{
		BlockCacheCapacity: int(opts.CacheSize),
	})
	if err != nil {
		return nil, core.OpenError(opts.Path, "leveldb", err)
	}
	return engine{e}, nil
}

// checkIntact opens an existing store read-only and fails if goleveldb finds
// it corrupt, before go-ds-leveldb would "recover" it by rewriting it.
func checkIntact(path string) error {
	if _, err := os.Stat(filepath.Join(path, "CURRENT")); errors.Is(err, os.ErrNotExist) {
		return nil // a new store
	}
	db, err := leveldb.OpenFile(path, &opt.Options{ReadOnly: true, ErrorIfMissing: true})
	if err != nil {
		return core.OpenError(path, "leveldb", err)
	}
	return db.Close()
}

// Driver returns the driver for leveldb:// URLs.
func Driver() core.Driver {
	return core.NewDriver(core.About{
		Scheme:       Scheme,
		Name:         "leveldb",
		Version:      engineVersion,
		Capabilities: core.Capabilities{Persistent: true, Durable: true},
		Form:         "leveldb:///abs/path",
		Dir:          true,
		Files:        []string{"CURRENT", "*.ldb"},
		Params: []core.Param{
			{Name: "sync", Doc: "accepted for uniformity: LevelDB writes here are always fsynced"},
			{Name: "cache", Doc: "block cache size, such as 32MiB (default 8MiB)"},
		},
	}, ParseURL, func(_ context.Context, o *Options) (ds.Batching, error) { return openEngine(o) })
}

// ParseURL parses a leveldb:// URL into Options.
func ParseURL(u *url.URL) (*Options, error) {
	path, err := core.Path(u)
	if err != nil {
		return nil, err
	}
	p := core.NewParams(u)
	opts := &Options{
		Path:      path,
		Sync:      p.Bool("sync", false),
		CacheSize: p.Bytes("cache", 0),
	}
	return opts, p.Err()
}
