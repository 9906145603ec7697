package conformancetest

import (
	"testing"

	"github.com/netabase/netabase/conformance"
)

// Run runs every case of the suite on h as a subtest of t: a failed case
// fails its subtest with the reason, a skipped case skips it with the
// reason.
func Run(t *testing.T, h conformance.Harness) {
	t.Helper()
	for _, name := range conformance.Names() {
		t.Run(name, func(t *testing.T) {
			res, err := conformance.CheckCase(t.Context(), h, name)
			if err != nil {
				t.Fatal(err)
			}
			switch res.Status {
			case conformance.Skip:
				t.Skip(res.Error)
			case conformance.Fail:
				t.Fatal(res.Error)
			}
		})
	}
}
