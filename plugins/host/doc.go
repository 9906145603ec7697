// Package host runs netabase storage plugins: separate programs, built with
// plugins/sdk (or speaking its gRPC protocol, netabase.storage.v3, v2 or
// v1), that
// serve a key-value store. It launches and verifies them with
// hashicorp/go-plugin, supervises them, and presents each open store as a
// go-datastore Batching, so that core applies the same rules to a plugin as
// to an in-tree backend.
//
// # URLs
//
//	plugin:///abs/path/to/binary?sha256=<hex>[&option=value...]
//
// The path names the plugin binary; a path that names no executable file
// (missing, a directory, without execute permission) is an error wrapping
// core.ErrInvalidURL. sha256 is required: the binary's SHA-256
// checksum, checked before every start (go-plugin's SecureConfig), so a
// replaced binary is refused with an error naming the expected and actual
// checksums. go-plugin checks the file at the path, then runs the path; so
// on Linux, once the process has started, the host checks the program it
// actually runs as well (/proc/<pid>/exe, the file executed even if the
// path was given to another since), and a plugin whose file changed while
// it was starting is stopped and refused with a [ChecksumError] that says
// so. Where that cannot be read (on other systems), and for a script (a
// file starting with "#!", whose process runs its interpreter), the check
// of the file at the path is all there is. Every other parameter is one of the plugin's own options, which
// the plugin declares with a kind (string, path, bool, int, duration, size,
// namespace) and checks; an unknown one is an error wrapping core.ErrInvalidURL.
// `netabase plugin pin <binary> [option=value...]` prints the URL with the
// checksum filled in.
//
// # Verification
//
// A plugin is started with go-plugin's handshake for the "storage" plugin,
// offering protocol versions 1, 2 and 3 (VersionedPlugins): the plugin
// answers with the newest it serves, plugins built with plugins/sdk version
// 3, and a plugin that serves only version 1 or 2 keeps working. It runs over gRPC
// only, with AutoMTLS: the connection is mutually authenticated with
// one-time certificates, over a unix socket the plugin makes in a directory
// the host makes for each process, mode 0700, so that no other user can
// reach or replace it (PLUGIN_UNIX_SOCKET_DIR). A binary that is not a
// plugin, that exits before the handshake, or that speaks no version the
// host speaks is refused with an error that says which, with the last lines
// the process wrote. The plugin's log lines (JSON in
// hclog's shape, as plugins/sdk writes them, or plain text) go to
// Config.Logger with the attribute plugin=<binary name>, at most 200 lines
// a second on average in bursts of up to 1000; the log says when it drops
// lines beyond that, and how many.
//
// # Info and admission
//
// Describe starts the plugin once per binary and checksum and asks what it
// is; the answer is cached. Info.Name and Info.Version are the plugin's own,
// and Info.Build is "sha256:<hex>", so the admission gate's certificate
// (core.Gate) holds for exactly this binary.
//
// # Scratch stores
//
// Admission, `netabase conformance` and `netabase bench` work on scratch
// stores, never on the URL's own data. A plugin declares which of its
// options say where its data lives: kind path (a file or directory on this
// machine) or kind namespace (a name inside a server the plugin connects
// to: a table or schema of a database, a key prefix). [Driver.Scratch]
// keeps the URL's binary, checksum and options, rewrites every path
// option, given or not, to <dir>/<option name> (dir a new directory under
// the root it is given), and every namespace option to a fresh name,
// "netabase_scratch_" and 16 random hex digits. The destroy function it
// returns (which the conformance harness calls when it is done with the
// store) removes dir and, for a plugin with a namespace option, starts the
// plugin and calls its Destroy with the scratch store's options, so that
// the plugin drops what it made on the server. The host sends Destroy only
// when the namespace options are all scratch names, and the SDK refuses
// any other Destroy again, so live data is never destroyed.
//
// A plugin that declares persistent and neither a path nor a namespace
// option keeps its data where no rewrite of its options can move it (say,
// a database named only by a connection string): its scratch store would
// be its live store. Scratch refuses it with an error wrapping
// core.ErrRejected that says so, so such a plugin is never admitted and
// the suite never writes into its data. A plugin whose data is not
// persistent (each process starts empty) needs no such option.
//
// An interrupted run (the host killed mid-suite) may leave scratch data
// behind: scratch directories under the temporary directory, and for a
// namespace, whatever the plugin made under a netabase_scratch_ name, which
// is safe to drop.
//
// # Capabilities
//
// A plugin declares persistent and durable; the store presented here is a
// plain go-datastore Batching, so core exposes exactly those. Protocol
// version 1 carries no TTL or transactions (the capability message keeps
// their field numbers free for a later version).
//
// # Protocol version 2: writes, Sync and queries that start at a key
//
// Under version 1 every Put, Delete, batch Commit and Sync is one round
// trip, and returns when the plugin has answered. Under version 2 every
// write and Sync travels on one Write stream per process, in numbered
// groups of mutations; the plugin applies each group atomically, in order,
// and answers each with the number of mutations it applied.
//
//   - On a store whose plugin said at Open that it acknowledges only
//     durable writes (sync_writes; for plugins/sdk, the option sync=true),
//     a write returns when the plugin has answered its group: with
//     sync=true, an acknowledged write is on disk, as under version 1.
//   - Otherwise a write returns once queued: it joins the open group, which
//     is sent as soon as fewer than two groups await their answers, so the
//     writes that arrive while earlier groups travel go together, up to
//     1 MiB a group (the next write then starts a group queued behind
//     it, and a larger write goes alone). At most 16 MiB of writes wait
//     for answers; a write waits while more would
//     (a larger batch goes alone). Reads (Get, Has, GetSize, Query) wait
//     for the answers to every group made before them, so they see every
//     earlier write as the plugin applied it. Sync sends a group that
//     makes everything before it durable and returns with its answer; Close
//     waits for every answer first. A write is thus durable after a Sync
//     that returned nil, as the contract asks of a store without sync=true;
//     core.SyncWrites, on by the daemon's defaults, Syncs after every write
//     before acknowledging it, so the daemon acknowledges only what is on
//     disk.
//   - A group whose answer carries an error, or whose applied count is not
//     the group's size (a plugin that acknowledges part of a commit: an
//     error wrapping core.ErrRejected saying the plugin broke the
//     protocol), fails the next call, write or read (a read waits for the
//     answers to earlier writes), and the next Sync (every Sync waiting
//     when the answer comes), whose callers learn that writes acknowledged
//     before were not applied. Input the
//     plugin would refuse (a key that is not a valid datastore key, a value
//     over core.MaxValueSize) is refused before anything is queued.
//   - When the process dies with writes queued or in flight, calls fail
//     with ErrPluginDown as below; the first call after the restart,
//     whatever it is, and the first Sync fail with ErrWritesLost: the writes a successful Sync covered are
//     kept, those after it may be lost. A write stream that ends or breaks
//     while the process runs is a broken plugin: the host kills it and
//     restarts it.
//
// A query that starts at a key (core.SeekQuery, through core.Seeker, in
// both directions) travels as such to a version 2 plugin that said at Open
// that it seeks (plugins/sdk always does: it runs the query through
// core.QueryFrom, by the store's seek when the store is a core.Seeker);
// the host checks that every entry lies within the query's bounds and
// order. To a version 1 plugin, or one that does not seek, it sends the
// plain query under the prefix and skips the entries before the start
// itself: the results are the same. Under version 2 the SDK streams a scan
// in batches that grow to 1 MiB.
//
// # Protocol version 3: frames
//
// Version 3 is version 2 with the mutations of each Write message and the
// entries of each Query message in one frame (plugins/wire, FRAMES.md): a
// block of length-prefixed records instead of a protobuf message per
// record. Everything said above of version 2 holds for version 3: groups,
// their answers and what the host catches in them, Sync, traceparent, the
// round-trip timing of groups, seeks, and the bound of a message (now of a
// frame of many records). The host reads a query's frame record by record
// and checks each entry as it goes; a malformed frame is a broken
// protocol. A value a query returns shares the memory of the frame it came
// in, which nothing else holds.
//
// # What a plugin answers
//
// The host checks what it can of a plugin's answers as they arrive, on top
// of core's checks of keys and prefixes: a value over core.MaxValueSize, a
// negative or oversized size, more query entries than the limit, a key
// twice in a row, entries out of the order the query asks for. Each is an
// error wrapping core.ErrRejected that says the plugin broke the protocol;
// the call or query ends there. A plugin's error messages are cut to 2 KiB.
//
// # Supervision and the backend-state hook
//
// Each opened store has its own process. Every call carries the caller's
// context. When the process dies, calls in flight fail at once (the
// connection breaks) and later calls fail fast with an error wrapping
// [ErrPluginDown] that says why (the exit status and the last lines the
// plugin wrote) — no call waits for the restart. The host then restarts
// the plugin with exponential backoff (Config.Backoff), opens the store again
// with the same options, and carries on; queries open at the crash end with
// the error, and later calls reach the new process.
//
// A call whose context has no deadline (context.Background(), as library
// code such as kad-dht makes them) is bounded by Config.CallTimeout
// (default 1m; for a query, each wait for its next batch of results): a
// plugin that does not answer within it is taken for hung, killed and
// restarted like one that died, and the call fails with an error wrapping
// [ErrPluginDown] and [ErrNoAnswer]. So no call, and no Close waiting for
// calls in flight, waits for ever on a plugin.
//
// A store is a core.StateReporter: it reports up, down (with the reason)
// and restarting (with the attempt and the wait), core.Wrap passes these
// through, and the node publishes them as its backend.state events. That
// is the one path by which anyone learns of a plugin's state; the driver
// also logs each of these changes. A store is a core.CallReporter too: the
// round-trip histogram of the driver's plugin calls, the calls in flight
// and the restarts, which the daemon's metrics and `netabase stats` read
// through core.Wrap and the node.
//
// A plugin that declares durable keeps every write acknowledged before a
// successful Sync when its process is killed. Writes acknowledged after the
// last successful Sync survive a crash only as far as the engine keeps them;
// so that a caller never mistakes them for synced, the first call after a
// restart that may have lost some fails with [ErrWritesLost], and so does
// the first Sync (and every Sync that starts before it has returned) (and the down
// state's detail says how many): write them again, then Sync.
//
// # Crashing a store on purpose
//
// [Driver.Crash] kills an open store's process with SIGKILL, without
// restarting it, and closes the store. The driver is thereby a
// conformance.CrashDriver: the conformance suite's instances of a plugin
// can crash, so admission and `netabase conformance` check that a plugin
// that declares durable keeps what a successful Sync covered.
package host
