// Command pebblev1plugin is pebbleplugin serving only version 1 of the
// storage plugin protocol (sdk.Config.MaxProtocol), as a plugin built
// before version 2 does: the host's tests check that it still speaks
// version 1 to such a plugin, and that the conformance suite passes
// through it.
package main

import (
	"context"
	"net/url"
	"strconv"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/plugins/sdk"
)

func main() {
	sdk.Serve(sdk.Config{
		Name:         "pebble-v1-plugin",
		Version:      "test (go-ds-pebble v0.5.13, protocol 1 only)",
		Capabilities: sdk.Capabilities{Persistent: true, Durable: true},
		Options: []sdk.Option{
			{Name: "path", Kind: sdk.Path, Required: true, Doc: "the store's directory"},
			{Name: "sync", Kind: sdk.Bool, Default: "false", Doc: "fsync every write before acknowledging it"},
		},
		Open: func(ctx context.Context, o *sdk.Options) (ds.Batching, error) {
			q := url.Values{"sync": {strconv.FormatBool(o.Bool("sync"))}}
			return pebblestore.Driver().Open(ctx, &url.URL{Scheme: pebblestore.Scheme, Path: o.Path("path"), RawQuery: q.Encode()})
		},
		MaxProtocol: 1,
	})
}
