package pebblestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/pebblestore"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := pebblestore.Open(ctx, &pebblestore.Options{Path: filepath.Join(dir, "db"), Sync: true})
	if err != nil {
		panic(err)
	}
	defer store.Close()

	if err := store.Put(ctx, ds.NewKey("/greeting"), []byte("hello")); err != nil {
		panic(err)
	}
	v, err := store.Get(ctx, ds.NewKey("/greeting"))
	fmt.Println(string(v), err, store.Info().Capabilities)
	// Output: hello <nil> persistent,durable
}
