package sdk_test

import (
	"context"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/plugins/sdk"
)

// A plugin's main is one Serve call. This one serves an in-memory store;
// a real plugin opens its engine at the path option. Serve does not return:
// the process serves the host that started it, then exits.
func ExampleServe() {
	sdk.Serve(sdk.Config{
		Name:         "memory",
		Version:      "v1.0.0",
		Capabilities: sdk.Capabilities{},
		Options: []sdk.Option{
			{Name: "cache", Kind: sdk.Size, Default: "8MiB", Doc: "how much to cache"},
		},
		Open: func(ctx context.Context, opts *sdk.Options) (ds.Batching, error) {
			return dssync.MutexWrap(ds.NewMapDatastore()), nil
		},
	})
}
