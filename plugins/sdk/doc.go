// Package sdk is all a netabase storage plugin imports. A plugin is a
// program that serves one key-value store — any go-datastore Batching — to
// a netabase node over gRPC. Its main is one call:
//
//	func main() {
//		sdk.Serve(sdk.Config{
//			Name:         "bbolt",
//			Version:      "v1.0.0 (bbolt v1.5.0)",
//			Capabilities: sdk.Capabilities{Persistent: true, Durable: true},
//			Options: []sdk.Option{
//				{Name: "path", Kind: sdk.Path, Required: true, Doc: "the database file"},
//			},
//			Open: open,
//		})
//	}
//
//	func open(ctx context.Context, opts *sdk.Options) (datastore.Batching, error) {
//		return openStore(opts.Path("path"))
//	}
//
// The user names the plugin by a storage URL that pins the binary's
// checksum and carries the options:
//
//	plugin:///opt/bin/netabase-bbolt?sha256=<hex>&path=/var/lib/netabase/bolt.db
//
// `netabase plugin pin /opt/bin/netabase-bbolt path=...` prints that URL.
//
// # What the SDK does for the author
//
// The handshake, protocol version, mutual TLS, error codes, key checks,
// batching and query streaming are the SDK's; the author writes a store.
// Options are declared with a kind and parsed before Open sees them:
// unknown, repeated, missing or malformed options are refused with a message
// naming each. Options of kind [Path] name where the store keeps its data:
// the node runs the conformance suite on scratch stores by rewriting every
// path option to a fresh directory, so a plugin must keep all its files
// under its path options. A plugin whose data lives on a server (a
// database) names it with an option of kind [Namespace] (a table, a schema,
// a key prefix), which scratch stores get rewritten to a fresh name, and
// drops a scratch store's data in [Config.Destroy]. A persistent plugin with
// neither kind of option is refused: the node cannot keep the suite away
// from its live data.
//
// Errors the store returns travel to the node as stable codes: return (or
// wrap) [ErrNotFound] for a missing key, and the other sentinels of this
// package ([ErrClosed], [ErrInvalidKey], ...) where they fit; the node's
// errors.Is checks see them. They are core's sentinels, re-exported, so a
// plugin imports only this package.
//
// # Protocol versions
//
// A plugin built with the SDK serves versions 1, 2 and 3 of the protocol,
// and the host picks the newest it speaks too. Under versions 2 and 3 the
// host does
// not wait a round trip per write on a store that is durable only after a
// Sync: it queues writes and sends them in groups, which the SDK applies,
// each as one batch of the store, and it waits for the store only at Sync
// and at reads. On a store opened to make every write durable before
// acknowledging it, the host waits for each write: Config.SyncWrites says
// which stores those are, by default those opened with the Bool option
// named sync set to true. Queries that start at a key reach the store's
// QueryFrom when it is a core.Seeker. Version 3 carries the same calls as
// version 2, with the mutations of writes and the entries of query results
// in flat frames (plugins/wire, FRAMES.md), which the SDK encodes and
// decodes: a plugin's code does not change. Config.MaxProtocol 1 serves
// version 1 only, and 2 versions 1 and 2, to test a host's fallback.
//
// A plugin started by hand, not by a netabase host, prints what it is and
// how to use it, and exits with status 1.
//
// When the host goes away without stopping the plugin (it crashed or was
// killed), the plugin closes its store and exits, so the store's lock is
// free for the host's next start.
//
// When the node traces (netabase daemon --tracing, or the standard
// OTEL_EXPORTER_OTLP_ENDPOINT), it says so in the plugin's environment, and
// the SDK exports the plugin's own spans over OTLP/HTTP to the same
// collector, as service netabase-plugin-<Name>: a server span "plugin
// <Method>" for each call that carries a sampled trace context (W3C
// traceparent in the call's gRPC metadata), a child of the node's span of
// the backend operation. The context the SDK hands the store's methods
// holds that span, so a store's own spans (otel.Tracer(...).Start(ctx,
// ...)) join the trace too. Otherwise the SDK installs nothing for tracing.
//
// Test a plugin with sdktest.Run, which runs the conformance suite through a
// real netabase host, exactly as a node admits the plugin.
package sdk
