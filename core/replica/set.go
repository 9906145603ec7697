package replica

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"strings"

	"github.com/netabase/netabase/core/envelope"
)

// HashSize is the length of an item's version hash and of a fingerprint.
const HashSize = 16

// Item names one record version in a set: its record key, its envelope's
// clock and the first HashSize bytes of the SHA-256 of its envelope bytes.
// A set holds at most one item per key.
type Item struct {
	Key   string
	Clock envelope.Timestamp
	Hash  [HashSize]byte
}

// ItemOf returns the item of the envelope bytes data filed under key.
func ItemOf(key string, clock envelope.Timestamp, data []byte) Item {
	sum := sha256.Sum256(data)
	it := Item{Key: key, Clock: clock}
	copy(it.Hash[:], sum[:])
	return it
}

// Newer reports whether it wins over o, another version of the same key,
// by what the items alone can tell: the later clock. Items with equal
// clocks and different hashes need their envelopes to decide.
func (it Item) Newer(o Item) bool { return it.Clock.Compare(o.Clock) > 0 }

// word is a 256-bit little-endian integer; a range's fingerprint is made
// from the sum, modulo 2^256, of its items' words, so it does not depend on
// how the range was split and can be computed from the sums a Set's tree
// keeps.
type word [4]uint64

func (w word) add(o word) word {
	var c uint64
	w[0], c = bits.Add64(w[0], o[0], 0)
	w[1], c = bits.Add64(w[1], o[1], c)
	w[2], c = bits.Add64(w[2], o[2], c)
	w[3], _ = bits.Add64(w[3], o[3], c)
	return w
}

func (w word) sub(o word) word {
	var b uint64
	w[0], b = bits.Sub64(w[0], o[0], 0)
	w[1], b = bits.Sub64(w[1], o[1], b)
	w[2], b = bits.Sub64(w[2], o[2], b)
	w[3], _ = bits.Sub64(w[3], o[3], b)
	return w
}

// wordOf is an item's contribution to fingerprints: SHA-256 over the
// key's length and bytes, the clock and the hash.
func wordOf(it Item) word {
	h := sha256.New()
	var buf [binary.MaxVarintLen64 + 12]byte
	n := binary.PutUvarint(buf[:], uint64(len(it.Key)))
	h.Write(buf[:n])
	h.Write([]byte(it.Key))
	binary.BigEndian.PutUint64(buf[:8], uint64(it.Clock.Wall))
	binary.BigEndian.PutUint32(buf[8:12], it.Clock.Logical)
	h.Write(buf[:12])
	h.Write(it.Hash[:])
	var sum [32]byte
	h.Sum(sum[:0])
	return word{
		binary.LittleEndian.Uint64(sum[0:]), binary.LittleEndian.Uint64(sum[8:]),
		binary.LittleEndian.Uint64(sum[16:]), binary.LittleEndian.Uint64(sum[24:]),
	}
}

// Fingerprint summarises the items of a range: equal ranges have equal
// fingerprints, and different ones differ but with negligible chance.
type Fingerprint [HashSize]byte

func fingerprint(sum word, count int) Fingerprint {
	var buf [32 + binary.MaxVarintLen64]byte
	for i, v := range sum {
		binary.LittleEndian.PutUint64(buf[i*8:], v)
	}
	n := binary.PutUvarint(buf[32:], uint64(count))
	full := sha256.Sum256(buf[:32+n])
	var fp Fingerprint
	copy(fp[:], full[:])
	return fp
}

// entry is an item of a Set with its word, and what decides most
// comparisons without reading the keys, which lie elsewhere in memory:
// the number the set gave the key's prefix (its writer and collection,
// "/netabase/<peer ID>/<collection>/"; 0 for a key without one, or a
// probe's prefix the set never held), and the next 8 bytes of the key,
// big-endian, zero-padded. Keys under one prefix whose next bytes differ
// compare as those bytes do.
type entry struct {
	it   Item
	w    word
	pfx  uint32
	size int32 // of the item's envelope, for its replica; negative for a tombstone
	head uint64
}

func (e entry) compare(o entry) int {
	if e.pfx == o.pfx && e.pfx != 0 && e.head != o.head {
		return cmp.Compare(e.head, o.head)
	}
	return strings.Compare(e.it.Key, o.it.Key)
}

func (e entry) weight() word { return e.w }

// keyPrefix returns the prefix of a record key up to and including the
// "/" after its collection's name.
func keyPrefix(key string) (string, bool) {
	w := writerPart(key)
	if len(w) == len(key) {
		return "", false
	}
	i := strings.IndexByte(key[len(w)+1:], '/')
	if i < 0 {
		return "", false
	}
	return key[:len(w)+1+i+1], true
}

// prefixTable numbers the keys' prefixes of a Set's entries (entry).
type prefixTable struct{ ids map[string]uint32 }

func (s *Set) table() *prefixTable {
	if s.px == nil {
		s.px = &prefixTable{}
	}
	return s.px
}

