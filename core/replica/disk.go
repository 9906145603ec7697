package replica

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core/envelope"
)

// A replica's index lives in the replica's own namespace of the node's
// backend, beside the records, under /index:
//
//	/index/meta            the summary: format version, whether the index
//	                       is whole, the settings' digest, the trees' roots,
//	                       the figures, and the set's count and sum of words
//	/index/s/<id>          a node of the set's tree (hexadecimal id)
//	/index/a/<id>          a node of the order of every record by writer and age
//	/index/t/<id>          a node of the order of the tombstones by age
//	/index/w/<writer>      what one writer holds (base32hex of its key's
//	                       writer part)
//	/index/l/<seq>         one change since the last checkpoint: an item put
//	                       or a key removed (16 hexadecimal digits)
//
// A change writes, in the same batch as the records it stores or removes,
// an entry of the log per item it puts or removes; the nodes it touched
// stay in memory. Every so often (checkpointNodes changed nodes, or
// checkpointLog entries) a batch writes the changed nodes, the writers'
// figures and the summary instead, and deletes the log: Open reads the
// summary, checks it, and applies the log's entries in order.
var (
	indexRoot = ds.NewKey("/index")
	metaKey   = indexRoot.ChildString("meta")
	writersNS = indexRoot.ChildString("w")
	logNS     = indexRoot.ChildString("l")
)

// A checkpoint is written once a change leaves checkpointNodes nodes
// changed in memory, or checkpointLog entries in the log.
var (
	checkpointNodes = 256
	checkpointLog   = 4096
)

func logKey(seq uint64) ds.Key {
	return ds.RawKey(fmt.Sprintf("/index/l/%016x", seq))
}

// indexVersion is the stored index's format; an index of another version
// is rebuilt from the records.
const indexVersion = 1

// The cache of a stored index, in bytes of the stored forms of each
// tree's nodes (a node takes about three times as much in memory): some
// 2,800 nodes in all at 10,000,000 records with keys of some 90 bytes
// (BENCHMARKS.md, issue 20), the inner nodes kept before the leaves. The
// nodes changed since the last checkpoint are held besides.
const (
	setCache    = 6 << 20
	writerCache = 1 << 20
	tombCache   = 256 << 10
)

var hex32 = base32.HexEncoding.WithPadding(base32.NoPadding)

func nodeKey(tree string, id nodeID) ds.Key {
	return ds.RawKey("/index/" + tree + "/" + strconv.FormatUint(uint64(id), 16))
}

// source reads nodes of one tree from d.
func source(d ds.Datastore, tree string) nodeSource {
	return func(id nodeID) ([]byte, error) { return d.Get(context.Background(), nodeKey(tree, id)) }
}

// newStoredIndex returns an empty index whose trees keep their nodes in d.
func newStoredIndex(d ds.Datastore) index {
	x := newIndex()
	x.stored = true
	x.changed = make(map[string]bool)
	x.set.px = &prefixTable{}
	x.set.t.p = newPager(source(d, "s"), entryCodec(x.set.px), setCache)
	x.byWriter.p = newPager(source(d, "a"), writerAgeCodec, writerCache)
	x.tombs.p = newPager(source(d, "t"), ageCodec, tombCache)
	return x
}

// failed is the first failure to read a stored node of the index.
func (x *index) failed() error {
	for _, err := range []error{x.set.t.pg().err, x.byWriter.pg().err, x.tombs.pg().err} {
		if err != nil {
			return err
		}
	}
	return nil
}

// meta is the stored summary of an index.
type meta struct {
	version  uint64
	whole    bool // false while a rebuild or a write on a store without batches is under way
	digest   [HashSize]byte
	roots    [3]nodeID // set, byWriter, tombs
	next     [3]nodeID
	ids      uint64
	records  uint64
	bytes    uint64
	dead     uint64
	writers  uint64
	latest   envelope.Timestamp
	setCount uint64
	setSum   word
	logBase  uint64 // the last entry of the log the nodes hold
}

const metaMagic = "nbix"

