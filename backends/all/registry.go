// Package all registers netabase's in-tree backends, explicitly: no init()
// side effects, no package globals. Built for js/wasm (a web page), it
// registers the backends that run there: idb:// (IndexedDB) and memory://.
package all

import "github.com/netabase/netabase/core"

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
