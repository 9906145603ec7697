// Command plugin-bbolt is a netabase storage plugin that keeps its data in
// a bbolt database file (go.etcd.io/bbolt). It is written as an outside
// author would write a plugin: it imports netabase's plugins/sdk and
// nothing else of netabase. README.md walks through it.
//
// Build it, pin it, and check it:
//
//	go build -o netabase-bbolt .
//	netabase plugin pin ./netabase-bbolt path=/tmp/bolt.db
//	netabase conformance 'plugin:///abs/path/netabase-bbolt?sha256=<hex>&path=/tmp/bolt.db'
package main

import (
	"context"

	"github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/plugins/sdk"
)

func main() { sdk.Serve(config()) }

// config describes the plugin; its tests use the same one.
func config() sdk.Config {
	return sdk.Config{
		Name:    "bbolt",
		Version: "v0.1.0 (bbolt v1.5.0)",
		// bbolt fsyncs every commit: a write is durable once acknowledged.
		Capabilities: sdk.Capabilities{Persistent: true, Durable: true},
		Options: []sdk.Option{
			{Name: "path", Kind: sdk.Path, Required: true, Doc: "the bbolt database file; created when missing"},
		},
		Open: func(ctx context.Context, opts *sdk.Options) (datastore.Batching, error) {
			return openStore(opts.Path("path"))
		},
	}
}