func (m meta) encode() []byte {
	b := append([]byte(metaMagic), 0)
	b = binary.AppendUvarint(b, m.version)
	if m.whole {
		b[len(metaMagic)] = 1
	}
	b = append(b, m.digest[:]...)
	for _, id := range append(m.roots[:], m.next[:]...) {
		b = binary.AppendUvarint(b, uint64(id))
	}
	for _, v := range []uint64{m.ids, m.records, m.bytes, m.dead, m.writers, m.setCount} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.AppendVarint(b, m.latest.Wall)
	b = binary.AppendUvarint(b, uint64(m.latest.Logical))
	b = appendWord(b, m.setSum)
	return binary.AppendUvarint(b, m.logBase)
}

// reader reads the fields of a stored form, remembering the first fault.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func decodeMeta(b []byte) (meta, error) {
	var m meta
	if !bytes.HasPrefix(b, []byte(metaMagic)) || len(b) < len(metaMagic)+1 {
		return m, errors.New("the index's summary is not in its form")
	}
	m.whole = b[len(metaMagic)] == 1
	r := reader{b: b[len(metaMagic)+1:]}
	m.version = r.uvarint()
	if r.bad {
		return m, errors.New("the index's summary is not in its form")
	}
	if m.version != indexVersion {
		return m, fmt.Errorf("the index is of format version %d, not %d", m.version, indexVersion)
	}
	copy(m.digest[:], r.bytes(HashSize))
	for i := range m.roots {
		m.roots[i] = nodeID(r.uvarint())
	}
	for i := range m.next {
		m.next[i] = nodeID(r.uvarint())
	}
	for _, v := range []*uint64{&m.ids, &m.records, &m.bytes, &m.dead, &m.writers, &m.setCount} {
		*v = r.uvarint()
	}
	m.latest.Wall = r.varint()
	m.latest.Logical = uint32(r.uvarint())
	if w := r.bytes(32); w != nil {
		m.setSum = readWord(w)
	}
	m.logBase = r.uvarint()
	if r.bad || len(r.b) != 0 {
		return m, errors.New("the index's summary is not in its form")
	}
	return m, nil
}

// metaOf is the summary of x.
func (x *index) metaOf(digest [HashSize]byte, latest envelope.Timestamp, whole bool) meta {
	m := meta{version: indexVersion, whole: whole, digest: digest, ids: x.ids, latest: latest, logBase: x.logSeq,
		records: uint64(x.total.records), bytes: uint64(x.total.bytes), dead: uint64(x.dead), writers: uint64(len(x.writers))}
	for i, p := range []interface{ ends() (nodeID, nodeID) }{x.set.t.pg(), x.byWriter.pg(), x.tombs.pg()} {
		m.roots[i], m.next[i] = p.ends()
	}
	if root := x.set.t.rootNode(); root != nil {
		m.setCount, m.setSum = uint64(root.count), root.sum
	}
	return m
}

func (p *pager[T]) ends() (nodeID, nodeID) { return p.root, p.next }

// op is one write of an index's flush.
type op struct {
	key ds.Key
	val []byte // nil: delete
}

// stage returns the writes that store what changed in x since the last
// settle, and whether they are a checkpoint: the log's new entries alone,
// or (when force is set, or past checkpointNodes or checkpointLog) the
// changed nodes, the writers' figures, the deletion of the log and the
// summary last. x stays as it is until settle.
func (x *index) stage(digest [HashSize]byte, latest envelope.Timestamp, whole, force bool) ([]op, bool) {
	if !force && x.dirtyNodes() < checkpointNodes && x.logSeq-x.logBase < uint64(checkpointLog) {
		ops := make([]op, len(x.pending))
		for i, e := range x.pending {
			ops[i] = op{logKey(x.logSeq - uint64(len(x.pending)-1-i)), e}
		}
		return ops, false
	}
	var ops []op
	for i, tree := range []interface{ flush() flushed }{x.set.t.pg(), x.byWriter.pg(), x.tombs.pg()} {
		f := tree.flush()
		name := "sat"[i : i+1]
		for id, b := range f.puts {
			ops = append(ops, op{nodeKey(name, id), b})
		}
		for _, id := range f.dels {
			ops = append(ops, op{nodeKey(name, id), nil})
		}
	}
	for w := range x.changed {
		k := writersNS.ChildString(hex32.EncodeToString([]byte(w)))
		if u := x.writers[w]; u != nil {
			ops = append(ops, op{k, u.encode()})
		} else {
			ops = append(ops, op{k, nil})
		}
	}
	// The entries of the log already stored, those before the pending.
	for seq := x.logBase + 1; seq <= x.logSeq-uint64(len(x.pending)); seq++ {
		ops = append(ops, op{logKey(seq), nil})
	}
	return append(ops, op{metaKey, x.metaOf(digest, latest, whole).encode()}), true
}

