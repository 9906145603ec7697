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

// Registry returns a new registry holding the in-tree backends that run in
// a web page.
func Registry() *core.Registry {
	r := &core.Registry{}
	for _, d := range Drivers() {
		if err := r.Register(d); err != nil {
			// The in-tree schemes are distinct constants; a clash is a
			// programming error.
			panic(err)
		}
	}
	return r
}
