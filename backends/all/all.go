//go:build !(js && wasm)

package all

import (
	"github.com/netabase/netabase/backends/badgerstore"
	"github.com/netabase/netabase/backends/leveldbstore"
	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
)

// Drivers returns the drivers of the in-tree backends.
func Drivers() []core.Driver {
	return []core.Driver{
		badgerstore.Driver(),
		leveldbstore.Driver(),
		memstore.Driver(),
		pebblestore.Driver(),
	}
}