// settle marks what stage returned as stored.
func (x *index) settle(checkpoint bool) {
	x.pending = x.pending[:0]
	if !checkpoint {
		return
	}
	x.set.t.pg().settle()
	x.byWriter.pg().settle()
	x.tombs.pg().settle()
	clear(x.changed)
	x.logBase = x.logSeq
}

// logPut and logRemove append a change to the log of a stored index.
func (x *index) logPut(it Item, size int, tombstone bool) {
	if !x.stored || x.replaying {
		return
	}
	stored := int64(size)
	if tombstone {
		stored = -stored
	}
	b := append([]byte{'P'}, binary.AppendVarint(nil, stored)...)
	b = appendClock(b, it.Clock)
	b = append(b, it.Hash[:]...)
	x.pending = append(x.pending, append(b, it.Key...))
	x.logSeq++
}

func (x *index) logRemove(key string) {
	if !x.stored || x.replaying {
		return
	}
	x.pending = append(x.pending, append([]byte{'R'}, key...))
	x.logSeq++
}

// replay applies the stored log's entries after the summary's, in order.
// It returns why the log cannot be trusted, "" when it can.
func (x *index) replay(ctx context.Context, d ds.Datastore, logBase uint64, observe func(envelope.Timestamp)) (string, error) {
	res, err := d.Query(ctx, dsq.Query{Prefix: logNS.String(), Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return "", err
	}
	defer res.Close()
	x.logSeq, x.logBase = logBase, logBase
	x.replaying = true
	defer func() { x.replaying = false }()
	for e := range res.Next() {
		if e.Error != nil {
			return "", e.Error
		}
		seq, err := strconv.ParseUint(ds.RawKey(e.Key).BaseNamespace(), 16, 64)
		if err != nil || seq != x.logSeq+1 {
			return fmt.Sprintf("the index's log holds entry %s after entry %d", e.Key, x.logSeq), nil
		}
		r := reader{b: e.Value}
		kind := r.bytes(1)
		switch {
		case r.bad:
		case kind[0] == 'R':
			x.remove(string(r.b))
		case kind[0] == 'P':
			size := r.varint()
			it := Item{Clock: r.clock()}
			copy(it.Hash[:], r.bytes(HashSize))
			it.Key = string(r.b)
			if r.bad || it.Key == "" {
				break
			}
			observe(it.Clock)
			x.put(it, int(max(size, -size)), size < 0)
		default:
			r.bad = true
		}
		if r.bad {
			return fmt.Sprintf("the index's log entry %s is not in its form", e.Key), nil
		}
		x.logSeq = seq
	}
	if err := x.failed(); err != nil {
		return fmt.Sprintf("applying the index's log: %v", err), nil
	}
	return "", nil
}

// dirtyNodes is how many changed nodes x holds in memory.
func (x *index) dirtyNodes() int {
	return len(x.set.t.pg().dirty) + len(x.byWriter.pg().dirty) + len(x.tombs.pg().dirty)
}

func (u *usage) encode() []byte {
	b := binary.AppendUvarint(nil, u.id)
	b = binary.AppendUvarint(b, uint64(u.records))
	b = binary.AppendUvarint(b, uint64(u.bytes))
	b = binary.AppendVarint(b, u.first.clock.Wall)
	b = binary.AppendUvarint(b, uint64(u.first.clock.Logical))
	return append(b, u.first.key...)
}

func decodeUsage(b []byte) (*usage, error) {
	r := reader{b: b}
	u := &usage{id: r.uvarint(), records: int(r.uvarint()), bytes: int64(r.uvarint())}
	u.first.clock.Wall = r.varint()
	u.first.clock.Logical = uint32(r.uvarint())
	u.first.key = string(r.b)
	if r.bad || u.records <= 0 {
		return nil, errors.New("a writer's figures are not in their form")
	}
	return u, nil
}

// openStored opens the index stored in d under its summary m, without
// reading the records: it reads the writers' figures and the roots, and
// returns why the index cannot be trusted when it cannot ("" when it
// can). A read that fails is an error.
func openStored(ctx context.Context, d ds.Datastore, m meta, digest [HashSize]byte) (index, string, error) {
	x := newStoredIndex(d)
	switch {
	case !m.whole:
		return x, "the index was left unfinished (a rebuild, or a write on a store without atomic batches, did not end)", nil
	case m.digest != digest:
		return x, "the index was built under other settings", nil
	}
	res, err := d.Query(ctx, dsq.Query{Prefix: writersNS.String()})
	if err != nil {
		return x, "", err
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return x, "", e.Error
		}
		w, err := hex32.DecodeString(ds.RawKey(e.Key).BaseNamespace())
		u, uerr := decodeUsage(e.Value)
		if err != nil || uerr != nil {
			return x, fmt.Sprintf("a writer's figures (%s) do not decode", e.Key), nil
		}
		x.writers[string(w)] = u
		x.firsts.put(u.first)
	}
	x.ids, x.dead = m.ids, int(m.dead)
	x.total = usage{records: int(m.records), bytes: int64(m.bytes)}
	var records int
	var bytes int64
	for _, u := range x.writers {
		records += u.records
		bytes += u.bytes
		if u.id > x.ids {
			return x, "a writer's number is past the summary's", nil
		}
	}
	if uint64(len(x.writers)) != m.writers || records != x.total.records || bytes != x.total.bytes {
		return x, fmt.Sprintf("the writers' figures (%d writers, %d records, %d bytes) disagree with the summary (%d, %d, %d)", len(x.writers), records, bytes, m.writers, m.records, m.bytes), nil
	}
	for i, p := range []interface{ open(root, next nodeID) }{x.set.t.pg(), x.byWriter.pg(), x.tombs.pg()} {
		p.open(m.roots[i], m.next[i])
	}
	roots := []struct {
		name  string
		count int
		root  func() (int, word, bool)
	}{
		{"set", x.total.records, func() (int, word, bool) { return rootFigures(x.set.t.rootNode()) }},
		{"order by writer", x.total.records, func() (int, word, bool) { return rootFigures(x.byWriter.rootNode()) }},
		{"order of tombstones", x.dead, func() (int, word, bool) { return rootFigures(x.tombs.rootNode()) }},
	}
	for _, r := range roots {
		count, sum, ok := r.root()
		if err := x.failed(); err != nil {
			return x, fmt.Sprintf("the root of the %s: %v", r.name, err), nil
		}
		if !ok && r.count != 0 || count != r.count {
			return x, fmt.Sprintf("the %s holds %d items, the summary says %d", r.name, count, r.count), nil
		}
		if r.name == "set" && (uint64(count) != m.setCount || sum != m.setSum) {
			return x, "the set's fingerprint disagrees with the summary's", nil
		}
	}
	return x, "", nil
}

