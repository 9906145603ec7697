package model_test

import (
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/internal/testkit/modeltest"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

// steps is how many random operations the property test runs per backend,
// checking the whole collection after each; about a second per backend.
const steps = 400

// TestProperty runs the property test on every in-tree backend, opened
// through the registry and core's rules.
func TestProperty(t *testing.T) {
	for _, d := range testDrivers() {
		scheme := d.About().Scheme
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			u := scheme + "://"
			if d.About().Dir {
				u += t.TempDir()
			}
			b := storetest.Open(t, d, u)
			t.Cleanup(func() { _ = b.Close() })
			// Writes take the transaction path exactly where the backend
			// declares transactions (Badger), the batch path elsewhere.
			if _, txn := b.(ds.TxnFeature); txn != d.About().Capabilities.Transactions {
				t.Fatalf("the backend offers transactions: %v, declares them: %v", txn, d.About().Capabilities.Transactions)
			}
			modeltest.Run(t, b, 1, steps)
		})
	}
}

// TestConcurrent checks, on every in-tree backend, that concurrent writers
// of one collection leave its indexes exact and its contents what their
// acknowledged writes made them, while concurrent readers of ranges (through
// each backend's seek) see sorted, bounded values that writers wrote, never
// going back in time. CI runs it under the race detector.
func TestConcurrent(t *testing.T) {
	for _, d := range testDrivers() {
		scheme := d.About().Scheme
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			u := scheme + "://"
			if d.About().Dir {
				u += t.TempDir()
			}
			b := storetest.Open(t, d, u)
			t.Cleanup(func() { _ = b.Close() })
			modeltest.RunConcurrent(t, b, 2, 4, steps/4)
		})
	}
}