// entryOf returns the entry of it, numbering its key's prefix when intern
// is set (a probe's is not numbered).
func (s *Set) entryOf(it Item, intern bool) entry { return s.table().entryOf(it, intern) }

func (px *prefixTable) entryOf(it Item, intern bool) entry {
	e := entry{it: it}
	p, ok := keyPrefix(it.Key)
	if !ok {
		return e
	}
	id := px.ids[p]
	if id == 0 && intern {
		if px.ids == nil {
			px.ids = make(map[string]uint32)
		}
		id = uint32(len(px.ids) + 1)
		px.ids[strings.Clone(p)] = id
	}
	var head [8]byte
	copy(head[:], it.Key[len(p):])
	e.pfx, e.head = id, binary.BigEndian.Uint64(head[:])
	return e
}

func (s *Set) probe(key string) entry { return s.entryOf(Item{Key: key}, false) }

// Set is a sorted set of items, one per key, in an order-statistics
// B+tree whose nodes keep their subtree's count and sum of words: a Put, a
// removal and any range's fingerprint cost O(log n). Its zero value is an
// empty set held in memory; a replica's set keeps its nodes in the
// replica's datastore, with a bounded cache (SYNC.md §3). It is not safe
// for concurrent use.
type Set struct {
	t  btree[entry]
	px *prefixTable // shared with the codec of a stored set's nodes
}

// Len is the number of items.
func (s *Set) Len() int { return s.t.Len() }

// Items returns a copy of the items in key order.
func (s *Set) Items() []Item { return s.slice(0, s.Len()) }

// slice returns the items at indexes [lo, hi).
func (s *Set) slice(lo, hi int) []Item {
	out := make([]Item, 0, max(hi-lo, 0))
	s.t.each(lo, hi, func(e entry) bool {
		out = append(out, e.it)
		return true
	})
	return out
}

// page appends to out at most n items in key order: the first ones when
// first is set, else those whose keys sort after lower. It reads one
// descent and the nodes of the items it returns.
func (s *Set) page(out []Item, lower string, first bool, n int) []Item {
	lo := 0
	if !first {
		lo = s.t.rank(s.probe(lower + "\x00"))
	}
	s.t.each(lo, lo+n, func(e entry) bool {
		out = append(out, e.it)
		return true
	})
	return out
}

// at returns the item at index i, 0 ≤ i < Len.
func (s *Set) at(i int) Item { return s.t.at(i).it }

// Get returns the item under key.
func (s *Set) Get(key string) (Item, bool) {
	e, ok := s.t.get(s.probe(key))
	return e.it, ok
}

// Put adds it, replacing the item under the same key.
func (s *Set) Put(it Item) { s.put(it, 0) }

// put adds it, with the size its replica counts, replacing the entry under
// the same key and returning that one, in one descent.
func (s *Set) put(it Item, size int32) (entry, bool) {
	e := s.entryOf(it, true)
	e.w, e.size = wordOf(it), size
	return s.t.put(e)
}

// take removes the entry under key and returns it, in one descent.
func (s *Set) take(key string) (entry, bool) { return s.t.delete(s.probe(key)) }

// lowerIndex is the index of the first item whose key is at least bound.
func (s *Set) lowerIndex(bound string) int { return s.t.rank(s.probe(bound)) }

// bounds returns the index range of the items in [lower, upper), where an
// infinite upper bound is +∞.
func (s *Set) bounds(lower string, upper Bound) (int, int) {
	lo := s.lowerIndex(lower)
	hi := s.Len()
	if !upper.Inf {
		hi = s.lowerIndex(upper.Key)
	}
	return lo, max(lo, hi)
}

// rangeFingerprint is the fingerprint of the items in [lower, upper), and
// their index range, from one descent for each bound.
func (s *Set) rangeFingerprint(lower string, upper Bound) (Fingerprint, int, int) {
	lo, below := s.t.rankSum(s.probe(lower))
	hi, sum := s.Len(), s.t.sum(s.Len())
	if !upper.Inf {
		hi, sum = s.t.rankSum(s.probe(upper.Key))
	}
	if hi <= lo {
		return fingerprint(word{}, 0), lo, lo
	}
	return fingerprint(sum.sub(below), hi-lo), lo, hi
}

// fingerprint of the items at indexes [lo, hi).
func (s *Set) fingerprint(lo, hi int) Fingerprint {
	return fingerprint(s.t.sum(hi).sub(s.t.sum(lo)), hi-lo)
}

// Fingerprint is the fingerprint of the whole set.
func (s *Set) Fingerprint() Fingerprint { return s.fingerprint(0, s.Len()) }

// Bound is the exclusive upper end of a range of keys: Key, or +∞ when Inf.
type Bound struct {
	Key string
	Inf bool
}

// separator returns the shortest prefix of b's key that sorts after a's
// key: a bound between a and b, both sorted and distinct.
func separator(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return b[:min(n+1, len(b))]
}
