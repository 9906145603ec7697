// Package replica keeps replicas of synced collections and reconciles
// them.
//
// A synced collection is the set of signed records (core/envelope) of one
// schema, the collection's name, from every writer its [Settings] admit.
// One record key has one writer, its owner, so two replicas can disagree
// only on which version of a key is the newest; the envelope's clock
// decides, and equal clocks are decided by the larger signature, the rule
// the DHT's selector applies too (envelope.Envelope.Newer). Whether a
// record is kept depends on the record, the settings and the other
// records of the set, never on who sent them. Under the bounds' rule
// BoundsSameSet it never depends on the order records arrive in either,
// so two replicas that have seen the same records hold the same set; under
// the default rule, BoundsOldestFirst, a byte bound can make it depend on
// the order (SYNC.md §3).
// A delete is a tombstone: a record of version 0 with no value, which
// beats older versions and is dropped after the settings' horizon.
//
// Replicas catch up with each other by range-based set reconciliation
// (Aljoscha Meyer's method, as negentropy and iroh-docs use it): the
// initiator sends the fingerprint of its whole set; a range whose
// fingerprints differ is split into smaller ranges, or answered with the
// list of its items when it holds few; lists show exactly which records
// each side lacks. Equal replicas settle in one round trip of a few dozen
// bytes; d differences among n records cost about d·log(n) ranges. A
// replica keeps its items in an order-statistics B+tree whose nodes hold
// their subtree's count and sum of the items' hashes, so an insert, a
// delete, an eviction past a bound and any range's fingerprint cost
// O(log n). SYNC.md at the repository's root specifies
// the messages, in two versions of the protocol ([Version1], and
// [Version2]: the same session in packed messages whose keys are coded
// relative to the one before, records carried without their keys, and a
// narrower split), which a transport negotiates ([Replica.ReconcileVersion]).
//
// The index lives beside the records, in the replica's own namespace of
// the node's backend (under /index: the nodes of the set's tree and of the
// orders by age, each writer's figures, and a summary), and only a bounded
// cache of its nodes (7.25 MiB of their stored forms) and the nodes changed
// since the last checkpoint are in memory, whatever the number of records.
// A change writes, in the same batch as the records it stores or drops, an
// entry of the index's log per item it puts or removes; a checkpoint (every
// 256 changed nodes or 4,096 entries) writes the changed nodes, the
// writers' figures and the summary in a batch of its own, and deletes the
// log. Open reads the summary (format version, whether the index is whole,
// the settings' digest, the figures, the set's count and sum, the last
// entry of the log the nodes hold), checks it against the trees' roots and
// the writers' figures, and applies the log's entries, without reading the
// records; an index that is missing (a collection stored before replicas
// kept one), unfinished, of another version, at odds with its summary or
// whose log has a gap is rebuilt from the records, and the log says why:
// it is never trusted unchecked. What a backend must
// give: a batch that commits atomically, all of it or none, across a crash
// too (pebble, LevelDB, IndexedDB and the plugin protocol do, and Badger
// for a batch that fits in one of its transactions, as a replica's do); a
// crash then leaves the index agreeing with the records, and nothing a
// write acknowledged is lost where the backend syncs its writes. On a
// datastore without batches every write is a checkpoint that first marks
// the summary unfinished and syncs it, so that a crash part way is found
// by the next Open, which rebuilds the index. A backend whose batches are not atomic across a
// crash breaks that promise in a way Open cannot see (the summary may be
// of a batch whose nodes were lost): it must not hold synced collections
// that are to survive a crash.
//
// A collection's Settings have one text form, read from their struct
// tags: the keys of config.toml's [[sync]] tables, of the JSON the control
// API and the gateway send (the settings whole, with their digest), and
// of netabase sync join's flags ([Fields], [Settings.Get], [Settings.Set]).
// A side that receives another's settings compares them with
// [Settings.Agree], whose error names the fields that differ.
//
// Every record that enters a replica goes to its watchers ([Replica.Watch])
// in the order the replica took it. A watcher gets every change in order,
// or an explicit word that it missed some (a [Change] whose Missed is not
// zero, where the changes would have been); never a silent gap. Writers
// never wait for watchers: a watcher that falls a full buffer behind
// misses changes, and catches up by re-reading the replica or, if it
// forwards the changes, by ending its stream so that its reader resumes.
//
// The package knows nothing of libp2p streams or gossip: core/node runs
// sessions over its streams and feeds gossiped records to Insert. An
// [Inbound] bounds the sessions peers start with a node, and the room of
// the frames its sessions read, whatever transport carries them.
package replica
