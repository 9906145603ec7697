package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkTree checks a tree's invariants: every node's count and sum are
// its contents', separators bound their children, elements are sorted,
// and every node but the root holds minFill to maxFill.
func checkTree[T ordered[T]](t *testing.T, tr *btree[T]) {
	t.Helper()
	root := tr.rootNode()
	if root == nil {
		return
	}
	var walk func(n *btnode[T], root bool, lo, hi *T) int
	walk = func(n *btnode[T], root bool, lo, hi *T) int {
		if f := n.fill(); f > n.maxFill() || !root && f < n.minFill() {
			t.Fatalf("a node holds %d", f)
		}
		count, sum := 0, word{}
		inside := func(x T) {
			if lo != nil && x.compare(*lo) < 0 || hi != nil && x.compare(*hi) >= 0 {
				t.Fatal("an element outside its separators")
			}
		}
		depth := 0
		if n.leaf() {
			for i, x := range n.items {
				inside(x)
				if i > 0 && n.items[i-1].compare(x) >= 0 {
					t.Fatal("a leaf out of order")
				}
				sum = sum.add(x.weight())
			}
			count = len(n.items)
		} else {
			if len(n.keys) != len(n.kids)-1 {
				t.Fatalf("%d separators for %d children", len(n.keys), len(n.kids))
			}
			for i, kr := range n.kids {
				k := tr.p.node(kr.id)
				if kr.count != k.count || kr.sum != k.sum {
					t.Fatalf("a child counted %d, %x by its parent holds %d, %x", kr.count, kr.sum, k.count, k.sum)
				}
				klo, khi := lo, hi
				if i > 0 {
					klo = &n.keys[i-1]
				}
				if i < len(n.keys) {
					khi = &n.keys[i]
				}
				d := walk(k, false, klo, khi)
				if i > 0 && d != depth {
					t.Fatal("leaves at different depths")
				}
				depth = d
				count += k.count
				sum = sum.add(k.sum)
			}
		}
		if count != n.count || sum != n.sum {
			t.Fatalf("a node counts %d, %x; its contents %d, %x", n.count, n.sum, count, sum)
		}
		return depth + 1
	}
	walk(root, true, nil, nil)
}

// testKey returns a random key: plain, or a record key's form under one
// of a few writers and collections whose names are prefixes of each
// other's, with a short name of "\x00", "a" and "b" (empty included), so
// that entries' prefixes and heads meet every case.
func testKey(rng *rand.Rand) string {
	if rng.IntN(2) == 0 {
		return fmt.Sprintf("k%05d", rng.IntN(8_000))
	}
	name := make([]byte, rng.IntN(10))
	for i := range name {
		name[i] = "\x00ab"[rng.IntN(3)]
	}
	if len(name) > 6 { // most names short, so that keys meet again
		name = name[:rng.IntN(3)]
	}
	return fmt.Sprintf("/netabase/%s/%s/%s", []string{"12D3KooWA", "12D3KooWB", "12D3KooWAB"}[rng.IntN(3)], []string{"c", "cd"}[rng.IntN(2)], name)
}

