//go:build js && wasm

package all

import (
	"github.com/netabase/netabase/backends/idbstore"
	"github.com/netabase/netabase/core"
)

// engines returns the drivers of the in-tree backends that run only in a
// web page (see Drivers): the on-disk engines do not build for js/wasm.
func engines() []core.Driver {
	return []core.Driver{
		idbstore.Driver(),
	}
}
