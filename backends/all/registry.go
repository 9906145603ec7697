// Package all registers netabase's in-tree backends, explicitly: no init()
// side effects, no package globals. Built for js/wasm (a web page), it
// registers the backends that run there: idb:// (IndexedDB) and memory://.
package all

import (
	"slices"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
)

// Drivers returns the drivers of the in-tree backends of this build: a
// backend that runs in every build is listed here, one that runs only in
// a native build in all.go, one that runs only in a web page in
// all_wasm.go.
func Drivers() []core.Driver {
	return slices.Concat([]core.Driver{memstore.Driver()}, engines())
}

// Registry returns a new registry holding the in-tree backends of this
// build (see Drivers).
func Registry() *core.Registry {
	r := &core.Registry{}
	for _, d := range Drivers() {
		if err := r.Register(d); err != nil {
			// The in-tree schemes are distinct constants; a clash is a
			// programming error caught by this package's tests.
			panic(err)
		}
	}
	return r
}
