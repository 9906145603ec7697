// Package modeltest is the property test of core/model's typed collections,
// runnable against any backend: seeded random puts, updates, deletes and
// batches, each followed by a check that every index equals one rebuilt
// from the stored values and that every read agrees with an in-memory
// model. core/model runs it on every in-tree backend; a backend reached
// another way (such as through the plugin host) runs it with
//
//	modeltest.Run(t, backend, seed, steps)
package modeltest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
)

// Item is the struct the property test stores: a key and an index of every
// key kind, and a unique index.
type Item struct {
	ID    int64     `netabase:"key"`
	Name  string    `netabase:"index"`
	Email string    `netabase:"index,unique"`
	Tag   []byte    `netabase:"index"`
	At    time.Time `netabase:"index"`
	Flag  bool      `netabase:"index"`
	Size  uint16    `netabase:"index"`
	Note  string
}

// The domains are small, so that values collide in every index, and hold
// the awkward cases: empty strings and bytes, equal prefixes, negative and
// zero numbers, times before 1970 and the zero time.
var (
	names  = []string{"", "a", "a\x00", "ab", "b", "é"}
	emails = func() []string {
		e := []string{"", "u1\x00", "u1\x00\x00"}
		for i := range 37 {
			e = append(e, fmt.Sprintf("u%d", i))
		}
		return e
	}()
	tags  = [][]byte{nil, {}, {0}, {0, 0}, {0, 1}, {0xff}}
	times = []time.Time{
		{},
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Unix(0, 1).UTC(),
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
	}
	sizes = []uint16{0, 1, 255, 256, 65535}
)

const idRange = 24 // keys are -idRange/2 .. idRange/2-1

func randomItem(r *rand.Rand) Item {
	it := Item{
		ID:   int64(r.IntN(idRange) - idRange/2),
		Name: names[r.IntN(len(names))],
		Tag:  tags[r.IntN(len(tags))],
		At:   times[r.IntN(len(times))],
		Flag: r.IntN(2) == 1,
		Size: sizes[r.IntN(len(sizes))],
		Note: fmt.Sprint(r.Uint32()),
		// Fewer keys than emails: the unique index refuses a write now
		// and then, not most of them.
		Email: emails[r.IntN(len(emails))],
	}
	return it
}

// conflicts reports whether putting it into m would give the unique index
// on Email a second key; "" counts as a value like any other.
func conflicts(m map[int64]Item, it Item) bool {
	for id, o := range m {
		if id != it.ID && o.Email == it.Email {
			return true
		}
	}
	return false
}

// Equal reports whether two items hold the same data, as a round trip
// through the store keeps it: times as instants, nil and empty bytes alike.
func Equal(a, b Item) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Email == b.Email && bytes.Equal(a.Tag, b.Tag) &&
		a.At.Equal(b.At) && a.Flag == b.Flag && a.Size == b.Size && a.Note == b.Note
}

