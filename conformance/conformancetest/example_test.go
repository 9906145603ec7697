package conformancetest_test

import (
	"net/url"
	"testing"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/conformance/conformancetest"
)

// A backend's test runs the suite with Run: each case is a subtest,
// `go test -run TestConformance/batch` runs one. This is the test of the
// in-memory backend, on scratch stores of the URL's backend; an adapter's
// test may write its own Harness around t.TempDir() instead.
func ExampleRun() {
	// In the backend's _test.go file:
	testConformance := func(t *testing.T) {
		d := memstore.Driver()
		u, err := url.Parse("memory://")
		if err != nil {
			t.Fatal(err)
		}
		conformancetest.Run(t, conformance.URLHarness(d, u, d.About().Info(), t.TempDir()))
	}
	_ = testConformance // func TestConformance(t *testing.T) { ... }
}
