package replica

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// storedSet returns a set whose nodes live in d, with a cache of limit
// nodes, and a function that writes what changed to d.
func storedSet(t *testing.T, d ds.Datastore, limit int) (*Set, func()) {
	s := &Set{px: &prefixTable{}}
	s.t.p = newPager(source(d, "s"), entryCodec(s.px), limit)
	flush := func() {
		f := s.t.p.flush()
		for id, b := range f.puts {
			if err := d.Put(t.Context(), nodeKey("s", id), b); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range f.dels {
			if err := d.Delete(t.Context(), nodeKey("s", id)); err != nil {
				t.Fatal(err)
			}
		}
		s.t.p.settle()
		if s.t.p.err != nil {
			t.Fatal(s.t.p.err)
		}
	}
	return s, flush
}

// TestStoredSetAgainstASlice runs random puts and deletes on a set whose
// nodes live in a datastore with a cache of 4 KiB (a node or two), writing
// what changed every 50 steps, compares it with a sorted slice, and reads
// it back from the datastore alone at the end. The set grows to three
// levels, then shrinks.
func TestStoredSetAgainstASlice(t *testing.T) {
	const limit = 4 << 10
	d := dssync.MutexWrap(ds.NewMapDatastore())
	s, flush := storedSet(t, d, limit)
	rng := rand.New(rand.NewPCG(3, 4))
	ref := map[string]Item{}
	depth := 0
	for step := range 30_000 {
		k := testKey(rng)
		if rng.IntN(2) == 0 {
			k = fmt.Sprintf("/netabase/12D3KooWA/c/%06d", rng.IntN(1_000_000))
		}
		if grow := step < 20_000; rng.IntN(10) < 9 == grow {
			it := Item{Key: k, Clock: envelope.Timestamp{Wall: int64(step)}}
			it.Hash[1] = byte(step)
			s.Put(it)
			ref[k] = it
		} else {
			s.take(k)
			delete(ref, k)
		}
		if step%50 == 0 {
			flush()
			if held := s.t.p.held; held > limit {
				t.Fatalf("step %d: %d bytes cached past a flush, the limit is %d", step, held, limit)
			}
		}
		if step%500 == 0 {
			checkTree(t, &s.t)
			n, levels := s.t.rootNode(), 1
			for !n.leaf() {
				n, levels = s.t.p.node(n.kids[0].id), levels+1
			}
			depth = max(depth, levels)
		}
	}
	if depth < 3 {
		t.Fatalf("the set grew to %d levels only: the test checked too little", depth)
	}
	flush()
	want := slices.SortedFunc(func(yield func(Item) bool) {
		for _, it := range ref {
			if !yield(it) {
				return
			}
		}
	}, func(a, b Item) int { return strings.Compare(a.Key, b.Key) })
	if !slices.Equal(s.Items(), want) {
		t.Fatalf("the stored set holds %d items, the reference %d; they differ", s.Len(), len(want))
	}
	if len(want) == 0 {
		t.Fatal("the test ended with an empty set: it checked too little")
	}
	again, _ := storedSet(t, d, limit)
	again.t.p.open(s.t.p.ends())
	if !slices.Equal(again.Items(), want) || again.Fingerprint() != s.Fingerprint() {
		t.Fatal("read back from the datastore, the set differs")
	}
	checkTree(t, &again.t)
}

// TestStoredSetKeepsInnerNodes reads every item of a stored set whose
// leaves far outgrow its cache, and checks that every inner node stays
// cached all the same: a cache that dropped the least recently used node
// whatever its kind would have dropped most of them for the leaves read
// after them.
func TestStoredSetKeepsInnerNodes(t *testing.T) {
	const limit = 256 << 10
	d := dssync.MutexWrap(ds.NewMapDatastore())
	s, flush := storedSet(t, d, limit)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 50_000 {
		s.Put(Item{Key: fmt.Sprintf("/netabase/12D3KooWA/c/%09d", rng.IntN(1<<30))})
		if i%100 == 0 {
			flush()
		}
	}
	flush()
	if n := len(s.Items()); n < 49_000 {
		t.Fatalf("the set holds %d items", n)
	}
	p := s.t.p
	if p.held > limit {
		t.Fatalf("%d bytes cached, the limit is %d", p.held, limit)
	}
	height := 1
	for n := s.t.rootNode(); !n.leaf(); n = p.node(n.kids[0].id) {
		height++
	}
	level, inner := []nodeID{p.root}, 0
	for range height - 1 {
		var next []nodeID
		for _, id := range level {
			if _, ok := p.nodes[id]; !ok {
				t.Fatalf("inner node %d of %d levels is not cached after a read of every leaf", id, height)
			}
			for _, k := range p.node(id).kids {
				next = append(next, k.id)
			}
			inner++
		}
		level = next
	}
	if height < 3 || len(level) < 10*limit/(4<<10) {
		t.Fatalf("%d levels and %d leaves: the leaves fit the cache, the test checks too little", height, len(level))
	}
	t.Logf("%d inner nodes cached of %d nodes", inner, inner+len(level))
}

// countingStore counts the queries and reads of records that reach a
// datastore.
type countingStore struct {
	ds.Batching
	recordReads atomic.Int64
}

func (c *countingStore) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if !strings.HasPrefix(q.Prefix, "/index") && !strings.HasPrefix(q.Prefix, "/peers") {
		c.recordReads.Add(1)
	}
	return c.Batching.Query(ctx, q)
}

