package replica

import "slices"

// An order-statistics B+tree. Every node keeps its subtree's count and the
// sum of its elements' words, so that a rank, the element at an index and
// the sum of the words before an index cost O(log n), as do an insert and
// a delete. The set of a replica is one (its words are the fingerprints'),
// and so are the orders by age that eviction takes the oldest from (their
// words are zero).

// ordered is an element of a btree: compare orders elements, and weight is
// the element's word in its subtree's sum.
type ordered[T any] interface {
	compare(T) int
	weight() word
}

// Bounds on a node's fill: a node holds at most maxFill elements (a leaf)
// or children (an inner node), and every node but the root at least
// minFill.
const (
	maxFill = 64
	minFill = maxFill / 2
)

// btnode is a node of a btree: a leaf holds elements, an inner node
// children and the separators between them. Every element of kids[i] sorts
// before keys[i], and every element of kids[i+1] at or after it.
type btnode[T ordered[T]] struct {
	items []T
	keys  []T
	kids  []*btnode[T]
	count int
	sum   word
}

func (n *btnode[T]) leaf() bool { return n.kids == nil }

// fill is how many elements or children the node holds.
func (n *btnode[T]) fill() int {
	if n.leaf() {
		return len(n.items)
	}
	return len(n.kids)
}

func cmpOf[T ordered[T]](a, b T) int { return a.compare(b) }

// child is the index of the child of an inner node whose range holds x.
func (n *btnode[T]) child(x T) int {
	i, found := slices.BinarySearchFunc(n.keys, x, cmpOf[T])
	if found {
		i++
	}
	return i
}

// recount makes the node's count and sum from its contents.
func (n *btnode[T]) recount() {
	n.count, n.sum = 0, word{}
	if n.leaf() {
		n.count = len(n.items)
		for _, x := range n.items {
			n.sum = n.sum.add(x.weight())
		}
		return
	}
	for _, k := range n.kids {
		n.count += k.count
		n.sum = n.sum.add(k.sum)
	}
}

// split cuts the node in two halves; it keeps the first, and returns the
// separator and the second.
func (n *btnode[T]) split() (T, *btnode[T]) {
	right := &btnode[T]{}
	var sep T
	if n.leaf() {
		half := len(n.items) / 2
		right.items = make([]T, len(n.items)-half, max(len(n.items)-half, maxFill+1))
		copy(right.items, n.items[half:])
		clear(n.items[half:])
		n.items = n.items[:half]
		sep = right.items[0]
	} else {
		half := len(n.kids) / 2
		sep = n.keys[half-1]
		right.keys = append(make([]T, 0, maxFill), n.keys[half:]...)
		right.kids = append(make([]*btnode[T], 0, maxFill+1), n.kids[half:]...)
		clear(n.keys[half-1:])
		clear(n.kids[half:])
		n.keys, n.kids = n.keys[:half-1], n.kids[:half]
	}
	n.recount()
	right.recount()
	return sep, right
}

// splitChild splits the child at i, which holds too much.
func (n *btnode[T]) splitChild(i int) {
	sep, right := n.kids[i].split()
	n.keys = slices.Insert(n.keys, i, sep)
	n.kids = slices.Insert(n.kids, i+1, right)
}

// join merges the children at i and i+1, one of which holds too little,
// and splits the result again when it holds too much.
func (n *btnode[T]) join(i int) {
	a, b := n.kids[i], n.kids[i+1]
	if a.leaf() {
		a.items = append(a.items, b.items...)
	} else {
		a.keys = append(append(a.keys, n.keys[i]), b.keys...)
		a.kids = append(a.kids, b.kids...)
	}
	a.count += b.count
	a.sum = a.sum.add(b.sum)
	n.keys = slices.Delete(n.keys, i, i+1)
	n.kids = slices.Delete(n.kids, i+1, i+2)
	if a.fill() > maxFill {
		n.splitChild(i)
	}
}

func (n *btnode[T]) put(x T) (old T, replaced bool) {
	if n.leaf() {
		i, found := slices.BinarySearchFunc(n.items, x, cmpOf[T])
		if found {
			old, replaced = n.items[i], true
			n.items[i] = x
		} else {
			n.items = slices.Insert(n.items, i, x)
		}
	} else {
		c := n.child(x)
		old, replaced = n.kids[c].put(x)
		if n.kids[c].fill() > maxFill {
			n.splitChild(c)
		}
	}
	n.sum = n.sum.add(x.weight())
	if replaced {
		n.sum = n.sum.sub(old.weight())
	} else {
		n.count++
	}
	return old, replaced
}

func (n *btnode[T]) delete(x T) (old T, found bool) {
	if n.leaf() {
		var i int
		i, found = slices.BinarySearchFunc(n.items, x, cmpOf[T])
		if !found {
			return old, false
		}
		old = n.items[i]
		n.items = slices.Delete(n.items, i, i+1)
	} else {
		c := n.child(x)
		if old, found = n.kids[c].delete(x); !found {
			return old, false
		}
		if n.kids[c].fill() < minFill {
			n.join(min(c, len(n.kids)-2))
		}
	}
	n.count--
	n.sum = n.sum.sub(old.weight())
	return old, true
}

