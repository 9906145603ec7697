// Package pebblestore is the pebble backend, netabase's embedded default: an
// adapter over go-ds-pebble (github.com/ipfs/go-ds-pebble v0.5.13), which
// stores data with CockroachDB's pebble engine.
//
// # URLs
//
//	pebble:///abs/path[?sync=true][&cache=256MiB]
//
// The path is the store's directory. It is created when missing; an
// existing directory must hold a pebble store or nothing at all (see
// core.PrepareDir), so a typo never writes into someone else's files.
//
// # Capabilities
//
// Persistent and durable: Sync fsyncs pebble's write-ahead log, so every
// write acknowledged before a successful Sync survives a crash. With
// sync=true every write is fsynced before it is acknowledged.
//
// The engine is a core.Seeker: a query that starts at a key (core.SeekQuery,
// which core/model's ranges use) seeks pebble's iterator there and reads no
// entry before it.
//
// # Options
//
// Stores are opened with pebble's defaults plus a bloom filter on every level
// (see EngineOptions). The URL may set:
//
//   - sync (bool, default false): fsync the write-ahead log on every write
//     and batch commit. go-ds-pebble writes without sync by default.
//   - cache (size, default 64 MiB, DefaultCacheSize; pebble's own default
//     is 8 MiB): the block cache size, such as 256MiB.
package pebblestore
