//go:build !(js && wasm)

package model_test

import (
	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
)

// testDrivers are the backends the property tests and benchmarks run on:
// every in-tree backend.
func testDrivers() []core.Driver { return all.Drivers() }