func (c *countingStore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if strings.HasPrefix(k.String(), "/"+envelope.Namespace+"/") {
		c.recordReads.Add(1)
	}
	return c.Batching.Get(ctx, k)
}

// fromRecords is the fingerprint of the records stored in d, computed from
// the records alone.
func fromRecords(t *testing.T, d ds.Datastore) (Fingerprint, int) {
	t.Helper()
	var s Set
	for rec, err := range core.NewRecordStore(d).Records(t.Context(), envelope.Namespace) {
		if err != nil {
			t.Fatal(err)
		}
		e, err := envelope.Decode(rec.Key, rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		s.Put(ItemOf(rec.Key, e.Clock, rec.Value))
	}
	return s.Fingerprint(), s.Len()
}

func fillReplica(t *testing.T, r *Replica, w []writer, n int) {
	t.Helper()
	base := time.Now().Add(-time.Hour).UnixNano()
	var batch []Verified
	for i := range n {
		var v []byte
		if i%7 != 3 {
			v = []byte(fmt.Sprint("value ", i))
		}
		batch = append(batch, seal(t, w[i%len(w)], "notes", fmt.Sprintf("k%05d", i*7919%n), base+int64(i), v))
		if len(batch) == 100 || i == n-1 {
			insert(t, r, batch...)
			batch = batch[:0]
		}
	}
}

// TestReopenReadsTheSummary reopens a replica of 3,000 records, past its
// bounds, and checks that Open read no record, that the replica holds
// what it held, and that its fingerprint is the records'.
func TestReopenReadsTheSummary(t *testing.T) {
	store := &countingStore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	settings := Settings{Name: "notes", MaxRecordsPerWriter: 900, MaxRecords: 2500}
	r := openOn(t, store, settings)
	ws := []writer{newWriter(t, 1), newWriter(t, 2), newWriter(t, 3)}
	fillReplica(t, r, ws, 3000)
	before, status := r.Items(), r.Status()
	if len(before) != 2500 {
		t.Fatalf("the replica holds %d records, its bound is 2,500", len(before))
	}
	store.recordReads.Store(0)
	again := openOn(t, store, settings)
	if again.rebuilt != "" {
		t.Fatalf("reopened, the index was rebuilt: %s", again.rebuilt)
	}
	if n := store.recordReads.Load(); n != 0 {
		t.Fatalf("reopening read the records %d times", n)
	}
	if !slices.Equal(again.Items(), before) || again.Status().Fingerprint != status.Fingerprint || again.Status().Bytes != status.Bytes || again.Latest() != r.Latest() {
		t.Fatal("reopened, the replica differs")
	}
	if fp, n := fromRecords(t, store); fp != again.Fingerprint() || n != 2500 {
		t.Fatalf("the records' fingerprint is %x of %d, the index's %x", fp, n, again.Fingerprint())
	}
	// Records reads the keys a chunk at a time: every record, in order.
	var keys []string
	for rec, err := range again.Records(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, again.RecordKey(rec.Writer, rec.Key))
	}
	if len(keys) != len(before) {
		t.Fatalf("Records yielded %d records, the replica holds %d", len(keys), len(before))
	}
	for i, it := range before {
		if keys[i] != it.Key {
			t.Fatalf("Records' record %d is %s, want %s", i, keys[i], it.Key)
		}
	}
	// The reopened replica goes on: a write past the bound drops the
	// oldest, and a third open agrees.
	insert(t, again, seal(t, ws[0], "notes", "later", time.Now().UnixNano(), []byte("x")))
	third := openOn(t, store, settings)
	if third.rebuilt != "" || third.Fingerprint() != again.Fingerprint() || len(third.Items()) != 2500 {
		t.Fatalf("after a write, a reopen differs (rebuilt: %q)", third.rebuilt)
	}
	if fp, _ := fromRecords(t, store); fp != third.Fingerprint() {
		t.Fatal("after a write, the index disagrees with the records")
	}
}

