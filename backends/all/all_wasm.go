//go:build js && wasm

package all

import (
	"github.com/netabase/netabase/backends/idbstore"
	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
)

// Drivers returns the drivers of the in-tree backends that run in a web
// page: the on-disk engines do not build for js/wasm.
func Drivers() []core.Driver {
	return []core.Driver{
		idbstore.Driver(),
		memstore.Driver(),
	}
}
