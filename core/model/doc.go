// Package model gives typed collections of Go structs over any netabase
// backend: stored, indexed, queried, published and watched.
//
//	type User struct {
//		Name  string    `netabase:"key"`
//		Email string    `netabase:"index,unique"`
//		Age   int       `netabase:"index"`
//		Since time.Time
//	}
//
//	s := model.NewLocal(backend) // or model.New(node) to publish and fetch
//	users, err := model.Open[string, User](ctx, s, "users")
//	err = users.Put(ctx, User{Name: "ada", Email: "ada@example.org", Age: 36})
//	byAge, err := model.IndexOf[int](users, "Age")
//	for u, err := range byAge.Range(ctx, model.Range[int]{}.From(30).To(40)) { ... }
//
// # Structs and tags
//
// One exported field is tagged netabase:"key"; others may be tagged
// netabase:"index" or netabase:"index,unique". Key and indexed fields are
// strings, signed or unsigned integers, []byte, time.Time or bool (or named
// types of those). An index is named after its field.
//
// # Storage layout
//
// A collection called c keeps, under datastore keys it builds itself (not
// through go-datastore's namespace wrapper, which would hide transactions):
//
//	/model/c/schema                    the schema descriptor
//	/model/c/v/<key>                   a value
//	/model/c/i/<Index>/<value>/<key>   an index entry (its datastore value is empty)
//
// where <key> and <value> are segments: the order-preserving binary form of
// the field (strings and bytes as they are; integers as 8 bytes big-endian,
// signed ones with the sign bit flipped; times as signed Unix seconds then
// nanoseconds; bools as 0 or 1), in unpadded base32hex, whose alphabet is in
// ASCII order and sorts after "/" — and "-" for an empty value. Segments
// therefore sort as the values do, negative numbers before positive, earlier
// times before later, "" < "a" < "a\x00" < "ab"; and an index entry sorts by
// value, then key, with no way to confuse where one ends.
//
// A stored value is its schema version as a varint, then the value in
// deterministic CBOR (Core Deterministic Encoding, fxamacker/cbor). Times
// are encoded as RFC 3339 in UTC with nanoseconds: they come back in UTC.
// Adding a field keeps old values readable; they decode with the field's
// zero value. Stored bytes that do not decode give an error wrapping
// [ErrCorrupt] that names the collection and key.
//
// # Schemas and migrations
//
// Open stores the collection's schema (version, key, indexes and the shape
// of the struct) on first use, and afterwards refuses a struct that does
// not fit it: a changed key, a field whose type changed, or a field removed
// at the same version. A [Migrate] option for the stored version rewrites
// every stored value; a higher [Version] without a migration is accepted
// when the old values still decode (fields added or dropped). When the
// indexes change, Open drops and rebuilds them. Work Open starts and does
// not finish (a crash, a unique conflict) is redone by the next Open.
//
// # Atomicity and exact indexes
//
// A write (Put, PutMany, Delete) reads the old values, drops their index
// entries, checks unique indexes and writes the new value and entries as
// one transaction where the backend has transactions (go-datastore's
// TxnFeature, as core exposes it for a backend declaring them: Badger), and
// as one batch elsewhere (atomic on Pebble and LevelDB; the memory store
// applies a batch entry by entry). Writers of one collection are serialised
// by a lock in the [Store], held from reading the old value to publishing
// the change, so every index equals one rebuilt from the values; readers
// take no lock, and a read through an index skips an entry whose value a
// concurrent write has just changed. All writers of a collection must use
// one Store. [Collection.Check] verifies a collection against a rebuild.
//
// # Reads
//
// Reads return iter.Seq2[T, error] and stop at the first error. Range and
// Index.Range take a [Range] (Lo inclusive, Hi exclusive, Reverse, Limit)
// and start at their first value through the backend's seek
// (core.SeekQuery): ascending from Lo, descending from just before Hi, so
// "the last 100" reads 100 entries however large the collection (core
// emulates the seek, reading the entries before the start, on a backend
// without one, such as a plugin). Index.Find reads only the entries of its
// value.
//
// # Network
//
// A Store made with [New] publishes and fetches through a [Network] (a
// netabase node). Publish signs the value as the node's record named
// "<collection>/<key segment>" ([Collection.RecordName]), with the
// collection's name as schema and its version; Fetch builds the record key
// from the owner and key, verifies the envelope, checks its schema and
// decodes it, through a migration when the record is older.
//
// # Synced collections
//
// [OpenSynced] opens a collection over the node's replica of a synced
// collection (node.JoinSync), under the replica's name. Its values are keyed by
// (writer, key) and stored as
//
//	/model/c/v/<writer>/<key>                  a value
//	/model/c/i/<Index>/<value>/<writer>/<key>  an index entry
//
// so an index value is found across writers, and a unique index value is
// claimed per writer. The replica is the source of truth: this node's Put
// and Delete pass the local checks, are written to the replica (signed and
// published; a delete is a tombstone) and then committed locally; other
// writers' records come from the replica's Watch, and Open first makes the
// local store hold exactly the replica's live records. A PutMany enters
// the replica in one write, all its records or none (Replica.PutMany),
// before the local batch; peers receive the records one by one, as
// separate records, so a peer may show some of them before the others.
// When the watch says
// it missed changes (the collection fell a buffer behind a burst), the
// collection does the same again, so that Get, Scan and the indexes show
// every record without a reopen. Records are the
// value's deterministic CBOR with the schema version as record version;
// older versions are read through migrations (a synced collection's stored
// values are not rewritten), newer ones and records that are not values of
// the collection are left out, counted ([Collection.SyncStats]) and told to
// watchers. Values are stored by writer first; a synced collection also
// keeps an index on the key (entries under /model/c/i/_key/, built on Open
// for a collection stored before it had one), so that Range over keys reads
// only the values in the range, ordered by key, then writer. [Collection.Get] reads this node's own value; when only
// other writers hold one for the key, its not-found error names some of
// them (looking under a bounded number of writers) and
// says that [Collection.GetFrom] reads it. [Collection.CaughtUp] waits,
// in a freshly opened collection, until the node has reconciled it with
// every peer that shares it and the collection holds what they sent, or
// says the node is alone when no peer shares it.
//
// # Change feeds
//
// [Collection.Watch] yields every local put and delete (old and new value)
// and every record of the collection received from the network, in commit
// order. Writers never wait for watchers: each watcher has a bounded buffer,
// and while it is full the watcher misses changes and is told how many
// (Event.Missed, and a gap in Event.Seq). [Collection.Follow] starts a feed
// and then reads the values, so that a reader that wants the values and
// every change after them finds no gap between the two.
package model