// TestIndexFoundInconsistentIsRebuilt damages a stored index in each way
// Open checks for, and checks that Open rebuilds it from the records,
// saying why, and that a collection stored before the index (records and
// no index) gets one once.
func TestIndexFoundInconsistentIsRebuilt(t *testing.T) {
	settings := Settings{Name: "notes"}
	ws := []writer{newWriter(t, 1), newWriter(t, 2)}
	damage := []struct {
		name string
		do   func(t *testing.T, d ds.Datastore, m meta)
		why  string
	}{
		{"no index", func(t *testing.T, d ds.Datastore, _ meta) {
			res, err := d.Query(t.Context(), dsq.Query{Prefix: "/index", KeysOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			es, _ := res.Rest()
			for _, e := range es {
				if err := d.Delete(t.Context(), ds.RawKey(e.Key)); err != nil {
					t.Fatal(err)
				}
			}
		}, "no index yet"},
		{"unfinished", func(t *testing.T, d ds.Datastore, m meta) { m.whole = false; putMeta(t, d, m) }, "unfinished"},
		{"other version", func(t *testing.T, d ds.Datastore, m meta) {
			b := m.encode()
			b[len(metaMagic)+1] = indexVersion + 1
			if err := d.Put(t.Context(), metaKey, b); err != nil {
				t.Fatal(err)
			}
		}, "format version"},
		{"summary damaged", func(t *testing.T, d ds.Datastore, _ meta) {
			if err := d.Put(t.Context(), metaKey, []byte("nbix?")); err != nil {
				t.Fatal(err)
			}
		}, "not in its form"},
		{"count mismatched", func(t *testing.T, d ds.Datastore, m meta) { m.setCount--; putMeta(t, d, m) }, "fingerprint"},
		{"fingerprint mismatched", func(t *testing.T, d ds.Datastore, m meta) { m.setSum[0]++; putMeta(t, d, m) }, "fingerprint"},
		{"records mismatched", func(t *testing.T, d ds.Datastore, m meta) { m.records++; putMeta(t, d, m) }, "disagree"},
		{"other settings", func(t *testing.T, d ds.Datastore, m meta) { m.digest[0]++; putMeta(t, d, m) }, "other settings"},
		{"root missing", func(t *testing.T, d ds.Datastore, m meta) {
			if err := d.Delete(t.Context(), nodeKey("s", m.roots[0])); err != nil {
				t.Fatal(err)
			}
		}, "root of the set"},
		{"writer missing", func(t *testing.T, d ds.Datastore, _ meta) {
			res, err := d.Query(t.Context(), dsq.Query{Prefix: writersNS.String(), KeysOnly: true, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			es, _ := res.Rest()
			if err := d.Delete(t.Context(), ds.RawKey(es[0].Key)); err != nil {
				t.Fatal(err)
			}
		}, "writers' figures"},
	}
	// A checkpoint every other Insert of 100: the summary is of the
	// first 400 records, and the log holds the last 100.
	defer func(n int) { checkpointLog = n }(checkpointLog)
	checkpointLog = 150
	damage = append(damage, struct {
		name string
		do   func(t *testing.T, d ds.Datastore, m meta)
		why  string
	}{"log entry missing", func(t *testing.T, d ds.Datastore, m meta) {
		if err := d.Delete(t.Context(), logKey(m.logBase+50)); err != nil {
			t.Fatal(err)
		}
	}, "log holds entry"}, struct {
		name string
		do   func(t *testing.T, d ds.Datastore, m meta)
		why  string
	}{"log entry damaged", func(t *testing.T, d ds.Datastore, m meta) {
		if err := d.Put(t.Context(), logKey(m.logBase+1), []byte("?")); err != nil {
			t.Fatal(err)
		}
	}, "not in its form"})
	for _, c := range damage {
		t.Run(c.name, func(t *testing.T) {
			d := dssync.MutexWrap(ds.NewMapDatastore())
			r := openOn(t, d, settings)
			fillReplica(t, r, ws, 500)
			if n := logEntries(t, d); n != 100 {
				t.Fatalf("the log holds %d entries, want 100 (the last Insert's)", n)
			}
			want := r.Fingerprint()
			raw, err := d.Get(t.Context(), metaKey)
			if err != nil {
				t.Fatal(err)
			}
			m, err := decodeMeta(raw)
			if err != nil {
				t.Fatal(err)
			}
			c.do(t, d, m)
			again := openOn(t, d, settings)
			if !strings.Contains(again.rebuilt, c.why) {
				t.Fatalf("reopened, rebuilt %q; want a rebuild saying %q", again.rebuilt, c.why)
			}
			if again.Fingerprint() != want || len(again.Items()) != 500 {
				t.Fatalf("rebuilt, the replica holds %d records of fingerprint %x; want 500 of %x", len(again.Items()), again.Fingerprint(), want)
			}
			third := openOn(t, d, settings)
			if third.rebuilt != "" || third.Fingerprint() != want {
				t.Fatalf("once rebuilt, a reopen rebuilt it again (%q) or differs", third.rebuilt)
			}
		})
	}
}

func logEntries(t *testing.T, d ds.Datastore) int {
	t.Helper()
	res, err := d.Query(t.Context(), dsq.Query{Prefix: logNS.String(), KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func putMeta(t *testing.T, d ds.Datastore, m meta) {
	t.Helper()
	if err := d.Put(t.Context(), metaKey, m.encode()); err != nil {
		t.Fatal(err)
	}
}

// noBatches is a datastore without batches.
type noBatches struct{ ds.Datastore }

// TestStoreWithoutBatches runs a replica on a datastore without batches:
// its writes mark the index unfinished until they end, so that a write
// cut short is found by the next Open; one that ends leaves it whole.
func TestStoreWithoutBatches(t *testing.T) {
	d := noBatches{dssync.MutexWrap(ds.NewMapDatastore())}
	settings := Settings{Name: "notes"}
	r := openOn(t, d, settings)
	ws := []writer{newWriter(t, 1)}
	fillReplica(t, r, ws, 300)
	again := openOn(t, d, settings)
	if again.rebuilt != "" || again.Fingerprint() != r.Fingerprint() {
		t.Fatalf("reopened, rebuilt %q", again.rebuilt)
	}
	// A write cut short after its mark: the summary says unfinished.
	raw, _ := d.Get(t.Context(), metaKey)
	m, _ := decodeMeta(raw)
	m.whole = false
	putMeta(t, d, m)
	third := openOn(t, d, settings)
	if !strings.Contains(third.rebuilt, "unfinished") || third.Fingerprint() != r.Fingerprint() {
		t.Fatalf("after a write cut short, rebuilt %q", third.rebuilt)
	}
}

// TestAllItemsPages checks that AllItems yields what Items returns, a page
// at a time, that it stops when told, and that a record inserted past the
// page it is reading is yielded in its place.
func TestAllItemsPages(t *testing.T) {
	r := newReplica(t, Settings{Name: "notes"})
	ws := []writer{newWriter(t, 1), newWriter(t, 2)}
	fillReplica(t, r, ws, 700) // pages of 256: two whole, one part
	want := r.Items()
	if got := slices.Collect(r.AllItems()); !slices.Equal(got, want) {
		t.Fatalf("AllItems yields %d items, Items returns %d, or another order", len(got), len(want))
	}
	n := 0
	for range r.AllItems() {
		if n++; n == 300 {
			break
		}
	}
	if n != 300 {
		t.Fatalf("stopped at 300, AllItems yielded %d", n)
	}
	// The last writer's keys come last: a key after them, inserted while
	// the first page is read, is read by the last page.
	last := ws[0]
	if writerPart(want[len(want)-1].Key) == writerPart(r.RecordKey(ws[1].id, "")) {
		last = ws[1]
	}
	var got []Item
	for it := range r.AllItems() {
		if len(got) == 0 {
			insert(t, r, seal(t, last, "notes", "zzz", time.Now().UnixNano(), []byte("late")))
		}
		got = append(got, it)
	}
	if len(got) != len(want)+1 || !strings.HasSuffix(got[len(got)-1].Key, "/zzz") {
		t.Fatalf("a record inserted past the page read is not yielded last (%d items)", len(got))
	}
}
