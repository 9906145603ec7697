package nodetest

import (
	"context"
	"testing"
	"time"
)

// Timeout bounds one test's network operations ([Context]).
const Timeout = 60 * time.Second

// Context returns a context that ends when t does or after [Timeout].
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond every 10 ms until it holds, and fails the test,
// naming what it waited for, when ctx ends first.
func Eventually(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}
