package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// An order-statistics B+tree whose nodes live in a pager: in memory only,
// or in a datastore with a bounded cache of decoded nodes. An inner node
// keeps, for each child, its id, the child subtree's count and the sum of
// its elements' words, so that a rank, the element at an index and the sum
// of the words before an index read one node per level, as do an insert
// and a delete. The set of a replica is one (its words are the
// fingerprints'), and so are the orders by age that eviction takes the
// oldest from (their words are zero).

// ordered is an element of a btree: compare orders elements, and weight is
// the element's word in its subtree's sum.
type ordered[T any] interface {
	compare(T) int
	weight() word
}

// Bounds on a node's fill: a leaf holds at most leafFill elements and an
// inner node at most innerFill children, and every node but the root at
// least a quarter as many. A node is joined with its neighbour only below
// that quarter, so a delete seldom reads a second node; and one that
// overflows because an element was added at its end (a writer's newest
// record, names given in order) keeps all but a quarter, so that nodes
// filled in order are three quarters full, not half.
const (
	leafFill  = 64
	innerFill = 64
)

// maxFill is the most n may hold, and minFill the least but at the root.
func (n *btnode[T]) maxFill() int {
	if n.leaf() {
		return leafFill
	}
	return innerFill
}

func (n *btnode[T]) minFill() int { return n.maxFill() / 4 }

// nodeID names a node in its pager; 0 names none.
type nodeID uint64

// kid is an inner node's view of a child: its id, and its subtree's count
// and sum of words.
type kid struct {
	id    nodeID
	count int
	sum   word
}

// btnode is a node of a btree: a leaf holds elements, an inner node
// children and the separators between them. Every element of kids[i] sorts
// before keys[i], and every element of kids[i+1] at or after it.
type btnode[T ordered[T]] struct {
	id    nodeID
	items []T
	keys  []T
	kids  []kid
	count int
	sum   word
	// The pager's bookkeeping: a clean cached node is on its list of
	// recent use; a dirty one is not, and is never dropped from memory.
	prev, next *btnode[T]
	dirty      bool
	stored     int // the length of its stored form when last read or written, a guess at the next
	weight     int // what it counts in the pager's cache, while it is on the list
}

func (n *btnode[T]) leaf() bool { return n.kids == nil }

// fill is how many elements or children the node holds.
func (n *btnode[T]) fill() int {
	if n.leaf() {
		return len(n.items)
	}
	return len(n.kids)
}

func (n *btnode[T]) self() kid { return kid{n.id, n.count, n.sum} }

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

// codec writes and reads a node's elements, in order, or an inner node's
// separators (keys set); a stored tree has one.
type codec[T any] struct {
	put func(b []byte, xs []T, keys bool) []byte
	get func(b []byte, n int, keys bool) ([]T, []byte, error)
}

// nodeSource reads a stored node's bytes; the error wraps ErrNotFound
// (go-datastore's) when there is none.
type nodeSource func(id nodeID) ([]byte, error)

// pager holds a tree's nodes: every node in memory when src is nil, and
// otherwise the nodes changed since the last flush (dirty) and at most
// limit others, read again from src when asked for after being dropped.
// It drops the least recently used leaf first, and an inner node only
// when it holds no clean leaf: every descent passes the inner nodes, few
// beside the leaves, and a random one meets a leaf no cache of a large
// tree holds.
type pager[T ordered[T]] struct {
	root  nodeID
	next  nodeID // the last id given
	nodes map[nodeID]*btnode[T]
	clean btnode[T] // the sentinel of the list of clean leaves, most recent first
	inner btnode[T] // and of the list of clean inner nodes
	held  int       // the bytes of the stored forms of the clean nodes cached
	limit int       // of held
	dirty map[nodeID]*btnode[T]
	freed map[nodeID]bool // stored nodes dropped since the last flush
	src   nodeSource
	codec codec[T]
	// err is the first failure to read or decode a stored node: the tree
	// reads as if the node were empty until it is read again whole.
	err error
	// atEnd is set by a put when what it added to the node it last changed
	// is that node's last element or child: a split of that node keeps all
	// but the least a node may hold.
	atEnd bool
}

