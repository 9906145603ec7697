package memstore

import (
	"bytes"
	"context"
	"net/url"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core"
)

// Scheme is the URL scheme of the memory backend.
const Scheme = "memory"

// engineVersion is the go-datastore release whose map datastore this wraps.
const engineVersion = "go-datastore v0.9.2"

// Options configure a memory store. There are none yet.
type Options struct{}

// Store is a memory store. It copies values in and out, so a caller may
// reuse its slices.
type Store struct {
	*dssync.MutexDatastore
}

var _ ds.Batching = (*Store)(nil)

// Open returns a new, empty memory store. opts may be nil.
func Open(_ context.Context, _ *Options) (*Store, error) {
	return &Store{dssync.MutexWrap(ds.NewMapDatastore())}, nil
}

// Put stores a copy of value.
func (s *Store) Put(ctx context.Context, key ds.Key, value []byte) error {
	return s.MutexDatastore.Put(ctx, key, bytes.Clone(value))
}

// Get returns a copy of the stored value.
func (s *Store) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	v, err := s.MutexDatastore.Get(ctx, key)
	return bytes.Clone(v), err
}

// Query returns copies of the stored values.
func (s *Store) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	res, err := s.MutexDatastore.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return dsq.ResultsFromIterator(q, dsq.Iterator{
		Next: func() (dsq.Result, bool) {
			r, ok := res.NextSync()
			r.Value = bytes.Clone(r.Value)
			return r, ok
		},
		Close: res.Close,
	}), nil
}

// Batch returns a batch that applies its operations at Commit.
func (s *Store) Batch(context.Context) (ds.Batch, error) {
	return ds.NewBasicBatch(s), nil
}

// Driver returns the driver for memory:// URLs. Every Open of a memory://
// URL is a new, empty store, so a scratch store is the URL itself, with no
// directory and nothing to remove: the conformance harness needs none,
// which a web page does not have.
func Driver() core.Driver {
	return core.NewDriver(core.About{
		Scheme:  Scheme,
		Name:    "memory",
		Version: engineVersion,
		Form:    "memory://",
	}, ParseURL, func(ctx context.Context, o *Options) (ds.Batching, error) { return Open(ctx, o) })
}

// ParseURL parses a memory:// URL into Options.
func ParseURL(u *url.URL) (*Options, error) {
	if err := core.NewParams(u).Err(); err != nil {
		return nil, err
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") {
		return nil, core.InvalidURL(u, "a memory store has no path; write memory://")
	}
	return &Options{}, nil
}
