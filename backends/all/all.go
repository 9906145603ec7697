//go:build !(js && wasm)

// Package all registers netabase's in-tree backends, explicitly: no init()
// side effects, no package globals. Built for js/wasm (a web page), it
// registers the backends that run there: idb:// (IndexedDB) and memory://.
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

// Registry returns a new registry holding the in-tree backends.
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
