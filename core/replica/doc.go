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
