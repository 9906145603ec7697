//go:build !(js && wasm)

package all

import (
	"github.com/netabase/netabase/backends/badgerstore"
	"github.com/netabase/netabase/backends/leveldbstore"
	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
)

// engines returns the drivers of the in-tree backends that run only in a
// native build (see Drivers).
func engines() []core.Driver {
	return []core.Driver{
		badgerstore.Driver(),
		leveldbstore.Driver(),
		pebblestore.Driver(),
	}
}
