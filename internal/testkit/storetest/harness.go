package storetest

import (
	"context"
	"sync/atomic"

	"github.com/netabase/netabase/conformance"
)

// CancellingHarness is a harness that calls Cancel as it makes its N-th
// instance, so that a test can stop a suite run or a comparison at a known
// point. Made counts the instances it has made.
type CancellingHarness struct {
	conformance.Harness
	N      int32
	Made   atomic.Int32
	Cancel context.CancelFunc
}

// NewInstance makes an instance of the wrapped harness, cancelling first
// when this is the N-th.
func (h *CancellingHarness) NewInstance(ctx context.Context) (conformance.Instance, error) {
	if h.Made.Add(1) == h.N {
		h.Cancel()
	}
	return h.Harness.NewInstance(ctx)
}
