// Package badgerstore is the Badger backend: an adapter over go-ds-badger4
// (github.com/ipfs/go-ds-badger4 v0.1.8), which stores data with Badger v4.
//
// # URLs
//
//	badger:///abs/path[?sync=true][&gc=15m]
//
// The path is the store's directory. It is created when missing; an
// existing directory must hold a Badger store or nothing at all (see
// core.PrepareDir).
//
// # Capabilities
//
// Persistent, durable, TTL and transactions. Sync fsyncs Badger's value log
// and write-ahead data, so every write acknowledged before a successful Sync
// survives a crash; with sync=true every write is fsynced before it is
// acknowledged. Keys may carry a time to live (go-datastore's TTL
// interface), and go-datastore transactions are Badger transactions,
// applied atomically at Commit.
//
// The engine is a core.Seeker: a query that starts at a key (core.SeekQuery,
// which core/model's ranges use) seeks Badger's iterator there and reads no
// entry before it.
//
// # Options
//
//   - sync (bool, default false): Badger's SyncWrites.
//   - gc (duration, default 15m): how often the value log is garbage
//     collected; 0 turns periodic collection off.
//
// # Logging
//
// go-ds-badger4 and Badger log through go-log's "badger4" subsystem,
// printing internal notes such as "batch not committed or canceled" to
// standard error. The first Open turns that subsystem off, unless
// GOLOG_LOG_LEVEL is set: GOLOG_LOG_LEVEL=badger4=debug shows everything.
//
// # Faults
//
// An error Badger returns for a full disk (one wrapping ENOSPC) puts the
// store in the failed state through core.Wrap, which then refuses every
// call (core.ErrFailed), and the node reports it. But Badger rarely
// returns one: it writes its memtable's log and its value log through
// memory-mapped files, and a write into a mapped page the disk has no room
// for raises SIGBUS (seen on a full tmpfs: the fault is in memTable.Put,
// on Badger's own write goroutine). A read of a mapped table whose file was
// truncated, or whose disk fails, does the same. Go turns such a fault into
// a recoverable panic only on a goroutine that called
// debug.SetPanicOnFault, and these happen on Badger's goroutines, not the
// caller's, so SIGBUS ends the process, and nothing here can catch it. On
// Badger, keep the disk from filling (monitor free space, or give the store
// a partition of its own), or use pebble, whose faults fail the store
// instead.
//
// go-ds-badger4 ignores the caller's context while a query runs, applies a
// query's offset before its filters, and keeps batched slices until commit;
// core makes each of these behave as on every other backend.
package badgerstore
