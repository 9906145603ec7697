package measure_test

import (
	"errors"
	"slices"
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

func TestAlternate(t *testing.T) {
	var got []int
	err := measure.Alternate(3, 3, func(round, i int) error {
		got = append(got, 10*round+i)
		return nil
	})
	if want := []int{0, 1, 2, 12, 11, 10, 20, 21, 22}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Alternate ran %v (err %v), want %v", got, err, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := measure.Alternate(3, 2, func(int, int) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Alternate went on after an error: %d calls, err %v", n, err)
	}
}

func TestSamples(t *testing.T) {
	s := measure.Samples{}
	for _, v := range []float64{5, 1, 3} {
		s.Add("get", v)
	}
	if got := s.Median("get"); got != 3 {
		t.Errorf("Samples.Median = %v, want 3", got)
	}
}
