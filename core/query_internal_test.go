package core

import (
	"context"
	"errors"
	"iter"
	"testing"
)

// counting yields 0..n-1, then err if non-nil, and records whether it ran to
// its end or was stopped.
func counting(n int, err error, stopped *bool) func(context.Context) iter.Seq2[int, error] {
	return func(ctx context.Context) iter.Seq2[int, error] {
		return func(yield func(int, error) bool) {
			for i := range n {
				if ctx.Err() != nil || !yield(i, nil) {
					*stopped = true
					return
				}
			}
			if err != nil {
				yield(0, err)
			}
		}
	}
}

func TestReadAheadYieldsEverythingInOrder(t *testing.T) {
	var stopped bool
	want := 0
	for v, err := range readAhead(t.Context(), counting(1000, nil, &stopped)) {
		if err != nil || v != want {
			t.Fatalf("got %d, %v; want %d", v, err, want)
		}
		want++
	}
	if want != 1000 || stopped {
		t.Fatalf("yielded %d of 1000 (stopped early: %v)", want, stopped)
	}
}

func TestReadAheadPassesErrors(t *testing.T) {
	boom := errors.New("boom")
	var stopped bool
	n, sawErr := 0, false
	for _, err := range readAhead(t.Context(), counting(100, boom, &stopped)) {
		if err != nil {
			sawErr = errors.Is(err, boom)
			break
		}
		n++
	}
	if n != 100 || !sawErr {
		t.Fatalf("yielded %d values and error %v", n, sawErr)
	}
}

// TestReadAheadStopsTheReader checks that stopping early stops the reading
// goroutine before the range statement ends: readAhead waits for it.
func TestReadAheadStopsTheReader(t *testing.T) {
	var stopped bool
	for v := range readAhead(t.Context(), counting(1_000_000, nil, &stopped)) {
		if v == 10 {
			break
		}
	}
	if !stopped {
		t.Fatal("the reader was still running after the caller stopped")
	}
}

func TestReadAheadStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stopped bool
	n := 0
	for range readAhead(ctx, counting(1_000_000, nil, &stopped)) {
		n++
		if n == 10 {
			cancel()
		}
	}
	if !stopped || n >= 1_000_000 {
		t.Fatalf("after cancel the reader went on: %d values, stopped %v", n, stopped)
	}
}
