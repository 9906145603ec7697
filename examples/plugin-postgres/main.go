// Command plugin-postgres is a netabase storage plugin that keeps its data
// in a table of a PostgreSQL database, through github.com/jackc/pgx/v5. It
// imports netabase's plugins/sdk and nothing else of netabase. README.md
// says how to run it and what its options and sync mean.
//
//	go build -o netabase-postgres .
//	netabase plugin pin ./netabase-postgres dsn='host=/run/postgresql dbname=netabase'
//	netabase conformance 'plugin:///abs/path/netabase-postgres?sha256=<hex>&dsn=...'
package main

import (
	"context"

	"github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/plugins/sdk"
)

func main() { sdk.Serve(config()) }

// The plugin's options.
const (
	optDSN     = "dsn"
	optSchema  = "schema"
	optTable   = "table"
	optSync    = "sync"
	optTimeout = "connect_timeout"
	optConns   = "max_conns"
)

// config describes the plugin; its tests use the same one.
func config() sdk.Config {
	return sdk.Config{
		Name:    "postgres",
		Version: "v0.1.0 (pgx v5.12.0)",
		// Every acknowledged write is a committed transaction on the
		// server, which keeps it when the plugin dies; once Sync returns,
		// the server has flushed it to its write-ahead log, so it also
		// survives a crash of the server.
		Capabilities: sdk.Capabilities{Persistent: true, Durable: true},
		Options: []sdk.Option{
			{Name: optDSN, Kind: sdk.String, Required: true,
				Doc: "the PostgreSQL connection string (host=... dbname=... user=..., or postgres://user@host/db), without a password: put that in a password file (~/.pgpass or PGPASSFILE)"},
			{Name: optSchema, Kind: sdk.String, Default: "public",
				Doc: "the schema that holds the table; it must exist"},
			{Name: optTable, Kind: sdk.Namespace, Default: "netabase",
				Doc: "the table that holds the store, created when missing; scratch stores get a fresh table in the same schema, dropped afterwards"},
			{Name: optSync, Kind: sdk.Bool, Default: "false",
				Doc: "true: every write commits with synchronous_commit=on, durable when acknowledged; false: writes commit with synchronous_commit=off and Sync makes them durable"},
			{Name: optTimeout, Kind: sdk.Duration, Default: "10s",
				Doc: "how long to wait for the server when connecting"},
			{Name: optConns, Kind: sdk.Int, Default: "8",
				Doc: "the most connections the plugin keeps open to the server"},
		},
		Open: func(ctx context.Context, opts *sdk.Options) (datastore.Batching, error) {
			c, err := connConfig(opts)
			if err != nil {
				return nil, err
			}
			return openStore(ctx, c)
		},
		Destroy: func(ctx context.Context, opts *sdk.Options) error {
			c, err := connConfig(opts)
			if err != nil {
				return err
			}
			return dropTable(ctx, c)
		},
	}
}

// connConfig gathers the options of a store.
func connConfig(opts *sdk.Options) (*settings, error) {
	return newSettings(opts.String(optDSN), opts.String(optSchema), opts.Namespace(optTable),
		opts.Bool(optSync), opts.Duration(optTimeout), opts.Int(optConns))
}