// Open opens the test's collection in b.
func Open(t testing.TB, b ds.Batching) (*model.Store, *model.Collection[int64, Item]) {
	t.Helper()
	s := model.NewLocal(b)
	t.Cleanup(func() { _ = s.Close() })
	c, err := model.Open[int64, Item](t.Context(), s, "items")
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// Run runs steps seeded random operations on a collection in b, which
// must hold no collection called "items", checking the collection after
// each.
func Run(t *testing.T, b ds.Batching, seed uint64, steps int) {
	ctx := t.Context()
	_, c := Open(t, b)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	want := map[int64]Item{}
	for step := range steps {
		desc := applyRandom(ctx, t, r, c, want)
		if err := verify(ctx, r, c, want); err != nil {
			t.Fatalf("seed %d, step %d (%s): %v", seed, step, desc, err)
		}
	}
}

// applyRandom applies one random operation to c and to want, and fails the
// test when c's answer is not what the model predicts.
func applyRandom(ctx context.Context, t *testing.T, r *rand.Rand, c *model.Collection[int64, Item], want map[int64]Item) string {
	t.Helper()
	switch p := r.IntN(100); {
	case p < 45: // put: an insert or an update
		it := randomItem(r)
		err := c.Put(ctx, it)
		expectConflict(t, "put", err, conflicts(want, it))
		if err == nil {
			want[it.ID] = it
		}
		return fmt.Sprintf("put %d", it.ID)
	case p < 60: // update one field of a stored value
		if len(want) == 0 {
			return "nothing to update"
		}
		ids := sortedIDs(want)
		it := want[ids[r.IntN(len(ids))]]
		it.Name = names[r.IntN(len(names))]
		it.Size = sizes[r.IntN(len(sizes))]
		if err := c.Put(ctx, it); err != nil {
			t.Fatalf("update %d: %v", it.ID, err)
		}
		want[it.ID] = it
		return fmt.Sprintf("update %d", it.ID)
	case p < 85: // delete, sometimes of a missing key
		id := int64(r.IntN(idRange) - idRange/2)
		if err := c.Delete(ctx, id); err != nil {
			t.Fatalf("delete %d: %v", id, err)
		}
		delete(want, id)
		return fmt.Sprintf("delete %d", id)
	default: // a batch, all or nothing
		batch := make([]Item, 1+r.IntN(5))
		next := maps.Clone(want)
		conflict := false
		for i := range batch {
			batch[i] = randomItem(r)
			conflict = conflict || conflicts(next, batch[i])
			next[batch[i].ID] = batch[i]
		}
		err := c.PutMany(ctx, batch)
		expectConflict(t, "put many", err, conflict)
		if err == nil {
			clear(want)
			for id, it := range next {
				want[id] = it
			}
		}
		return fmt.Sprintf("put many of %d", len(batch))
	}
}

func expectConflict(t *testing.T, op string, err error, want bool) {
	t.Helper()
	switch {
	case want && !errors.Is(err, core.ErrConflict):
		t.Fatalf("%s: want a unique index conflict, got %v", op, err)
	case !want && err != nil:
		t.Fatalf("%s: %v", op, err)
	}
}

func sortedIDs(m map[int64]Item) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// verify checks c against the model want: the collection's own check
// (every index equals one rebuilt from the values), its count, a full scan,
// a random key range, and for every index a full range, a random range and
// a find of every value of its domain.
func verify(ctx context.Context, r *rand.Rand, c *model.Collection[int64, Item], want map[int64]Item) error {
	if err := c.Check(ctx); err != nil {
		return err
	}
	if n, err := c.Count(ctx); err != nil || n != len(want) {
		return fmt.Errorf("count = %d, %v; want %d", n, err, len(want))
	}
	all := make([]Item, 0, len(want))
	for _, id := range sortedIDs(want) {
		all = append(all, want[id])
	}
	byID := func(a, b Item) int { return cmp.Compare(a.ID, b.ID) }
	if err := same("scan", c.Scan(ctx), all); err != nil {
		return err
	}
	lo, hi := int64(r.IntN(idRange)-idRange/2), int64(r.IntN(idRange)-idRange/2)
	if err := checkRange(ctx, r, "key", c.Range, all, lo, hi, func(it Item) int64 { return it.ID }, cmp.Compare[int64], byID); err != nil {
		return err
	}
	if err := checkIndex(ctx, r, c, "Name", all, names, func(it Item) string { return it.Name }, cmp.Compare[string]); err != nil {
		return err
	}
	sample := []string{emails[r.IntN(len(emails))], emails[r.IntN(len(emails))]}
	for _, it := range all {
		sample = append(sample, it.Email)
	}
	if err := checkIndex(ctx, r, c, "Email", all, sample, func(it Item) string { return it.Email }, cmp.Compare[string]); err != nil {
		return err
	}
	if err := checkIndex(ctx, r, c, "Tag", all, tags, func(it Item) []byte { return it.Tag }, bytes.Compare); err != nil {
		return err
	}
	if err := checkIndex(ctx, r, c, "At", all, times, func(it Item) time.Time { return it.At }, func(a, b time.Time) int { return a.Compare(b) }); err != nil {
		return err
	}
	if err := checkIndex(ctx, r, c, "Flag", all, []bool{false, true}, func(it Item) bool { return it.Flag }, func(a, b bool) int {
		return cmp.Compare(boolInt(a), boolInt(b))
	}); err != nil {
		return err
	}
	return checkIndex(ctx, r, c, "Size", all, sizes, func(it Item) uint16 { return it.Size }, cmp.Compare[uint16])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkIndex checks the index on field name, whose values are drawn from
// domain and read from an item by get.
func checkIndex[V any](ctx context.Context, r *rand.Rand, c *model.Collection[int64, Item], name string, all []Item, domain []V, get func(Item) V, compare func(a, b V) int) error {
	x, err := model.IndexOf[V](c, name)
	if err != nil {
		return err
	}
	order := func(a, b Item) int { return cmp.Or(compare(get(a), get(b)), cmp.Compare(a.ID, b.ID)) }
	for _, v := range domain {
		var match []Item
		for _, it := range all {
			if compare(get(it), v) == 0 {
				match = append(match, it)
			}
		}
		if err := same(fmt.Sprintf("index %s find %v", name, v), x.Find(ctx, v), match); err != nil {
			return err
		}
		if n, err := x.Count(ctx, v); err != nil || n != len(match) {
			return fmt.Errorf("index %s count %v = %d, %v; want %d", name, v, n, err, len(match))
		}
	}
	lo, hi := domain[r.IntN(len(domain))], domain[r.IntN(len(domain))]
	return checkRange(ctx, r, "index "+name, x.Range, all, lo, hi, get, compare, order)
}

// checkRange checks a full range and a random one, with random bounds,
// direction and limit, against all.
func checkRange[V any](ctx context.Context, r *rand.Rand, what string, rng func(context.Context, model.Range[V]) iter.Seq2[Item, error],
	all []Item, lo, hi V, get func(Item) V, compare func(a, b V) int, order func(a, b Item) int) error {
	sorted := slices.SortedFunc(slices.Values(all), order)
	if err := same(what+" range all", rng(ctx, model.Range[V]{}), sorted); err != nil {
		return err
	}
	q := model.Range[V]{Reverse: r.IntN(2) == 1, Limit: r.IntN(4)}
	if r.IntN(3) > 0 {
		q = q.From(lo)
	}
	if r.IntN(3) > 0 {
		q = q.To(hi)
	}
	var match []Item
	for _, it := range sorted {
		if (q.Lo == nil || compare(get(it), *q.Lo) >= 0) && (q.Hi == nil || compare(get(it), *q.Hi) < 0) {
			match = append(match, it)
		}
	}
	if q.Reverse {
		slices.Reverse(match)
	}
	if q.Limit > 0 && len(match) > q.Limit {
		match = match[:q.Limit]
	}
	return same(fmt.Sprintf("%s range %+v", what, describeRange(q)), rng(ctx, q), match)
}

func describeRange[V any](q model.Range[V]) string {
	s := "["
	if q.Lo != nil {
		s += fmt.Sprint(*q.Lo)
	}
	s += ", "
	if q.Hi != nil {
		s += fmt.Sprint(*q.Hi)
	}
	return fmt.Sprintf("%s) reverse=%v limit=%d", s, q.Reverse, q.Limit)
}

// same checks that seq yields exactly want, in order.
func same(what string, seq iter.Seq2[Item, error], want []Item) error {
	var got []Item
	for it, err := range seq {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		got = append(got, it)
	}
	if !slices.EqualFunc(got, want, Equal) {
		return fmt.Errorf("%s: got %v, want %v", what, ids(got), ids(want))
	}
	return nil
}

func ids(items []Item) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// RunConcurrent runs writers goroutines of seeded random puts, updates,
// deletes and batches on overlapping keys of one collection in b (which
// must hold no collection called "items"), while readers goroutines read
// it through the seek path: Range over keys and Index.Range over four
// indexes, ascending and descending, with random bounds and limits, and
// Gets. It is bounded by the steps: each reader reads until the writers
// are done and it has read steps times.
//
// Every read must be sorted in its range's order, lie within its bounds
// and its limit, and return values a writer wrote under that key (each
// write carries a unique Note, registered before it is issued), never one
// whose write was refused; a reader never sees a key go back to an older
// write than one it saw before. Afterwards the collection's change feed,
// which numbers writes in commit order, is replayed into a model: each
// change's old value must be what the model held, and the acknowledged
// writes must be exactly the feed's puts; then the collection must pass
// the property test's checks against that model (Check, counts, scans,
// finds and ranges of every index).
func RunConcurrent(t *testing.T, b ds.Batching, seed uint64, writers, steps int) {
	const readers = 2
	ctx := t.Context()
	s := model.NewLocal(b)
	t.Cleanup(func() { _ = s.Close() })
	// The feed must hold every change: a buffer larger than all writes.
	c, err := model.Open[int64, Item](ctx, s, "items", model.WatchBuffer(writers*steps*6+16))
	if err != nil {
		t.Fatal(err)
	}
	feed := c.Watch(ctx)
	var events []model.Event[int64, Item]
	fed := make(chan error, 1)
	go func() {
		for ev, err := range feed {
			if err != nil {
				fed <- err
				return
			}
			events = append(events, ev)
			if ev.Key == sentinel.ID {
				fed <- nil
				return
			}
		}
		fed <- ctx.Err()
	}()

	h := &history{}
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	acked := make([][]string, writers)   // notes of acknowledged puts, per writer
	refused := make([][]string, writers) // notes of refused puts, per writer
	start := make(chan struct{})         // all goroutines start together
	for w := range writers {
		wg.Go(func() {
			<-start
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			issued := 0 // values this writer has numbered
			next := func() Item {
				it := randomItem(r)
				it.Note = fmt.Sprintf("w%d.%d", w, issued)
				issued++
				h.register(it)
				return it
			}
			for range steps {
				var batch []Item
				switch p := r.IntN(100); {
				case p < 25:
					if err := c.Delete(ctx, int64(r.IntN(idRange)-idRange/2)); err != nil {
						errs <- err
						return
					}
					continue
				case p < 40: // change indexed fields of a stored value
					old, err := c.Get(ctx, int64(r.IntN(idRange)-idRange/2))
					if errors.Is(err, core.ErrNotFound) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					it := next()
					it.ID, it.Email, it.Tag, it.At, it.Flag = old.ID, old.Email, old.Tag, old.At, old.Flag
					h.register(it)
					batch = []Item{it}
				case p < 85:
					batch = []Item{next()}
				default:
					for range 1 + r.IntN(4) {
						batch = append(batch, next())
					}
				}
				err := c.PutMany(ctx, batch)
				for _, it := range batch {
					if err == nil {
						acked[w] = append(acked[w], it.Note)
					} else {
						refused[w] = append(refused[w], it.Note)
					}
				}
				if err != nil && !errors.Is(err, core.ErrConflict) {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	seen := make([][]observation, readers)
	var rg sync.WaitGroup
	for i := range readers {
		rg.Go(func() {
			<-start
			rd := &reader{c: c, h: h, r: rand.New(rand.NewPCG(seed, 1000+uint64(i)))}
			for n := 0; ; n++ {
				select {
				case <-done:
					if n >= steps {
						seen[i] = rd.seen
						return
					}
				default:
				}
				if err := rd.read(ctx); err != nil {
					errs <- fmt.Errorf("reader %d, read %d: %w", i, n, err)
					seen[i] = rd.seen
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(done)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The sentinel, written last, tells the feed's reader it has every
	// change.
	if err := c.Put(ctx, sentinel); err != nil {
		t.Fatal(err)
	}
	if err := <-fed; err != nil {
		t.Fatalf("the change feed: %v", err)
	}

	want, seqOf, err := replay(events)
	if err != nil {
		t.Fatal(err)
	}
	var ackedAll []string
	refusedAll := make(map[string]bool)
	for w := range writers {
		ackedAll = append(ackedAll, acked[w]...)
		for _, note := range refused[w] {
			refusedAll[note] = true
		}
	}
	ackedAll = append(ackedAll, sentinel.Note)
	if got := slices.Sorted(maps.Keys(seqOf)); !slices.Equal(got, slices.Sorted(slices.Values(ackedAll))) {
		t.Fatalf("the change feed's puts are not the acknowledged writes: %d puts in the feed, %d acknowledged", len(got), len(ackedAll))
	}
	for i, obs := range seen {
		last := make(map[int64]uint64)
		for _, o := range obs {
			if refusedAll[o.note] {
				t.Fatalf("reader %d read %s at key %d, a write that was refused", i, o.note, o.id)
			}
			seq, ok := seqOf[o.note]
			if !ok {
				t.Fatalf("reader %d read %s at key %d, which no change stored", i, o.note, o.id)
			}
			if seq < last[o.id] {
				t.Fatalf("reader %d read key %d go back from change %d to change %d (%s)", i, o.id, last[o.id], seq, o.note)
			}
			last[o.id] = seq
		}
		t.Logf("reader %d: %d values read", i, len(obs))
	}
	if err := verify(ctx, rand.New(rand.NewPCG(seed, 99)), c, want); err != nil {
		t.Fatalf("after %d writers of %d steps each: %v", writers, steps, err)
	}
}

// sentinel is the last write of RunConcurrent: a key and an email no
// writer uses.
var sentinel = Item{ID: idRange, Email: "sentinel", Note: "sentinel"}

// history holds every value a writer issued, by its Note.
type history struct {
	mu    sync.Mutex
	items map[string]Item
}

func (h *history) register(it Item) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.items == nil {
		h.items = make(map[string]Item)
	}
	h.items[it.Note] = it
}

// written reports whether it is a value some writer issued.
func (h *history) written(it Item) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	w, ok := h.items[it.Note]
	return ok && Equal(w, it)
}

// observation is a value a reader read: its key and Note.
type observation struct {
	id   int64
	note string
}

// reader reads a collection that writers are changing and checks each
// read on its own; what it saw is checked against the writes afterwards.
type reader struct {
	c    *model.Collection[int64, Item]
	h    *history
	r    *rand.Rand
	seen []observation
}

func (rd *reader) read(ctx context.Context) error {
	c, r := rd.c, rd.r
	switch r.IntN(6) {
	case 0:
		id := int64(r.IntN(idRange) - idRange/2)
		it, err := c.Get(ctx, id)
		if errors.Is(err, core.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if it.ID != id {
			return fmt.Errorf("get %d returned key %d", id, it.ID)
		}
		return rd.saw(it)
	case 1:
		return readRange(ctx, rd, "key", c.Range, int64(r.IntN(idRange+2)-idRange/2-1), int64(r.IntN(idRange+2)-idRange/2-1),
			func(it Item) int64 { return it.ID }, cmp.Compare[int64])
	case 2:
		return readIndex(ctx, rd, "Name", names, func(it Item) string { return it.Name }, cmp.Compare[string])
	case 3:
		return readIndex(ctx, rd, "Email", emails, func(it Item) string { return it.Email }, cmp.Compare[string])
	case 4:
		return readIndex(ctx, rd, "At", times, func(it Item) time.Time { return it.At }, func(a, b time.Time) int { return a.Compare(b) })
	default:
		return readIndex(ctx, rd, "Size", sizes, func(it Item) uint16 { return it.Size }, cmp.Compare[uint16])
	}
}

// saw checks that it is a value a writer issued, and records it.
func (rd *reader) saw(it Item) error {
	if !rd.h.written(it) {
		return fmt.Errorf("read a value no writer wrote: key %d, note %q", it.ID, it.Note)
	}
	rd.seen = append(rd.seen, observation{it.ID, it.Note})
	return nil
}

func readIndex[V any](ctx context.Context, rd *reader, name string, domain []V, get func(Item) V, compare func(a, b V) int) error {
	x, err := model.IndexOf[V](rd.c, name)
	if err != nil {
		return err
	}
	lo, hi := domain[rd.r.IntN(len(domain))], domain[rd.r.IntN(len(domain))]
	return readRange(ctx, rd, "index "+name, x.Range, lo, hi, get, compare)
}

// readRange reads a range with random bounds drawn from lo and hi, a
// random direction and limit, and checks its order, bounds and values.
func readRange[V any](ctx context.Context, rd *reader, what string, rng func(context.Context, model.Range[V]) iter.Seq2[Item, error],
	lo, hi V, get func(Item) V, compare func(a, b V) int) error {
	r := rd.r
	q := model.Range[V]{Reverse: r.IntN(2) == 1, Limit: r.IntN(6)}
	if r.IntN(4) > 0 {
		q = q.From(lo)
	}
	if r.IntN(4) > 0 {
		q = q.To(hi)
	}
	order := func(a, b Item) int { return cmp.Or(compare(get(a), get(b)), cmp.Compare(a.ID, b.ID)) }
	var prev *Item
	n := 0
	for it, err := range rng(ctx, q) {
		if err != nil {
			return fmt.Errorf("%s range %s: %w", what, describeRange(q), err)
		}
		n++
		v := get(it)
		switch {
		case q.Lo != nil && compare(v, *q.Lo) < 0, q.Hi != nil && compare(v, *q.Hi) >= 0:
			return fmt.Errorf("%s range %s returned key %d with %v, out of bounds", what, describeRange(q), it.ID, v)
		case q.Limit > 0 && n > q.Limit:
			return fmt.Errorf("%s range %s returned more than %d values", what, describeRange(q), q.Limit)
		case prev != nil && (!q.Reverse && order(*prev, it) >= 0 || q.Reverse && order(*prev, it) <= 0):
			return fmt.Errorf("%s range %s returned key %d (%v) after key %d (%v), out of order", what, describeRange(q), it.ID, v, prev.ID, get(*prev))
		}
		if err := rd.saw(it); err != nil {
			return fmt.Errorf("%s range %s: %w", what, describeRange(q), err)
		}
		prev = &it
	}
	return nil
}

// replay rebuilds a collection's contents from its change feed, checking
// that the feed is complete and that each change's old value is what the
// key held. It returns the contents and the feed's number of each put, by
// the put value's Note.
func replay(events []model.Event[int64, Item]) (map[int64]Item, map[string]uint64, error) {
	want := make(map[int64]Item)
	seqOf := make(map[string]uint64)
	for i, ev := range events {
		if ev.Missed != 0 || i > 0 && ev.Seq != events[i-1].Seq+1 {
			return nil, nil, fmt.Errorf("the change feed missed changes before change %d (missed %d)", ev.Seq, ev.Missed)
		}
		old, held := want[ev.Key]
		if held != (ev.Old != nil) || held && !Equal(old, *ev.Old) {
			return nil, nil, fmt.Errorf("change %d (%s of key %d) replaced %v; the key held %v (%v)", ev.Seq, ev.Kind, ev.Key, ev.Old, old, held)
		}
		switch ev.Kind {
		case model.Put:
			if ev.New == nil || ev.New.ID != ev.Key {
				return nil, nil, fmt.Errorf("change %d puts %v under key %d", ev.Seq, ev.New, ev.Key)
			}
			if _, dup := seqOf[ev.New.Note]; dup {
				return nil, nil, fmt.Errorf("change %d puts %s again", ev.Seq, ev.New.Note)
			}
			want[ev.Key] = *ev.New
			seqOf[ev.New.Note] = ev.Seq
		case model.Deleted:
			delete(want, ev.Key)
		default:
			return nil, nil, fmt.Errorf("change %d is a %s", ev.Seq, ev.Kind)
		}
	}
	return want, seqOf, nil
}
