//go:build js && wasm

package model_test

import (
	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
)

// testDrivers are the backends the property tests and benchmarks run on:
// under js/wasm only the memory backend builds (the on-disk engines do not;
// backends/idbstore runs them in a browser).
func testDrivers() []core.Driver { return []core.Driver{memstore.Driver()} }
