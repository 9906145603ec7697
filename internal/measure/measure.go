// Package measure holds what netabase's side-by-side measurements share
// (storage against raw engines in backends/all, netabase bench's
// internal/compare, typed peers in benchmarks/peers): the order the sides
// run in each round (Order, Alternate), the figures they gather (Samples)
// and their medians, and the peak heap a run reaches.
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

// Order is the order the n sides of a side-by-side measurement run in, in
// round (from 0): 0, 1, ..., n-1 in an even round, the reverse in an odd
// one, so that no side always goes first, on a colder cache or a machine
// less loaded. Every side-by-side harness orders its rounds so.
func Order(round, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	if round%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// Alternate runs rounds rounds of n sides, each side once a round, in
// the round's Order: side is called with the round and the side's index.
// It stops at side's first error.
func Alternate(rounds, n int, side func(round, i int) error) error {
	for r := range rounds {
		for _, i := range Order(r, n) {
			if err := side(r, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// Samples are the figures a side gathers over the rounds, by what they
// measure (an operation, a resource).
type Samples map[string][]float64

// Add adds v to the figures of name.
func (s Samples) Add(name string, v float64) { s[name] = append(s[name], v) }

// Median is the Median of the figures of name, which must have some.
func (s Samples) Median(name string) float64 { return Median(s[name]) }
