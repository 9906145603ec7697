package memstore_test

import (
	"context"
	"fmt"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/all"
)

// A backend is normally opened by URL through a registry, which applies
// core's rules to it.
func Example() {
	ctx := context.Background()
	store, err := all.Registry().Open(ctx, "memory://")
	if err != nil {
		panic(err)
	}
	defer store.Close()

	if err := store.Put(ctx, ds.NewKey("/greeting"), []byte("hello")); err != nil {
		panic(err)
	}
	v, err := store.Get(ctx, ds.NewKey("/greeting"))
	fmt.Println(string(v), err, store.Info().Name)
	// Output: hello <nil> memory
}
