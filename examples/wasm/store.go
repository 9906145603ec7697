//go:build js && wasm

package main

import (
	"context"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// openStore opens the page's store called name.
func openStore(ctx context.Context, name string) (ds.Batching, error) {
	return dssync.MutexWrap(ds.NewMapDatastore()), nil
}
