package sdktest_test

import (
	"context"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/plugins/sdk"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// A plugin's test hands Run the same sdk.Config its main serves: Run
// starts the test binary as the plugin, through a real netabase host and
// gRPC hop, and runs the conformance suite on it, exactly as a node admits
// the plugin.
func ExampleRun() {
	// In the plugin's main_test.go, beside a main that calls
	// sdk.Serve(config()):
	config := func() sdk.Config {
		return sdk.Config{
			Name:    "memory",
			Version: "v1.0.0",
			Open: func(ctx context.Context, opts *sdk.Options) (ds.Batching, error) {
				return dssync.MutexWrap(ds.NewMapDatastore()), nil
			},
		}
	}
	testPlugin := func(t *testing.T) {
		sdktest.Run(t, config())
	}
	_ = testPlugin // func TestPlugin(t *testing.T) { ... }
}
