// Package measure holds what netabase's side-by-side measurements share:
// the peak heap a run reaches, and medians of rounds.
package measure

import (
	"runtime"
	"slices"
	"time"
)

// PeakHeap samples the heap in use now and every 10 ms until the returned
// function is called, which returns the largest value seen, in MiB.
func PeakHeap() func() float64 {
	done, result := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		return float64(<-result) / (1 << 20)
	}
}

// Median returns the median of xs, the mean of the middle two when there
// are an even number; xs must not be empty.
func Median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
