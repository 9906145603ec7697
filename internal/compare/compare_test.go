package compare_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/internal/compare"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

// harness is the conformance harness of the backend rawURL names, its
// scratch stores under a test directory.
func harness(t *testing.T, rawURL string) conformance.Harness {
	t.Helper()
	u, d, err := all.Registry().Resolve(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.Describe(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	return conformance.URLHarness(d, u, info, t.TempDir())
}

func TestStores(t *testing.T) {
	t.Parallel()
	type call struct {
		step string
		i, n int
		done bool
	}
	var calls []call
	// 250 records: the last batch is a partial one. The persistent subject
	// (pebble) is reopened before it is read.
	opts := compare.Options{Records: 250, ValueSize: 100, Rounds: 2}
	cs, err := compare.Stores(t.Context(), harness(t, "pebble:///scratch"), harness(t, "memory://"), opts,
		func(step string, i, n int, done bool) { calls = append(calls, call{step, i, n, done}) })
	if err != nil {
		t.Fatalf("Stores: %v", err)
	}
	var ops []string
	for _, c := range cs {
		ops = append(ops, c.Op)
		if c.Subject.RecordsPerSec <= 0 || c.Baseline.RecordsPerSec <= 0 || c.Subject.PeakHeapMiB <= 0 || c.Baseline.PeakHeapMiB <= 0 {
			t.Errorf("%s: figures %+v, want positive rates and heaps", c.Op, c)
		}
		if c.Ratio != c.Subject.RecordsPerSec/c.Baseline.RecordsPerSec {
			t.Errorf("%s: ratio %v, want subject/baseline records/s = %v", c.Op, c.Ratio, c.Subject.RecordsPerSec/c.Baseline.RecordsPerSec)
		}
	}
	if got, want := strings.Join(ops, " "), "put-batch put get scan"; got != want {
		t.Errorf("operations %q, want %q", got, want)
	}
	want := []call{
		{"round 1/2, subject", 0, 4, false}, {"round 1/2, subject", 0, 4, true},
		{"round 1/2, baseline", 1, 4, false}, {"round 1/2, baseline", 1, 4, true},
		{"round 2/2, baseline", 2, 4, false}, {"round 2/2, baseline", 2, 4, true},
		{"round 2/2, subject", 3, 4, false}, {"round 2/2, subject", 3, 4, true},
	}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("progress calls %v, want %v (sides alternating first)", calls, want)
	}
}

func TestStoresFails(t *testing.T) {
	t.Parallel()
	opts := compare.Options{Records: 10, ValueSize: 10, Rounds: 1}
	for _, bad := range []compare.Options{{Records: 0, Rounds: 1}, {Records: 1, Rounds: 0}, {Records: 1, Rounds: 1, ValueSize: -1}} {
		if _, err := compare.Stores(t.Context(), harness(t, "memory://"), harness(t, "memory://"), bad, nil); err == nil {
			t.Errorf("Stores with options %+v succeeded, want an error", bad)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The baseline's second instance (its single puts) is made cancelled.
	h := &storetest.CancellingHarness{Harness: harness(t, "memory://"), N: 2, Cancel: cancel}
	cs, err := compare.Stores(ctx, harness(t, "memory://"), h, opts, nil)
	if cs != nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "baseline, round 1: put:") {
		t.Errorf("Stores cancelled during the baseline's puts = %v, %v; want no figures and context.Canceled from the baseline's put", cs, err)
	}
}
