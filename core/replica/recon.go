package replica

import (
	"bytes"

	"github.com/netabase/netabase/core/envelope"
)

// The shape of a reconciliation under Version1: a range whose
// fingerprints differ is answered by the list of its items when it holds
// at most listThreshold of them, else split into branching ranges of about
// equal counts. Version2 has its own (Version.shape).
const (
	branching     = 16
	listThreshold = 32
)

// shape is how a side answers a range whose fingerprints differ.
type shape struct {
	branching, list int
}

func boundOf(upper []byte) Bound {
	if upper == nil {
		return Bound{Inf: true}
	}
	return Bound{Key: string(upper)}
}

func (b Bound) wire() []byte {
	if b.Inf {
		return nil
	}
	return []byte(b.Key)
}

func wireItems(items []Item) []WireItem {
	out := make([]WireItem, len(items))
	for i, it := range items {
		out[i] = WireItem{Key: []byte(it.Key), Wall: it.Clock.Wall, Logical: it.Clock.Logical, Hash: bytes.Clone(it.Hash[:])}
	}
	return out
}

func itemOfWire(w WireItem) Item {
	it := Item{Key: string(w.Key), Clock: envelope.Timestamp{Wall: w.Wall, Logical: w.Logical}}
	copy(it.Hash[:], w.Hash)
	return it
}

// ranges collects the ranges of a reply, merging neighbouring skips and
// dropping a reply of skips only, and counts about how many bytes they
// encode to.
type ranges struct {
	out  []Range
	size int
}

func (r *ranges) add(x Range) {
	if n := len(r.out); n > 0 && x.Mode == ModeSkip && r.out[n-1].Mode == ModeSkip {
		r.size += len(x.Upper) - len(r.out[n-1].Upper)
		r.out[n-1].Upper = x.Upper
		return
	}
	r.size += 8 + len(x.Upper) + len(x.Fingerprint)
	for _, it := range x.Items {
		r.size += 40 + len(it.Key)
	}
	r.out = append(r.out, x)
}

// full reports whether the reply has no room for another range's answer
// (at most branching ranges, or a list).
func (r *ranges) full(sh shape) bool {
	return len(r.out) >= MaxRanges-sh.branching-1 || r.size >= rangeBudget
}

func (r *ranges) result() []Range {
	for _, x := range r.out {
		if x.Mode != ModeSkip {
			return r.out
		}
	}
	return nil
}

// initial is the first range an initiator sends: the fingerprint of its
// whole set, or the empty list when it has nothing.
func (s *Set) initial() []Range {
	if s.Len() == 0 {
		return []Range{{Mode: ModeList}}
	}
	fp := s.Fingerprint()
	return []Range{{Mode: ModeFingerprint, Fingerprint: fp[:]}}
}

// split answers a range whose fingerprints differ: with the list of the
// items at [lo, hi), or with sh.branching fingerprints of them, the last
// ending at upper.
func (s *Set) split(out *ranges, sh shape, lo, hi int, upper Bound) {
	n := hi - lo
	if n <= sh.list {
		out.add(Range{Upper: upper.wire(), Mode: ModeList, Items: wireItems(s.slice(lo, hi))})
		return
	}
	size := (n + sh.branching - 1) / sh.branching
	for start := lo; start < hi; start += size {
		end := min(start+size, hi)
		b := upper
		if end < hi {
			b = Bound{Key: separator(s.at(end-1).Key, s.at(end).Key)}
		}
		fp := s.fingerprint(start, end)
		out.add(Range{Upper: b.wire(), Mode: ModeFingerprint, Fingerprint: fp[:]})
	}
}

// reconcile answers the ranges of a peer's message. It returns the ranges
// of the reply (nil when every range is settled), the keys of items to
// send the peer (it lacks them or holds an older version) and the keys of
// the peer's items to ask for (s lacks them or holds an older version).
// Versions with equal clocks and different hashes are both sent and
// asked for: their envelopes decide.
func (s *Set) reconcile(in []Range, sh shape) (reply []Range, push, want []string) {
	var out ranges
	lower := ""
	for _, r := range in {
		upper := boundOf(r.Upper)
		if out.full(sh) {
			// The reply is full: the rest of the key space is settled
			// by a later round, from one fingerprint.
			fp, _, _ := s.rangeFingerprint(lower, Bound{Inf: true})
			out.add(Range{Mode: ModeFingerprint, Fingerprint: fp[:]})
			break
		}
		switch r.Mode {
		case ModeSkip:
			out.add(Range{Upper: r.Upper})
		case ModeFingerprint:
			if fp, lo, hi := s.rangeFingerprint(lower, upper); bytes.Equal(fp[:], r.Fingerprint) {
				out.add(Range{Upper: r.Upper})
			} else {
				s.split(&out, sh, lo, hi, upper)
			}
		case ModeList:
			lo, hi := s.bounds(lower, upper)
			p, w := diff(s.slice(lo, hi), r.Items)
			push, want = append(push, p...), append(want, w...)
			out.add(Range{Upper: r.Upper})
		}
		lower = upper.Key
	}
	return out.result(), push, want
}

// diff compares the items of one range on both sides.
func diff(mine []Item, theirs []WireItem) (push, want []string) {
	i, j := 0, 0
	for i < len(mine) || j < len(theirs) {
		switch {
		case j == len(theirs) || i < len(mine) && mine[i].Key < string(theirs[j].Key):
			push = append(push, mine[i].Key)
			i++
		case i == len(mine) || string(theirs[j].Key) < mine[i].Key:
			want = append(want, string(theirs[j].Key))
			j++
		default:
			m, t := mine[i], itemOfWire(theirs[j])
			if m.Hash != t.Hash {
				if !t.Newer(m) {
					push = append(push, m.Key)
				}
				if !m.Newer(t) {
					want = append(want, m.Key)
				}
			}
			i++
			j++
		}
	}
	return push, want
}
