package conformance_test

import (
	"context"
	"fmt"
	"net/url"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/conformance"
)

// Check runs the suite without the testing package, as the node's
// admission gate and `netabase conformance` do, on scratch stores of the
// backend a driver opens from a URL. A case that needs a capability the
// backend does not declare is skipped, with the reason.
func ExampleCheck() {
	ctx := context.Background()
	d := memstore.Driver()
	u, err := url.Parse("memory://")
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := conformance.Check(ctx, conformance.URLHarness(d, u, d.About().Info(), ""))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("passed:", rep.Passed())
	for _, c := range rep.Cases {
		if c.Status == conformance.Skip {
			fmt.Printf("skipped %s: %s\n", c.Name, c.Error)
		}
	}
	// Output:
	// passed: true
	// skipped persistence: the backend does not declare persistent
	// skipped durable: the backend does not declare durable
	// skipped ttl: the backend does not declare ttl
	// skipped transactions: the backend does not declare transactions
}
