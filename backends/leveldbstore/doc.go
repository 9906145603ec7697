// Package leveldbstore is the LevelDB backend: an adapter over go-ds-leveldb
// (github.com/ipfs/go-ds-leveldb v0.5.0), which stores data with
// syndtr/goleveldb.
//
// # URLs
//
//	leveldb:///abs/path[?sync=true][&cache=8MiB]
//
// The path is the store's directory. It is created when missing; an
// existing directory must hold a LevelDB store or nothing at all (see
// core.PrepareDir).
//
// # Capabilities
//
// Persistent and durable. go-ds-leveldb fsyncs every write and batch
// commit, and its Sync does nothing, so every acknowledged write is durable
// whatever the sync parameter says.
//
// The engine is a core.Seeker: a query that starts at a key (core.SeekQuery,
// which core/model's ranges use) seeks LevelDB's iterator there and reads no
// entry before it.
//
// # Options
//
//   - sync (bool): accepted for uniformity with the other backends; LevelDB
//     writes are always synchronous here, so both values behave as true.
//   - cache (size, default goleveldb's 8 MiB): the block cache size.
//
// # Damaged stores
//
// go-ds-leveldb answers a corrupt store by rewriting it with goleveldb's
// recovery. This adapter first opens an existing store read-only and refuses
// a corrupt one with an error, so nothing is rewritten behind the user's back.
package leveldbstore
