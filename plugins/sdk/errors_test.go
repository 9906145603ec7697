package sdk

import (
	"fmt"
	"testing"

	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	"github.com/netabase/netabase/plugins/wire"
)

// TestErrorsHaveCodes: every sentinel the SDK offers a plugin crosses the
// wire as its own code, not as an internal error.
func TestErrorsHaveCodes(t *testing.T) {
	seen := map[pb.ErrorCode]error{}
	for _, err := range []error{ErrNotFound, ErrClosed, ErrInvalidKey, ErrTooLarge, ErrUnsupported, ErrRejected, ErrConflict} {
		code := wire.Code(fmt.Errorf("wrapped: %w", err)).GetCode()
		if code == pb.ErrorCode_ERROR_CODE_INTERNAL {
			t.Errorf("%v crosses the wire as an internal error", err)
		}
		if other, ok := seen[code]; ok {
			t.Errorf("%v and %v share the code %v", err, other, code)
		}
		seen[code] = err
	}
}
