package core_test

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
)

// A registry opens a backend by its URL. The caller chooses which drivers
// it holds: here only the in-memory one (backends/all has all the in-tree
// backends). The Backend it returns applies core's rules: keys are checked,
// errors wrapped once, and a closed store says so.
func ExampleRegistry_Open() {
	ctx := context.Background()
	r := &core.Registry{}
	if err := r.Register(memstore.Driver()); err != nil {
		fmt.Println(err)
		return
	}
	b, err := r.Open(ctx, "memory://")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := b.Put(ctx, ds.NewKey("/greeting"), []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	v, err := b.Get(ctx, ds.NewKey("/greeting"))
	fmt.Printf("%s %v, backend %s\n", v, err, b.Info().Name)

	_, err = r.Open(ctx, "nosuch:///data")
	fmt.Println("an unknown scheme is an invalid URL:", errors.Is(err, core.ErrInvalidURL))

	_ = b.Close()
	_, err = b.Get(ctx, ds.NewKey("/greeting"))
	fmt.Println("after Close:", errors.Is(err, core.ErrClosed))
	// Output:
	// hello <nil>, backend memory
	// an unknown scheme is an invalid URL: true
	// after Close: true
}
