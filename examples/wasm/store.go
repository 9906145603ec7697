//go:build js && wasm

package main

import (
	"context"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
)

// openStore opens the page's store by URL, such as idb://notes (an
// IndexedDB database of the page's origin, kept across reloads) or
// memory://, through the registry of the backends that run in a page, so
// core's rules (key checks, one wrapping of errors) hold.
func openStore(ctx context.Context, url string) (core.Backend, error) {
	return all.Registry().Open(ctx, url)
}
