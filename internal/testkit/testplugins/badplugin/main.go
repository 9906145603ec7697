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

// Batch applies its operations in order at Commit, each through the
// forgetful store, so that a batch's Delete does nothing either (a
// go-datastore BasicBatch keeps only the last operation on each key).
func (f forgetful) Batch(context.Context) (ds.Batch, error) { return &inOrder{f: f}, nil }

type inOrder struct {
	f   forgetful
	ops []func(context.Context) error
}

func (b *inOrder) Put(_ context.Context, k ds.Key, v []byte) error {
	b.ops = append(b.ops, func(ctx context.Context) error { return b.f.Put(ctx, k, v) })
	return nil
}

func (b *inOrder) Delete(_ context.Context, k ds.Key) error {
	b.ops = append(b.ops, func(ctx context.Context) error { return b.f.Delete(ctx, k) })
	return nil
}

func (b *inOrder) Commit(ctx context.Context) error {
	for _, op := range b.ops {
		if err := op(ctx); err != nil {
			return err
		}
	}
	return nil
}

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