func newPager[T ordered[T]](src nodeSource, c codec[T], limit int) *pager[T] {
	p := &pager[T]{nodes: make(map[nodeID]*btnode[T]), dirty: make(map[nodeID]*btnode[T]), freed: make(map[nodeID]bool), src: src, codec: c, limit: limit}
	p.clean.prev, p.clean.next = &p.clean, &p.clean
	p.inner.prev, p.inner.next = &p.inner, &p.inner
	return p
}

func (p *pager[T]) unlink(n *btnode[T]) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
	p.held -= n.weight
}

// list is the sentinel of the list of clean nodes n is on when clean.
func (p *pager[T]) list(n *btnode[T]) *btnode[T] {
	if n.leaf() {
		return &p.clean
	}
	return &p.inner
}

func (p *pager[T]) front(n *btnode[T]) {
	l := p.list(n)
	n.prev, n.next = l, l.next
	n.prev.next, n.next.prev = n, n
	n.weight = max(n.stored, 64)
	p.held += n.weight
}

// node returns the node id, reading it from src when it is not in memory.
func (p *pager[T]) node(id nodeID) *btnode[T] {
	if n, ok := p.nodes[id]; ok {
		if !n.dirty && p.list(n).next != n {
			p.unlink(n)
			p.front(n)
		}
		return n
	}
	n, err := p.read(id)
	if err != nil {
		if p.err == nil {
			p.err = err
		}
		return &btnode[T]{id: id} // not cached: read again when asked for again
	}
	p.nodes[id] = n
	p.front(n)
	return n
}

// read reads and decodes the stored node id.
func (p *pager[T]) read(id nodeID) (*btnode[T], error) {
	if p.src == nil {
		return nil, fmt.Errorf("index node %d is missing", id)
	}
	b, err := p.src(id)
	if err != nil {
		return nil, fmt.Errorf("reading index node %d: %w", id, err)
	}
	n, err := p.decode(id, b)
	if err != nil {
		return nil, fmt.Errorf("index node %d does not decode: %w", id, err)
	}
	return n, nil
}

var errNodeForm = errors.New("not a node's form")

// encode appends the stored form of n to b: a leaf is 'L', its element
// count and its elements; an inner node 'I', its child count, each child's
// id, count and sum, and the separators.
func (p *pager[T]) encode(b []byte, n *btnode[T]) []byte {
	if n.leaf() {
		b = append(b, 'L')
		b = binary.AppendUvarint(b, uint64(len(n.items)))
		return p.codec.put(b, n.items, false)
	}
	b = append(b, 'I')
	b = binary.AppendUvarint(b, uint64(len(n.kids)))
	for _, k := range n.kids {
		b = binary.AppendUvarint(b, uint64(k.id))
		b = binary.AppendUvarint(b, uint64(k.count))
		b = appendWord(b, k.sum)
	}
	return p.codec.put(b, n.keys, true)
}

