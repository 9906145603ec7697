package measure_test

import (
	"testing"

	"github.com/netabase/netabase/internal/measure"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := measure.Median(tc.xs); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestPeakHeap(t *testing.T) {
	stop := measure.PeakHeap()
	held := make([]byte, 64<<20)
	for i := range held {
		held[i] = byte(i)
	}
	peak := stop()
	if peak < 64 {
		t.Errorf("peak heap %.1f MiB while 64 MiB were held", peak)
	}
	_ = held[len(held)-1]
}

func TestThreadCPU(t *testing.T) {
	a, ok := measure.ThreadCPU()
	if !ok {
		t.Skip("no thread CPU clock on this platform")
	}
	x := 0
	for i := range 10_000_000 {
		x += i
	}
	b, _ := measure.ThreadCPU()
	if b <= a || x == 0 {
		t.Errorf("the thread's CPU time did not grow over a busy loop: %v then %v", a, b)
	}
}
