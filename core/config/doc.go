// Package config is the schema of a netabase node's configuration file: one
// TOML file, config.toml in the node's data directory, written with defaults
// by `netabase init` (or by the first `netabase daemon`) and overridable by
// flags.
//
// Every key is optional: a key the file leaves out takes its default. An
// unknown key is an error, so a typo never silently does nothing, and every
// error names the key and, for a file, its line.
//
// The data directory is where the file is; it is not a key of its own, so
// the file and the directory can never disagree. It holds the identity key
// (node.IdentityFile), the admission gate's certificate cache, the daemon's
// control socket and, by default, the store.
//
// The file is the daemon's, not the node's: [Config.NodeConfig] converts
// its keys for the node into core/node's typed options (node.Config:
// multiaddrs, durations, byte sizes), the one place they are parsed, by
// each field's node tag, and checks them by the node's own rules
// (node.Config.Check, in the file's names and units), so the two cannot
// disagree; the daemon (cmd/netabase) reads the tables that are its own:
// [metrics], [tracing], [gateway] and [[sync]]. The defaults ([Default])
// are the node's own (node.Config.WithDefaults) in the file's form. A
// field's flag tag names the flag of netabase init and daemon that sets
// it ([Flags]). This package stacks over core/node; the node never
// imports it.
//
// The keys of a [[sync]] table are the text form of replica.Settings (its
// Fields; SYNC.md §3 lists them): a size is a whole number of bytes, a
// duration is text. A bound left out (or 0) takes its default, so a table
// that gives only a name and writers defines the collection it did before
// the bounds were keys; every node of a collection must give it the same
// settings, in any spelling. The file written gives each key with its
// comment.
//
// An error about a [[sync]] table names it by its place in the file:
// sync[1] is the first.
//
// # Keys
//
// The list below is generated from the comment tags of [Config] (and, for a
// synced collection's table, from [replica.Fields]) with the defaults of
// [Default]; [Keys] returns it, and go test -run TestConfigDoc -update
// rewrites it here.
//
//	storage                 Storage backend, by URL, such as pebble:///abs/path (the default) or memory://;
//	                        netabase backends lists the backends and the form of their URLs.
//	                        Default "pebble://<data dir>/store".
//	sync_writes             Sync the store to disk before acknowledging a write, so an acknowledged write
//	                        survives a crash or power loss; writes that arrive together share one sync.
//	                        false is faster, but a crash may then lose writes the node acknowledged.
//	                        No effect on a store that is not persistent (memory://).
//	                        Default true.
//	listen                  Addresses to listen on, as multiaddrs: TCP and QUIC, IPv4 and IPv6.
//	                        Default ["/ip4/0.0.0.0/tcp/4101", "/ip4/0.0.0.0/udp/4101/quic-v1", "/ip6/::/tcp/4101", "/ip6/::/udp/4101/quic-v1"].
//	protocol_prefix         DHT protocol prefix: /netabase for a netabase network (where netabase records
//	                        live), /ipfs to join the public IPFS DHT (pk and ipns records only).
//	                        Default "/netabase".
//	mode                    DHT mode: auto (serve unless found unreachable), client or server.
//	                        Default "auto".
//	bootstrap               Peers to join the network through, as multiaddrs ending in /p2p/<peer ID>.
//	mdns                    Find peers on the local network with mDNS.
//	                        Default true.
//
//	[limits]                Connection and resource limits.
//	conn_low_water          The connection manager trims connections down to this many...
//	                        Default 100.
//	conn_high_water         ...when there are more than this many.
//	                        Default 400.
//	conn_grace_period       A new connection is safe from trimming for this long.
//	                        Default "1m".
//	max_connections, max_streams, max_memory_mib
//	                        Resource manager limits; 0 scales libp2p's defaults with the machine's memory
//	                        and file descriptors.
//	                        Default 0, 0, 0.
//
//	[records]               Record lifetimes.
//	max_age                 How long a stored record lives unless its owner republishes it; "0s" keeps
//	                        records until they are removed.
//	                        Default "0s".
//	republish_interval      How often the node republishes its own records and provider records.
//	                        Default "12h".
//
//	[quota]                 What the node stores for other peers, and how fast they may send it. Past a
//	                        limit a peer's write is refused, logged once a minute per peer and counted
//	                        (netabase id). The node's own records are never refused. 0 turns a limit off.
//	max_records, max_mib    Value records stored for other peers, in all, and their size in MiB.
//	                        Default 100000, 256.
//	max_records_per_peer, max_mib_per_peer
//	                        Value records one peer may have stored here, and their size in MiB.
//	                        Default 10000, 32.
//	max_records_per_owner, max_mib_per_owner
//	                        Netabase records of one owner (whoever sends them), and their size in MiB.
//	                        Default 1000, 16.
//	max_providers, max_providers_per_peer
//	                        Provider records stored for other peers, in all and per peer.
//	                        Default 100000, 10000.
//	max_provider_addrs      Addresses kept from one provider announcement; the rest are dropped.
//	                        Default 16.
//	put_rate, put_burst     PUT_VALUE requests one peer may send per second, and in one burst.
//	                        Default 20, 200.
//	provide_rate, provide_burst
//	                        ADD_PROVIDER requests one peer may send per second, and in one burst.
//	                        Default 20, 200.
//	ipfs_records            Accept and serve IPFS's pk and ipns records on a network other than /ipfs.
//	                        Default false.
//
//	[metrics]               Prometheus metrics at http://<address>/metrics and Go's profiles at
//	                        /debug/pprof/; netabase daemon --metrics <address> turns them on too.
//	                        The README's table of metrics lists them.
//	enabled                 Serve them.
//	                        Default false.
//	address                 The host:port to serve them on. The default is reachable from this machine
//	                        only; anyone who can reach the address reads the metrics and profiles, so
//	                        open it wider (such as 0.0.0.0:4190) only behind a firewall.
//	                        Default "127.0.0.1:4190".
//
//	[tracing]               OpenTelemetry traces of the control API's calls, the DHT's operations and
//	                        the storage backend's (a plugin's too), sent over OTLP/HTTP; netabase daemon
//	                        --tracing <endpoint> turns them on too, and so does the standard
//	                        OTEL_EXPORTER_OTLP_ENDPOINT variable.
//	enabled                 Send them.
//	                        Default false.
//	endpoint                The collector's OTLP/HTTP URL, such as http://127.0.0.1:4318 (spans go to its
//	                        /v1/traces). Empty: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318.
//
//	[gateway]               A read-only HTTP gateway: records, providers and synced collections for
//	                        programs that do not speak libp2p, such as a page in a browser; netabase
//	                        daemon --gateway <address> turns it on too.
//	enabled                 Serve it.
//	                        Default false.
//	address                 The host:port to serve it on. The default is reachable from this machine
//	                        only; anyone who can reach the address reads every record the node holds
//	                        or finds, so open it wider (such as 0.0.0.0:4180) only on purpose.
//	                        Default "127.0.0.1:4180".
//	allowed_origins         Origins (scheme://host[:port], such as http://127.0.0.1:8080) whose pages may
//	                        read the gateway from a browser; "*" allows any page. Empty: none.
//	sync                    Serve the sync endpoint, /v1/sync/<name>/ws: a page of an allowed origin (or
//	                        a program) replicates each synced collection this node has joined, and
//	                        writes records into it, admitted as gossiped records are (SYNC.md §6).
//	                        Default false.
//
//	[[sync]]                A synced collection the node joins at start (netabase sync join adds one,
//	                        netabase sync leave removes it). Every node of a collection must give it
//	                        the same settings: writers, bounds and horizon; a bound left out takes its
//	                        default.
//	name                    The collection's name.
//	writers                 The peer IDs that may write to it; empty: any peer may write its own records.
//	max_records_per_writer  Records (tombstones included) one writer may have in it; past it, the writer's oldest are dropped.
//	                        Default 100000.
//	max_bytes_per_writer    Bytes of envelopes one writer may have in it; past it, the writer's oldest records are dropped.
//	                        Default 268435456.
//	max_records             Records the whole collection holds; past it, the oldest are dropped.
//	                        Default 1000000.
//	max_bytes               Bytes of envelopes the whole collection holds; past it, the oldest records are dropped.
//	                        Default 1073741824.
//	tombstone_horizon       How long a delete is remembered; a replica offline longer brings back what was deleted.
//	                        Default 720h.
//	bounds_rule             1: past any bound the oldest records are dropped; 2: the same records give the same set in any order (a count bound drops the oldest; a record over a byte bound / its count bound is not taken).
//	                        Default 1.
package config