func (p *pager[T]) decode(id nodeID, b []byte) (*btnode[T], error) {
	if len(b) == 0 {
		return nil, errNodeForm
	}
	size, kind := len(b), b[0]
	c, k := binary.Uvarint(b[1:])
	if k <= 0 || c > leafFill+1 {
		return nil, errNodeForm
	}
	b = b[1+k:]
	n := &btnode[T]{id: id}
	var err error
	switch kind {
	case 'L':
		// Exactly as long as read: a node that changes grows.
		if n.items, b, err = p.codec.get(b, int(c), false); err != nil {
			return nil, err
		}
	case 'I':
		if c < 2 {
			return nil, errNodeForm
		}
		if c > innerFill+1 {
			return nil, errNodeForm
		}
		n.kids = make([]kid, c)
		for i := range n.kids {
			id, k1 := binary.Uvarint(b)
			if k1 <= 0 {
				return nil, errNodeForm
			}
			count, k2 := binary.Uvarint(b[k1:])
			if k2 <= 0 || len(b) < k1+k2+32 || id == 0 {
				return nil, errNodeForm
			}
			n.kids[i] = kid{id: nodeID(id), count: int(count), sum: readWord(b[k1+k2:])}
			b = b[k1+k2+32:]
		}
		if n.keys, b, err = p.codec.get(b, int(c)-1, true); err != nil {
			return nil, err
		}
	default:
		return nil, errNodeForm
	}
	if len(b) != 0 {
		return nil, errNodeForm
	}
	n.recount()
	n.stored = size
	return n, nil
}

// touch marks n changed: it stays in memory until the next flush.
func (p *pager[T]) touch(n *btnode[T]) {
	if n.dirty {
		return
	}
	if n.next != nil {
		p.unlink(n)
	}
	n.dirty = true
	p.nodes[n.id] = n
	if p.src != nil {
		p.dirty[n.id] = n
	}
}

// alloc returns a new, empty node.
func (p *pager[T]) alloc() *btnode[T] {
	p.next++
	n := &btnode[T]{id: p.next}
	p.touch(n)
	return n
}

// free drops the node id.
func (p *pager[T]) free(n *btnode[T]) {
	if n.next != nil {
		p.unlink(n)
	}
	delete(p.nodes, n.id)
	delete(p.dirty, n.id)
	if p.src != nil {
		p.freed[n.id] = true
	}
}

// trim drops the least recently used clean nodes past the limit; a pager
// without src keeps every node.
func (p *pager[T]) trim() {
	if p.src == nil {
		return
	}
	for p.held > p.limit {
		n := p.clean.prev
		if n == &p.clean {
			n = p.inner.prev
		}
		p.unlink(n)
		delete(p.nodes, n.id)
	}
}

// flushed is what a flush writes: the changed nodes' stored forms, and the
// ids of the stored nodes to delete.
type flushed struct {
	puts map[nodeID][]byte
	dels []nodeID
}

// flush returns the stored forms of the nodes changed since the last
// flush and the ids of those dropped; they stay dirty until settle.
func (p *pager[T]) flush() flushed {
	f := flushed{puts: make(map[nodeID][]byte, len(p.dirty))}
	for id, n := range p.dirty {
		b := p.encode(make([]byte, 0, max(n.stored+n.stored/8, 80*(n.fill()+1))), n)
		n.stored = len(b)
		f.puts[id] = b
	}
	for id := range p.freed {
		if _, ok := p.dirty[id]; !ok {
			f.dels = append(f.dels, id)
		}
	}
	return f
}

// settle marks every node clean, once what flush returned is stored.
func (p *pager[T]) settle() {
	for id, n := range p.dirty {
		n.dirty = false
		p.front(n)
		delete(p.dirty, id)
	}
	clear(p.freed)
	p.trim()
}

// cached is how many nodes the pager holds in memory.
func (p *pager[T]) cached() int { return len(p.nodes) }

// btree is an ordered set of elements of T, one per place in their order
// (a put replaces an equal element). Its zero value is an empty tree held
// in memory.
type btree[T ordered[T]] struct{ p *pager[T] }

func (t *btree[T]) pg() *pager[T] {
	if t.p == nil {
		t.p = newPager[T](nil, codec[T]{}, 0)
	}
	return t.p
}

// rootNode returns the root, nil for an empty tree that never held one.
func (t *btree[T]) rootNode() *btnode[T] {
	p := t.pg()
	if p.root == 0 {
		return nil
	}
	return p.node(p.root)
}

// Len is the number of elements.
func (t *btree[T]) Len() int {
	n := t.rootNode()
	if n == nil {
		return 0
	}
	return n.count
}