// TestBtreeAgainstASlice runs random puts, replacements and deletes on a
// Set and on a sorted slice, and compares every query.
func TestBtreeAgainstASlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s Set
	var ref []Item
	var words []word // ref's
	find := func(k string) (int, bool) {
		return slices.BinarySearchFunc(ref, k, func(it Item, k string) int { return strings.Compare(it.Key, k) })
	}
	refSum := func(lo, hi int) word {
		var w word
		for _, x := range words[lo:hi] {
			w = w.add(x)
		}
		return w
	}
	for step := range 40_000 {
		// Grow to about 5,000 items, then shrink to none, then grow again.
		grow := step < 15_000 || step >= 30_000
		k := testKey(rng)
		switch r := rng.IntN(10); {
		case r < 6 == grow:
			it := Item{Key: k}
			it.Clock.Wall = int64(step)
			it.Hash[0] = byte(step)
			s.Put(it)
			if i, ok := find(k); ok {
				ref[i], words[i] = it, wordOf(it)
			} else {
				ref, words = slices.Insert(ref, i, it), slices.Insert(words, i, wordOf(it))
			}
		default:
			s.take(k)
			if i, ok := find(k); ok {
				ref, words = slices.Delete(ref, i, i+1), slices.Delete(words, i, i+1)
			}
		}
		if step%1000 == 0 || step == 39_999 {
			checkTree(t, &s.t)
			if !slices.Equal(s.Items(), ref) {
				t.Fatalf("step %d: the set holds %d items, the slice %d; they differ", step, s.Len(), len(ref))
			}
		}
		if s.Len() != len(ref) {
			t.Fatalf("step %d: %d items, want %d", step, s.Len(), len(ref))
		}
		if len(ref) == 0 {
			continue
		}
		i := rng.IntN(len(ref))
		if got := s.at(i); got != ref[i] {
			t.Fatalf("step %d: at(%d) is %v, want %v", step, i, got, ref[i])
		}
		if got, ok := s.Get(ref[i].Key); !ok || got != ref[i] {
			t.Fatalf("step %d: Get(%s) is %v, %v", step, ref[i].Key, got, ok)
		}
		bound := testKey(rng)
		if rng.IntN(4) == 0 {
			bound = bound[:rng.IntN(len(bound)+1)] // a separator's form
		}
		if want, _ := find(bound); s.lowerIndex(bound) != want {
			t.Fatalf("step %d: rank of %s is %d, want %d", step, bound, s.lowerIndex(bound), want)
		}
		lo := rng.IntN(len(ref) + 1)
		hi := lo + rng.IntN(len(ref)+1-lo)
		if got, want := s.fingerprint(lo, hi), fingerprint(refSum(lo, hi), hi-lo); got != want {
			t.Fatalf("step %d: fingerprint of [%d, %d) is %x, want %x", step, lo, hi, got, want)
		}
		upper := testKey(rng)
		rlo, _ := find(bound)
		rhi, _ := find(upper)
		rhi = max(rlo, rhi)
		if got, glo, ghi := s.rangeFingerprint(bound, Bound{Key: upper}); glo != rlo || ghi != rhi || got != fingerprint(refSum(rlo, rhi), rhi-rlo) {
			t.Fatalf("step %d: the fingerprint of [%s, %s) is [%d, %d) %x, want [%d, %d) %x", step, bound, upper, glo, ghi, got, rlo, rhi, fingerprint(refSum(rlo, rhi), rhi-rlo))
		}
		if got, _, ghi := s.rangeFingerprint(bound, Bound{Inf: true}); ghi != len(ref) || got != fingerprint(refSum(rlo, len(ref)), len(ref)-rlo) {
			t.Fatalf("step %d: the fingerprint of [%s, ∞) differs", step, bound)
		}
		if hi := min(hi, lo+100); !slices.Equal(s.slice(lo, hi), ref[lo:hi]) {
			t.Fatalf("step %d: slice [%d, %d) differs", step, lo, hi)
		}
	}
	if s.Len() == 0 {
		t.Fatal("the test ended with an empty set: it checked too little")
	}
}

// TestBtreeSequential fills a tree in order and empties it from both ends,
// the patterns that fill and empty nodes most unevenly.
func TestBtreeSequential(t *testing.T) {
	var tr btree[age]
	const n = 20_000
	for i := range n {
		tr.put(age{key: fmt.Sprintf("%06d", i)})
	}
	checkTree(t, &tr)
	// Filled in order, every leaf but the last keeps three quarters.
	leaves := 0
	for _, node := range tr.p.nodes {
		if node.leaf() {
			leaves++
		}
	}
	if most := n/(leafFill-leafFill/4) + 1; leaves > most {
		t.Fatalf("%d elements put in order fill %d leaves, more than %d", n, leaves, most)
	}
	for i := range n / 2 {
		if _, ok := tr.delete(age{key: fmt.Sprintf("%06d", i)}); !ok {
			t.Fatalf("%d not found", i)
		}
		if _, ok := tr.delete(age{key: fmt.Sprintf("%06d", n-1-i)}); !ok {
			t.Fatalf("%d not found", n-1-i)
		}
		if i%997 == 0 {
			checkTree(t, &tr)
			if got := tr.at(0).key; got != fmt.Sprintf("%06d", i+1) {
				t.Fatalf("the first is %s after deleting %d from each end", got, i+1)
			}
		}
	}
	if root := tr.rootNode(); tr.Len() != 0 || root.count != 0 || !root.leaf() {
		t.Fatalf("emptied, the tree holds %d", tr.Len())
	}
	if _, ok := tr.delete(age{key: "x"}); ok {
		t.Fatal("deleted from an empty tree")
	}
}