func rootFigures[T ordered[T]](n *btnode[T]) (int, word, bool) {
	if n == nil {
		return 0, word{}, false
	}
	return n.count, n.sum, true
}

func (p *pager[T]) open(root, next nodeID) { p.root, p.next = root, next }

// The codecs of the trees' elements. Keys are written after the part they
// share with the element before them in the node.

// appendKey appends key coded relative to prev: the length of the prefix
// they share, the length of the rest, and the rest. The index's nodes and
// version 2's packed ranges and wants (SYNC.md §5) code keys so.
func appendKey[S ~string | ~[]byte](b []byte, prev, key S) []byte {
	n, m := 0, min(len(prev), len(key))
	for n+16 <= m && string(prev[n:n+16]) == string(key[n:n+16]) {
		n += 16
	}
	for n < m && prev[n] == key[n] {
		n++
	}
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(len(key)-n))
	return append(b, key[n:]...)
}

func appendClock(b []byte, c envelope.Timestamp) []byte {
	b = binary.AppendVarint(b, c.Wall)
	return binary.AppendUvarint(b, uint64(c.Logical))
}

func (r *reader) clock() envelope.Timestamp {
	return envelope.Timestamp{Wall: r.varint(), Logical: uint32(r.uvarint())}
}

var errElems = errors.New("a node's elements are not in their form")