// split cuts the node in two halves; it keeps the first, and returns the
// separator and the second.
func (p *pager[T]) split(n *btnode[T]) (T, *btnode[T]) {
	right := p.alloc()
	var sep T
	if n.leaf() {
		half := len(n.items) / 2
		if p.atEnd {
			half = len(n.items) - n.minFill()
		}
		right.items = make([]T, len(n.items)-half, leafFill+1)
		copy(right.items, n.items[half:])
		clear(n.items[half:])
		n.items = n.items[:half]
		sep = right.items[0]
	} else {
		half := len(n.kids) / 2
		if p.atEnd {
			half = len(n.kids) - n.minFill()
		}
		sep = n.keys[half-1]
		right.keys = append(make([]T, 0, innerFill), n.keys[half:]...)
		right.kids = append(make([]kid, 0, innerFill+1), n.kids[half:]...)
		clear(n.keys[half-1:])
		clear(n.kids[half:])
		n.keys, n.kids = n.keys[:half-1], n.kids[:half]
	}
	n.recount()
	right.recount()
	p.touch(n)
	return sep, right
}

// splitChild splits c, the child at i of n, which holds too much.
func (p *pager[T]) splitChild(n *btnode[T], i int, c *btnode[T]) {
	sep, right := p.split(c)
	n.keys = slices.Insert(n.keys, i, sep)
	n.kids[i] = c.self()
	n.kids = slices.Insert(n.kids, i+1, right.self())
}

// join merges the children at i and i+1 of n, one of which holds too
// little, and splits the result again when it holds too much.
func (p *pager[T]) join(n *btnode[T], i int) {
	a, b := p.node(n.kids[i].id), p.node(n.kids[i+1].id)
	if a.leaf() {
		a.items = append(a.items, b.items...)
	} else {
		a.keys = append(append(a.keys, n.keys[i]), b.keys...)
		a.kids = append(a.kids, b.kids...)
	}
	a.count += b.count
	a.sum = a.sum.add(b.sum)
	p.touch(a)
	p.free(b)
	n.keys = slices.Delete(n.keys, i, i+1)
	n.kids = slices.Delete(n.kids, i+1, i+2)
	n.kids[i] = a.self()
	if a.fill() > a.maxFill() {
		p.atEnd = false
		p.splitChild(n, i, a)
	}
}

func (p *pager[T]) put(n *btnode[T], x T) (old T, replaced bool) {
	if n.leaf() {
		i, found := slices.BinarySearchFunc(n.items, x, cmpOf[T])
		if found {
			old, replaced = n.items[i], true
			n.items[i] = x
		} else {
			n.items = slices.Insert(n.items, i, x)
		}
		p.atEnd = i == len(n.items)-1
	} else {
		c := n.child(x)
		k := p.node(n.kids[c].id)
		old, replaced = p.put(k, x)
		n.kids[c] = k.self()
		if k.fill() > k.maxFill() {
			p.splitChild(n, c, k)
			p.atEnd = c+2 == len(n.kids)
		}
	}
	n.sum = n.sum.add(x.weight())
	if replaced {
		n.sum = n.sum.sub(old.weight())
	} else {
		n.count++
	}
	p.touch(n)
	return old, replaced
}

func (p *pager[T]) delete(n *btnode[T], x T) (old T, found bool) {
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
		k := p.node(n.kids[c].id)
		if old, found = p.delete(k, x); !found {
			return old, false
		}
		n.kids[c] = k.self()
		if k.fill() < k.minFill() {
			p.join(n, min(c, len(n.kids)-2))
		}
	}
	n.count--
	n.sum = n.sum.sub(old.weight())
	p.touch(n)
	return old, true
}

