package model_test

import (
	"testing"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/internal/modeltest"
	"github.com/netabase/netabase/internal/storetest"
)

// steps is how many random operations the property test runs per backend:
// fewer on LevelDB, whose every write is an fsync.
var steps = map[string]int{"memory": 400, "pebble": 400, "badger": 400, "leveldb": 150}

// TestProperty runs the property test on every in-tree backend, opened
// through the registry and core's rules.
func TestProperty(t *testing.T) {
	for _, d := range all.Drivers() {
		scheme := d.About().Scheme
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			u := scheme + "://"
			if d.About().Dir {
				u += t.TempDir()
			}
			b := storetest.Open(t, d, u)
			t.Cleanup(func() { _ = b.Close() })
			modeltest.Run(t, b, 1, steps[scheme])
		})
	}
}

// TestConcurrentWriters checks that concurrent writers of one collection
// leave its indexes exact, on every in-tree backend.
func TestConcurrentWriters(t *testing.T) {
	for _, d := range all.Drivers() {
		scheme := d.About().Scheme
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			u := scheme + "://"
			if d.About().Dir {
				u += t.TempDir()
			}
			b := storetest.Open(t, d, u)
			t.Cleanup(func() { _ = b.Close() })
			modeltest.RunConcurrent(t, b, 2, 4, steps[scheme]/4)
		})
	}
}
