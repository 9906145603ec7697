package replica

import (
	"cmp"
	"math"
	"strings"
	"time"

	"github.com/netabase/netabase/core/envelope"
)

// usage is what one writer, or the whole set, holds.
type usage struct {
	records int
	bytes   int64
	id      uint64 // a writer's place in the order byWriter
	first   age    // a writer's oldest item
}

// age places an item in an order by age: oldest first by clock, then by
// record key bytewise, the order the bounds drop records in (SYNC.md §3).
type age struct {
	clock envelope.Timestamp
	key   string
}

func (a age) compare(b age) int {
	if c := a.clock.Compare(b.clock); c != 0 {
		return c // the keys, far in memory, only for equal clocks
	}
	return strings.Compare(a.key, b.key)
}

func (age) weight() word { return word{} }

// writerAge places an item among its writer's, in the order by age. A
// writer is named by a number the index gives it, which compares faster
// than its key's text.
type writerAge struct {
	writer uint64
	age
}

func (a writerAge) compare(b writerAge) int {
	if c := cmp.Compare(a.writer, b.writer); c != 0 {
		return c
	}
	return a.age.compare(b.age)
}

// writerPart is the part of a record key that names its owner,
// "/netabase/<peer ID>": one writer's keys have one, and no other's.
func writerPart(key string) string {
	const root = "/netabase/"
	rest, ok := strings.CutPrefix(key, root)
	if i := strings.IndexByte(rest, '/'); ok && i >= 0 {
		return key[:len(root)+i]
	}
	return key
}

// index is a replica's index of the records it holds: their set, what
// each writer and the whole set hold, and the orders by age the bounds and
// the tombstone horizon drop records in. Every change costs O(log n), and
// dropping k records past a bound O(k log n). A replica's index is stored
// (newStoredIndex): its trees keep their nodes in the replica's datastore
// with a bounded cache, and what changed is written with the records, as
// log entries or a checkpoint (stage, settle); the writers' figures and the order of each writer's
// oldest item, one per writer, stay in memory. It is not safe for
// concurrent use.
type index struct {
	set      Set
	writers  map[string]*usage // by writerPart
	ids      uint64            // the writers' numbers given
	total    usage
	dead     int              // tombstones held
	firsts   btree[age]       // each writer's oldest item: the set's oldest is the first
	byWriter btree[writerAge] // every item, by writer
	tombs    btree[age]       // the tombstones
	stored   bool
	changed  map[string]bool // of a stored index: the writers whose figures changed since the last checkpoint
	// The log of a stored index (disk.go): the entries not yet written,
	// the last entry's number, and the last one the stored nodes hold.
	pending         [][]byte
	logSeq, logBase uint64
	replaying       bool
}

func newIndex() index {
	return index{writers: make(map[string]*usage)}
}

// put adds an item of an envelope of size bytes, replacing the key's.
func (x *index) put(it Item, size int, tombstone bool) {
	x.logPut(it, size, tombstone)
	stored := int32(size)
	if tombstone {
		stored = -stored
	}
	if old, replaced := x.set.put(it, stored); replaced {
		x.unaccount(old)
	}
	w := writerPart(it.Key)
	x.note(w)
	u := x.writers[w]
	if u == nil {
		x.ids++
		u = &usage{id: x.ids}
		x.writers[w] = u
	}
	u.records++
	u.bytes += int64(size)
	x.total.records++
	x.total.bytes += int64(size)
	a := age{it.Clock, it.Key}
	x.byWriter.put(writerAge{u.id, a})
	if u.records == 1 || a.compare(u.first) < 0 {
		if u.records > 1 {
			x.firsts.delete(u.first)
		}
		u.first = a
		x.firsts.put(a)
	}
	if tombstone {
		x.dead++
		x.tombs.put(a)
	}
}

// note marks the figures of writer w changed.
func (x *index) note(w string) {
	if x.stored {
		x.changed[w] = true
	}
}

// remove drops the item under key, if there is one.
func (x *index) remove(key string) {
	if old, ok := x.set.take(key); ok {
		x.logRemove(key)
		x.unaccount(old)
	}
}

// unaccount takes e, an entry the set no longer holds, out of the figures
// and the orders by age.
func (x *index) unaccount(e entry) {
	key, size := e.it.Key, int64(e.size)
	a := age{e.it.Clock, key}
	if size < 0 {
		size = -size
		x.dead--
		x.tombs.delete(a)
	}
	w := writerPart(key)
	x.note(w)
	u := x.writers[w]
	x.byWriter.delete(writerAge{u.id, a})
	u.records--
	u.bytes -= size
	if a == u.first {
		x.firsts.delete(a)
		if u.records > 0 {
			u.first = x.byWriter.at(x.byWriter.rank(writerAge{u.id, age{clock: envelope.Timestamp{Wall: math.MinInt64}}})).age
			x.firsts.put(u.first)
		}
	}
	if u.records == 0 {
		delete(x.writers, w)
	}
	x.total.records--
	x.total.bytes -= size
}

// evict drops the items that s's bounds and tombstone horizon do not keep
// at now, and returns their keys: expired tombstones; then, for each
// writer in touched (every writer when touched is nil) past its bounds,
// its oldest until it is within them; then the oldest of the whole set
// until it is within the total bounds. Under BoundsSameSet only the count
// bounds are looked at.
func (x *index) evict(now time.Time, s Settings, touched map[string]bool) []string {
	var out []string
	drop := func(key string) {
		x.remove(key)
		out = append(out, key)
	}
	horizon := now.Add(-s.TombstoneHorizon).UnixNano()
	for x.tombs.Len() > 0 && x.tombs.at(0).clock.Wall < horizon {
		drop(x.tombs.at(0).key)
	}
	// Under BoundsSameSet every record is at most the bytes per record,
	// so the count bounds keep the byte bounds; only counts drop records.
	sameSet := s.BoundsRule == BoundsSameSet
	over := func(u usage, maxRecords int, maxBytes int64) bool {
		return u.records > maxRecords || !sameSet && u.bytes > maxBytes
	}
	writerOver := func(w string) bool {
		u := x.writers[w] // nil once the writer's last record is dropped
		return u != nil && over(*u, s.MaxRecordsPerWriter, s.MaxBytesPerWriter)
	}
	if touched == nil {
		touched = make(map[string]bool, len(x.writers))
		for w := range x.writers {
			touched[w] = true
		}
	}
	for w := range touched {
		for writerOver(w) {
			drop(x.writers[w].first.key)
		}
	}
	for over(x.total, s.MaxRecords, s.MaxBytes) {
		drop(x.firsts.at(0).key)
	}
	return out
}