// put adds x, replacing the element equal to it, and returns that one.
func (t *btree[T]) put(x T) (T, bool) {
	p := t.pg()
	defer p.trim()
	if p.root == 0 {
		n := p.alloc()
		n.items = make([]T, 0, leafFill+1)
		p.root = n.id
	}
	root := p.node(p.root)
	old, replaced := p.put(root, x)
	if root.fill() > root.maxFill() {
		sep, right := p.split(root)
		top := p.alloc()
		top.keys = append(make([]T, 0, innerFill), sep)
		top.kids = append(make([]kid, 0, innerFill+1), root.self(), right.self())
		top.recount()
		p.root = top.id
	}
	return old, replaced
}

// delete removes the element equal to x, and returns it.
func (t *btree[T]) delete(x T) (T, bool) {
	root := t.rootNode()
	if root == nil {
		var zero T
		return zero, false
	}
	p := t.p
	defer p.trim()
	old, found := p.delete(root, x)
	if !root.leaf() && len(root.kids) == 1 {
		p.root = root.kids[0].id
		p.free(root)
	}
	return old, found
}

// get returns the element equal to x.
func (t *btree[T]) get(x T) (T, bool) {
	n := t.rootNode()
	var zero T
	if n == nil {
		return zero, false
	}
	defer t.p.trim()
	for !n.leaf() {
		n = t.p.node(n.kids[n.child(x)].id)
	}
	i, found := slices.BinarySearchFunc(n.items, x, cmpOf[T])
	if !found {
		return zero, false
	}
	return n.items[i], true
}

// rank is the number of elements that sort before x.
func (t *btree[T]) rank(x T) int {
	r, _ := t.rankSum(x)
	return r
}

// rankSum is rank(x), and the sum of the words of the elements that sort
// before x, in one descent.
func (t *btree[T]) rankSum(x T) (int, word) {
	n, r := t.rootNode(), 0
	var s word
	if n == nil {
		return 0, s
	}
	defer t.p.trim()
	for !n.leaf() {
		c := n.child(x)
		for _, k := range n.kids[:c] {
			r += k.count
			s = s.add(k.sum)
		}
		n = t.p.node(n.kids[c].id)
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
	n := t.rootNode()
	defer t.p.trim()
	for !n.leaf() {
		next := n.kids[len(n.kids)-1].id
		for _, k := range n.kids {
			if i < k.count {
				next = k.id
				break
			}
			i -= k.count
		}
		n = t.p.node(next)
	}
	if i >= len(n.items) { // a node that failed to read
		var zero T
		return zero
	}
	return n.items[i]
}

// sum is the sum of the words of the elements at indexes [0, i), 0 ≤ i ≤
// Len.
func (t *btree[T]) sum(i int) word {
	var s word
	n := t.rootNode()
	if i <= 0 || n == nil {
		return s
	}
	if i >= n.count {
		return n.sum
	}
	defer t.p.trim()
	for !n.leaf() {
		next := n.kids[len(n.kids)-1].id
		for _, k := range n.kids {
			if i < k.count {
				next = k.id
				break
			}
			i -= k.count
			s = s.add(k.sum)
		}
		n = t.p.node(next)
	}
	return s.add(n.leafSum(min(i, len(n.items))))
}

// each calls fn with the elements at indexes [lo, hi) in order, until fn
// returns false.
func (t *btree[T]) each(lo, hi int, fn func(T) bool) {
	n := t.rootNode()
	if n != nil && lo < hi {
		defer t.p.trim()
		t.p.each(n, max(lo, 0), min(hi, n.count), fn)
	}
}

func (p *pager[T]) each(n *btnode[T], lo, hi int, fn func(T) bool) bool {
	if n.leaf() {
		for _, x := range n.items[min(lo, len(n.items)):min(hi, len(n.items))] {
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
		if lo < k.count && !p.each(p.node(k.id), max(lo, 0), min(hi, k.count), fn) {
			return false
		}
		lo -= k.count
		hi -= k.count
	}
	return true
}

func appendWord(b []byte, w word) []byte {
	for _, v := range w {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

func readWord(b []byte) word {
	return word{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:])}
}
