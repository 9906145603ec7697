package replica

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"slices"
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
// how the range was split and can be computed from prefix sums.
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

// Set is a sorted set of items, one per key, with the prefix sums that
// give any range's fingerprint in constant time. It is not safe for
// concurrent use.
type Set struct {
	items []Item
	words []word
	// prefix[i] is the sum of words[:i]; valid only when !dirty.
	prefix []word
	dirty  bool
}

// Len is the number of items.
func (s *Set) Len() int { return len(s.items) }

// Items returns the items in key order; the caller must not change them.
func (s *Set) Items() []Item { return s.items }

func (s *Set) find(key string) (int, bool) {
	return slices.BinarySearchFunc(s.items, key, func(it Item, k string) int { return strings.Compare(it.Key, k) })
}

// Get returns the item under key.
func (s *Set) Get(key string) (Item, bool) {
	i, ok := s.find(key)
	if !ok {
		return Item{}, false
	}
	return s.items[i], true
}

// Put adds it, replacing the item under the same key.
func (s *Set) Put(it Item) {
	i, ok := s.find(it.Key)
	w := wordOf(it)
	if ok {
		s.items[i], s.words[i] = it, w
	} else {
		s.items = slices.Insert(s.items, i, it)
		s.words = slices.Insert(s.words, i, w)
	}
	s.dirty = true
}

// PutAll adds its, replacing the items under the same keys (of items with
// one key, the last counts), in one pass over the set: O(n + m log m)
// where single Puts of new keys would cost O(n) each.
func (s *Set) PutAll(its []Item) {
	var fresh []Item
	for _, it := range its {
		if i, ok := s.find(it.Key); ok {
			s.items[i], s.words[i] = it, wordOf(it)
			s.dirty = true
		} else {
			fresh = append(fresh, it)
		}
	}
	if len(fresh) == 0 {
		return
	}
	slices.SortStableFunc(fresh, func(a, b Item) int { return strings.Compare(a.Key, b.Key) })
	// Of items with one key, keep the last.
	j := 0
	for i := range fresh {
		if j > 0 && fresh[j-1].Key == fresh[i].Key {
			fresh[j-1] = fresh[i]
			continue
		}
		fresh[j] = fresh[i]
		j++
	}
	fresh = fresh[:j]
	items := make([]Item, 0, len(s.items)+len(fresh))
	words := make([]word, 0, len(s.items)+len(fresh))
	a := 0
	for _, it := range fresh {
		for a < len(s.items) && s.items[a].Key < it.Key {
			items, words = append(items, s.items[a]), append(words, s.words[a])
			a++
		}
		items, words = append(items, it), append(words, wordOf(it))
	}
	items, words = append(items, s.items[a:]...), append(words, s.words[a:]...)
	s.items, s.words, s.dirty = items, words, true
}

// DeleteAll removes the items under keys, in one pass over the set.
func (s *Set) DeleteAll(keys []string) {
	if len(keys) == 0 {
		return
	}
	gone := make(map[string]bool, len(keys))
	for _, k := range keys {
		gone[k] = true
	}
	j := 0
	for i := range s.items {
		if gone[s.items[i].Key] {
			continue
		}
		s.items[j], s.words[j] = s.items[i], s.words[i]
		j++
	}
	clear(s.items[j:])
	s.items, s.words, s.dirty = s.items[:j], s.words[:j], true
}

// lowerIndex is the index of the first item whose key is at least bound.
func (s *Set) lowerIndex(bound string) int {
	i, _ := s.find(bound)
	return i
}

// bounds returns the index range of the items in [lower, upper), where an
// infinite upper bound is +∞.
func (s *Set) bounds(lower string, upper Bound) (int, int) {
	lo := s.lowerIndex(lower)
	hi := len(s.items)
	if !upper.Inf {
		hi = s.lowerIndex(upper.Key)
	}
	return lo, max(lo, hi)
}

// fingerprint of the items at indexes [lo, hi).
func (s *Set) fingerprint(lo, hi int) Fingerprint {
	if s.dirty || len(s.prefix) != len(s.words)+1 {
		s.prefix = slices.Grow(s.prefix[:0], len(s.words)+1)
		var sum word
		s.prefix = append(s.prefix, sum)
		for _, w := range s.words {
			sum = sum.add(w)
			s.prefix = append(s.prefix, sum)
		}
		s.dirty = false
	}
	return fingerprint(s.prefix[hi].sub(s.prefix[lo]), hi-lo)
}

// Fingerprint is the fingerprint of the whole set.
func (s *Set) Fingerprint() Fingerprint { return s.fingerprint(0, len(s.items)) }

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
