package badgerstore

import (
	"context"
	"net/url"
	"os"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	badgerds "github.com/ipfs/go-ds-badger4"
	logging "github.com/ipfs/go-log/v2"

	"github.com/netabase/netabase/core"
)

// Scheme is the URL scheme of the Badger backend.
const Scheme = "badger"

// engineVersion is the go-ds-badger4 release this adapter wraps.
const engineVersion = "go-ds-badger4 v0.1.8"

// Options configure a Badger store.
type Options struct {
	// Path is the store's directory; it must be absolute.
	Path string
	// Sync fsyncs every write before acknowledging it.
	Sync bool
	// GCInterval is how often the value log is garbage collected; 0 turns
	// periodic collection off.
	GCInterval time.Duration
}

// DefaultGCInterval is go-ds-badger4's default value-log GC interval.
const DefaultGCInterval = 15 * time.Minute

// Open opens the Badger store described by opts, with core's rules applied.
func Open(_ context.Context, opts *Options) (core.Backend, error) {
	if opts == nil {
		opts = &Options{GCInterval: DefaultGCInterval}
	}
	e, err := openEngine(opts)
	if err != nil {
		return nil, err
	}
	return core.Wrap(e, Driver().About().Info())
}

// engineLog is go-log's subsystem through which go-ds-badger4 and Badger
// log (go-ds-badger4 replaces any badger.Options.Logger with it). At its
// default level it prints "batch not committed or canceled" to standard
// error for every batch dropped without a commit, which go-datastore
// batches, having no Cancel, routinely are.
const engineLog = "badger4"

var quietOnce sync.Once

// quiet turns the engine's log off, unless the user set go-log's levels
// with GOLOG_LOG_LEVEL (such as GOLOG_LOG_LEVEL=badger4=debug).
func quiet() {
	quietOnce.Do(func() {
		if os.Getenv("GOLOG_LOG_LEVEL") == "" {
			_ = logging.SetLogLevel(engineLog, "fatal") // a valid level: no error
		}
	})
}

func openEngine(opts *Options) (ds.Batching, error) {
	quiet()
	if err := core.PrepareDir(opts.Path, Driver().About()); err != nil {
		return nil, err
	}
	o := badgerds.DefaultOptions.WithGcInterval(opts.GCInterval)
	o.SyncWrites = opts.Sync
	e, err := badgerds.NewDatastore(opts.Path, &o)
	if err != nil {
		return nil, core.OpenError(opts.Path, "badger", err)
	}
	return engine{e}, nil
}

// Driver returns the driver for badger:// URLs.
func Driver() core.Driver {
	return core.NewDriver(core.About{
		Scheme:       Scheme,
		Name:         "badger",
		Version:      engineVersion,
		Capabilities: core.Capabilities{Persistent: true, Durable: true, TTL: true, Transactions: true},
		Form:         "badger:///abs/path",
		Dir:          true,
		Files:        []string{"KEYREGISTRY", "MANIFEST", "*.vlog"},
		Params: []core.Param{
			{Name: "sync", Doc: "true: fsync every write before acknowledging it (default false; Sync always fsyncs)"},
			{Name: "gc", Doc: "value-log garbage collection interval, such as 15m (default); 0 turns it off"},
		},
	}, ParseURL, func(_ context.Context, o *Options) (ds.Batching, error) { return openEngine(o) })
}

// ParseURL parses a badger:// URL into Options.
func ParseURL(u *url.URL) (*Options, error) {
	path, err := core.Path(u)
	if err != nil {
		return nil, err
	}
	p := core.NewParams(u)
	opts := &Options{
		Path:       path,
		Sync:       p.Bool("sync", false),
		GCInterval: p.Duration("gc", DefaultGCInterval),
	}
	return opts, p.Err()
}
