package host

import (
	"testing"
	"time"

	"github.com/netabase/netabase/core"
)

// TestCallQuantiles: quantiles read from the round-trip histogram are
// within its bucket width (19%) of the true ones, and Since counts only
// the calls after the base.
func TestCallQuantiles(t *testing.T) {
	var d Driver
	// 1,000 calls of 100µs and 1,000 of 10ms: the median is 100µs, the
	// 95th percentile 10ms.
	for range 1000 {
		d.calls.observe(100 * time.Microsecond)
	}
	base := d.CallStats()
	for range 1000 {
		d.calls.observe(10 * time.Millisecond)
	}
	st := d.CallStats()
	near := func(what string, got, want time.Duration) {
		t.Helper()
		if r := float64(got) / float64(want); r < 1/1.19 || r > 1.19 {
			t.Errorf("%s = %v, want about %v", what, got, want)
		}
	}
	if st.Calls != 2000 || st.Seconds < 10.09 || st.Seconds > 10.11 {
		t.Errorf("calls %d in %vs, want 2000 in 10.1s", st.Calls, st.Seconds)
	}
	near("p50", st.Quantile(0.5), 100*time.Microsecond)
	near("p95", st.Quantile(0.95), 10*time.Millisecond)
	since := st.Since(base)
	if since.Calls != 1000 {
		t.Errorf("Since counts %d calls, want 1000", since.Calls)
	}
	near("p50 since", since.Quantile(0.5), 10*time.Millisecond)
	if (core.CallStats{Bounds: callBounds, Buckets: make([]uint64, callBuckets+1)}).Quantile(0.5) != 0 {
		t.Error("the quantile of no calls is not 0")
	}
	d.calls.observe(time.Minute)
	if got := d.CallStats().Quantile(1); got < time.Duration(callBounds[callBuckets-1]*1e9) {
		t.Errorf("the quantile of a call slower than every bound is %v", got)
	}
}
