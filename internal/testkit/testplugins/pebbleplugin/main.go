// Command pebbleplugin is a netabase storage plugin serving pebble through
// go-ds-pebble, for the host's tests and benchmarks: the same engine as the
// in-tree pebble backend, one gRPC hop away.
package main

import (
	"context"
	"net/url"
	"strconv"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/sdk"
)

func main() { sdk.Serve(Config()) }

// Config describes the plugin.
func Config() sdk.Config {
	return sdk.Config{
		Name:         "pebble-plugin",
		Version:      "test (go-ds-pebble v0.5.13)",
		Capabilities: sdk.Capabilities{Persistent: true, Durable: true},
		Options: []sdk.Option{
			{Name: "path", Kind: sdk.Path, Required: true, Doc: "the store's directory"},
			{Name: "sync", Kind: sdk.Bool, Default: "false", Doc: "fsync every write before acknowledging it"},
		},
		Open: func(ctx context.Context, o *sdk.Options) (ds.Batching, error) {
			q := url.Values{"sync": {strconv.FormatBool(o.Bool("sync"))}}
			s, err := pebblestore.Driver().Open(ctx, &url.URL{Scheme: pebblestore.Scheme, Path: o.Path("path"), RawQuery: q.Encode()})
			if err != nil {
				return nil, err
			}
			return profiled(s)
		},
		MaxProtocol: testplugins.MaxProtocol(),
	}
}