// entryCodec is the codec of a set's entries. A separator (keys) is
// written as its key alone: only its key takes part in comparisons. The
// keys of a node are read into one string.
func entryCodec(px *prefixTable) codec[entry] {
	return codec[entry]{
		put: func(b []byte, xs []entry, keys bool) []byte {
			prev := ""
			for _, e := range xs {
				b = appendKey(b, prev, e.it.Key)
				prev = e.it.Key
				if keys {
					continue
				}
				b = appendClock(b, e.it.Clock)
				b = append(b, e.it.Hash[:]...)
				b = binary.AppendVarint(b, int64(e.size))
				b = appendWord(b, e.w)
			}
			return b
		},
		get: func(b []byte, n int, keys bool) ([]entry, []byte, error) {
			r := reader{b: b}
			out := make([]entry, n)
			text := r.keyText(n, func(i int) {
				if keys {
					return
				}
				e := &out[i]
				e.it.Clock = r.clock()
				copy(e.it.Hash[:], r.bytes(HashSize))
				e.size = int32(r.varint())
				if w := r.bytes(32); w != nil {
					e.w = readWord(w)
				}
			})
			if r.bad {
				return nil, nil, errElems
			}
			// Most keys of a node share their prefix (entry) with the one
			// before: its number is looked up once.
			pfx, prefix := uint32(0), ""
			for i := range out {
				e := &out[i]
				e.it.Key = text[i]
				if prefix != "" && len(e.it.Key) > len(prefix) && e.it.Key[:len(prefix)] == prefix {
					var head [8]byte
					copy(head[:], e.it.Key[len(prefix):])
					e.pfx, e.head = pfx, binary.BigEndian.Uint64(head[:])
					continue
				}
				w, size := e.w, e.size
				*e = px.entryOf(e.it, true)
				e.w, e.size = w, size
				prefix, pfx = "", e.pfx
				if p, ok := keyPrefix(e.it.Key); ok {
					prefix = p
				}
			}
			return out, r.b, nil
		},
	}
}

// keyText reads n keys, each after the part it shares with the one
// before, into one string, calling each for the rest of each element.
func (r *reader) keyText(n int, each func(i int)) []string {
	ends := make([]int, n)
	text := make([]byte, 0, len(r.b)+64*n)
	prevStart := 0
	for i := range n {
		shared, m := r.uvarint(), r.uvarint()
		if r.bad || shared > uint64(len(text)-prevStart) || m > uint64(len(r.b)) {
			r.bad = true
			return nil
		}
		start := len(text)
		text = append(text, text[prevStart:prevStart+int(shared)]...)
		text = append(text, r.bytes(int(m))...)
		ends[i], prevStart = len(text), start
		each(i)
		if r.bad {
			return nil
		}
	}
	all := string(text)
	keys := make([]string, n)
	start := 0
	for i := range keys {
		keys[i], start = all[start:ends[i]], ends[i]
	}
	return keys
}

var ageCodec = codec[age]{
	put: func(b []byte, xs []age, _ bool) []byte {
		prev := ""
		for _, a := range xs {
			b = appendKey(b, prev, a.key)
			b = appendClock(b, a.clock)
			prev = a.key
		}
		return b
	},
	get: func(b []byte, n int, _ bool) ([]age, []byte, error) {
		r := reader{b: b}
		out := make([]age, n)
		keys := r.keyText(n, func(i int) { out[i].clock = r.clock() })
		if r.bad {
			return nil, nil, errElems
		}
		for i := range out {
			out[i].key = keys[i]
		}
		return out, r.b, nil
	},
}

var writerAgeCodec = codec[writerAge]{
	put: func(b []byte, xs []writerAge, _ bool) []byte {
		prev := ""
		for _, a := range xs {
			b = appendKey(b, prev, a.key)
			b = binary.AppendUvarint(b, a.writer)
			b = appendClock(b, a.clock)
			prev = a.key
		}
		return b
	},
	get: func(b []byte, n int, _ bool) ([]writerAge, []byte, error) {
		r := reader{b: b}
		out := make([]writerAge, n)
		keys := r.keyText(n, func(i int) {
			out[i].writer = r.uvarint()
			out[i].clock = r.clock()
		})
		if r.bad {
			return nil, nil, errElems
		}
		for i := range out {
			out[i].key = keys[i]
		}
		return out, r.b, nil
	},
}
