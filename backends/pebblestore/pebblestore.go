package pebblestore

import (
	"context"
	"net/url"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	ds "github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"

	"github.com/netabase/netabase/core"
)

// Scheme is the URL scheme of the pebble backend.
const Scheme = "pebble"

// engineVersion is the go-ds-pebble release this adapter wraps.
const engineVersion = "go-ds-pebble v0.5.13"

// Options configure a pebble store.
type Options struct {
	// Path is the store's directory; it must be absolute.
	Path string
	// Sync fsyncs every write before acknowledging it.
	Sync bool
	// CacheSize is the block cache size in bytes; 0 means DefaultCacheSize.
	CacheSize int64
}

// DefaultCacheSize is the block cache of a store opened without a cache
// size. pebble's own default, 8 MiB, holds the index and filter blocks of
// a few tens of megabytes of data at most: past that, reads miss the cache
// for the blocks every lookup needs (a typed put's read of the value it
// replaces, and every Get), and read, checksum and decompress them from
// the files again. The cache takes memory only as blocks are read into it.
const DefaultCacheSize = 64 << 20

// Open opens the pebble store described by opts, with core's rules applied.
func Open(ctx context.Context, opts *Options) (core.Backend, error) {
	if opts == nil {
		opts = &Options{}
	}
	e, err := openEngine(opts)
	if err != nil {
		return nil, err
	}
	return core.Wrap(e, Driver().About().Info())
}

func openEngine(opts *Options) (*engine, error) {
	if err := core.PrepareDir(opts.Path, Driver().About()); err != nil {
		return nil, err
	}
	e := newEngine(opts.Path)
	po := EngineOptions()
	e.options(po)
	cache := opts.CacheSize
	if cache == 0 {
		cache = DefaultCacheSize
	}
	dsOpts := []pebbleds.Option{pebbleds.WithPebbleOpts(po), pebbleds.WithCacheSize(cache)}
	if opts.Sync {
		dsOpts = append(dsOpts, pebbleds.WithPebbleWriteOptions(pebble.Sync))
	}
	if err := e.open(dsOpts); err != nil {
		return nil, core.OpenError(opts.Path, "pebble", err)
	}
	return e, nil
}

// EngineOptions returns the pebble options every pebble store is opened
// with: pebble's defaults plus a 10-bit bloom filter on every level, so that
// a Get of a missing key — frequent for a DHT, and part of every typed put,
// which reads the value it replaces — rarely reads a table from disk.
func EngineOptions() *pebble.Options {
	o := &pebble.Options{}
	o.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	return o
}

// Driver returns the driver for pebble:// URLs.
func Driver() core.Driver {
	return core.NewDriver(core.About{
		Scheme:       Scheme,
		Name:         "pebble",
		Version:      engineVersion,
		Capabilities: core.Capabilities{Persistent: true, Durable: true},
		Form:         "pebble:///abs/path",
		Dir:          true,
		Files:        []string{"OPTIONS-*", "marker.manifest.*", "marker.format-version.*"},
		Params: []core.Param{
			{Name: "sync", Doc: "true: fsync every write before acknowledging it (default false; Sync always fsyncs)"},
			{Name: "cache", Doc: "block cache size, such as 256MiB (default 64MiB)"},
		},
	}, ParseURL, func(_ context.Context, o *Options) (ds.Batching, error) { return openEngine(o) })
}

// ParseURL parses a pebble:// URL into Options.
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