// btree is an ordered set of elements of T, one per place in their order
// (a put replaces an equal element). Its zero value is an empty tree.
type btree[T ordered[T]] struct{ root *btnode[T] }

// Len is the number of elements.
func (t *btree[T]) Len() int {
	if t.root == nil {
		return 0
	}
	return t.root.count
}

// put adds x, replacing the element equal to it, and returns that one.
func (t *btree[T]) put(x T) (T, bool) {
	if t.root == nil {
		t.root = &btnode[T]{items: make([]T, 0, maxFill+1)}
	}
	old, replaced := t.root.put(x)
	if t.root.fill() > maxFill {
		left := t.root
		sep, right := left.split()
		t.root = &btnode[T]{keys: append(make([]T, 0, maxFill), sep), kids: append(make([]*btnode[T], 0, maxFill+1), left, right)}
		t.root.recount()
	}
	return old, replaced
}

// delete removes the element equal to x, and returns it.
func (t *btree[T]) delete(x T) (T, bool) {
	if t.root == nil {
		var zero T
		return zero, false
	}
	old, found := t.root.delete(x)
	if !t.root.leaf() && len(t.root.kids) == 1 {
		t.root = t.root.kids[0]
	}
	return old, found
}

// get returns the element equal to x.
func (t *btree[T]) get(x T) (T, bool) {
	n := t.root
	if n == nil {
		var zero T
		return zero, false
	}
	for !n.leaf() {
		n = n.kids[n.child(x)]
	}
	i, found := slices.BinarySearchFunc(n.items, x, cmpOf[T])
	if !found {
		var zero T
		return zero, false
	}
	return n.items[i], true
}

// rank is the number of elements that sort before x.
func (t *btree[T]) rank(x T) int {
	n, r := t.root, 0
	if n == nil {
		return 0
	}
	for !n.leaf() {
		c := n.child(x)
		for _, k := range n.kids[:c] {
			r += k.count
		}
		n = n.kids[c]
	}
	i, _ := slices.BinarySearchFunc(n.items, x, cmpOf[T])
	return r + i
}

// rankSum is rank(x), and the sum of the words of the elements that sort
// before x, in one descent.
func (t *btree[T]) rankSum(x T) (int, word) {
	n, r := t.root, 0
	var s word
	if n == nil {
		return 0, s
	}
	for !n.leaf() {
		c := n.child(x)
		for _, k := range n.kids[:c] {
			r += k.count
			s = s.add(k.sum)
		}
		n = n.kids[c]
	}
	i, _ := slices.BinarySearchFunc(n.items, x, cmpOf[T])
	return r + i, s.add(n.leafSum(i))
}

// leafSum is the sum of the words of a leaf's first i elements: added up,
// or taken from the leaf's sum, whichever touches fewer.
func (n *btnode[T]) leafSum(i int) word {
	var s word
	if i <= len(n.items)/2 {
		for _, x := range n.items[:i] {
			s = s.add(x.weight())
		}
		return s
	}
	s = n.sum
	for _, x := range n.items[i:] {
		s = s.sub(x.weight())
	}
	return s
}

// at returns the element at index i, 0 ≤ i < Len.
func (t *btree[T]) at(i int) T {
	n := t.root
	for !n.leaf() {
		for _, k := range n.kids {
			if i < k.count {
				n = k
				break
			}
			i -= k.count
		}
	}
	return n.items[i]
}

// sum is the sum of the words of the elements at indexes [0, i), 0 ≤ i ≤
// Len.
func (t *btree[T]) sum(i int) word {
	var s word
	if i <= 0 || t.root == nil {
		return s
	}
	if i >= t.root.count {
		return t.root.sum
	}
	n := t.root
	for !n.leaf() {
		for _, k := range n.kids {
			if i < k.count {
				n = k
				break
			}
			i -= k.count
			s = s.add(k.sum)
		}
	}
	return s.add(n.leafSum(i))
}

// each calls fn with the elements at indexes [lo, hi) in order, until fn
// returns false.
func (t *btree[T]) each(lo, hi int, fn func(T) bool) {
	if t.root != nil && lo < hi {
		t.root.each(max(lo, 0), min(hi, t.root.count), fn)
	}
}

func (n *btnode[T]) each(lo, hi int, fn func(T) bool) bool {
	if n.leaf() {
		for _, x := range n.items[lo:hi] {
			if !fn(x) {
				return false
			}
		}
		return true
	}
	for _, k := range n.kids {
		if hi <= 0 {
			break
		}
		if lo < k.count && !k.each(max(lo, 0), min(hi, k.count), fn) {
			return false
		}
		lo -= k.count
		hi -= k.count
	}
	return true
}
