// Command badplugin is a netabase plugin whose store breaks the contract:
// it declares persistence but forgets everything on reopen, and its Delete
// does nothing.
package main

import (
	"context"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/plugins/sdk"
)

type forgetful struct{ *dssync.MutexDatastore }

func (forgetful) Delete(context.Context, ds.Key) error { return nil }

func (f forgetful) Batch(ctx context.Context) (ds.Batch, error) { return ds.NewBasicBatch(f), nil }

func main() {
	sdk.Serve(sdk.Config{
		Name:         "forgetful",
		Version:      "test",
		Capabilities: sdk.Capabilities{Persistent: true},
		Options:      []sdk.Option{{Name: "path", Kind: sdk.Path, Required: true, Doc: "ignored"}},
		Open: func(context.Context, *sdk.Options) (ds.Batching, error) {
			return forgetful{dssync.MutexWrap(ds.NewMapDatastore())}, nil
		},
	})
}
