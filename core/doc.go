// Package core holds netabase's storage contracts and the rules that hold for
// every backend.
//
// A backend is any [github.com/ipfs/go-datastore.Batching]: the in-tree
// adapters under backends/ wrap the go-ds engines, and plugins/host presents
// an out-of-process plugin the same way. A [Driver] names one kind of backend
// by URL scheme, describes and opens it, and makes and removes the scratch
// stores the conformance suite runs on ([Driver.Scratch], which [NewDriver]
// provides for an in-tree engine); a [Registry] maps schemes to drivers.
// Opening a URL
// through a Registry yields a [Backend]: the engine wrapped by core so that
// the same rules hold whatever is underneath:
//
//   - keys are clean, rooted datastore keys of at most [MaxKeySize] bytes;
//     values are at most [MaxValueSize] bytes;
//   - every call after Close returns [ErrClosed] instead of reaching the
//     engine, and Close waits for open queries;
//   - a call made with a cancelled context does nothing and returns the
//     context's error; a query stops when its context ends;
//   - a query's prefix, filters, order, offset and limit mean the same on
//     every backend; an entry with a value carries its size, and a keys-only
//     entry carries no value;
//   - a Backend is a [Seeker]: [SeekQuery] starts a query at a key,
//     ascending from it or descending from just before it, through the
//     engine's seek where the engine has one and by skipping entries
//     where it has not, with the same results either way;
//   - Get and GetSize report a missing key as [ErrNotFound] (the very value
//     of go-datastore, unwrapped, so that code comparing with == works);
//     every other engine error is wrapped exactly once in an [*Error] that
//     names the operation and the key;
//   - after [SyncWrites], a write returns only once a Sync of the engine
//     that started after it has succeeded, and concurrent writes share
//     one Sync (group commit);
//   - after [Observe], an [Observer] hears of every operation with its
//     latency and error, whatever the engine, so metrics are measured once
//     here; core itself depends on no metrics library;
//   - a Backend is a [StateReporter] (the engine's states, and its own
//     failures) and a [CallReporter] (the engine's figures of its calls to
//     another process, such as a plugin's round trips, when it has any), so
//     a node reports both whatever driver opened its store.
//
// On top of a Backend sit [RecordStore] and [ProviderStore], the node's local
// view of DHT value records and provider records. They use exactly the key
// layout of go-libp2p-kad-dht's records package, so the node can hand the
// same datastore to the DHT and both see the same data.
//
// Before a node uses a backend it must pass the conformance suite: [Admit]
// opens a backend only with a passing certificate for that exact backend
// build, running the suite on scratch instances when there is none.
package core
