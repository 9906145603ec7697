package peers_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/timshannon/badgerhold/v4"
	"github.com/timshannon/bolthold"
	bolt "go.etcd.io/bbolt"

	"github.com/netabase/netabase/backends/badgerstore"
	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/internal/measure"
)

var (
	flagN      = flag.Int("peers.n", 100_000, "values in each store")
	flagSingle = flag.Int("peers.single", 10_000, "values inserted, updated and deleted one at a time, and read by key")
	flagBody   = flag.String("peers.body", "100,1024", "bytes of each value's body; a comma-separated list runs each size")
	flagRounds = flag.Int("peers.rounds", 3, "rounds; the sides alternate their order from one round to the next")
	flagSync   = flag.Bool("peers.sync", false, "fsync every write on every side")
	flagSides  = flag.String("peers.sides", "", "comma-separated sides to run (default: all); a comparison is reported when both its sides ran")
)

// Item is the struct every side stores: a key, two indexed fields and a
// body.
type Item struct {
	ID    uint64 `netabase:"key" badgerhold:"key" boltholdKey:"ID"`
	Owner string `netabase:"index" badgerhold:"index" boltholdIndex:"Owner"`
	Score int64  `netabase:"index" badgerhold:"index" boltholdIndex:"Score"`
	Body  []byte
}

// owners is how many distinct Owner values there are: with 100,000
// values, a find matches about 100.
const owners = 1000

// side is one typed store under test.
type side interface {
	insert(it Item) error
	insertMany(items []Item) error
	get(id uint64) error
	// find returns how many values have owner.
	find(owner string) (int, error)
	// scoreRange returns how many values have lo <= Score < hi.
	scoreRange(lo, hi int64) (int, error)
	update(it Item) error
	delete(id uint64) error
	close() error
}

// ours is a core/model collection over a backend.
type ours struct {
	b       core.Backend
	s       *model.Store
	c       *model.Collection[uint64, Item]
	byOwner *model.Index[string, Item]
	byScore *model.Index[int64, Item]
}

func openOurs(ctx context.Context, b core.Backend) (side, error) {
	s := model.NewLocal(b)
	c, err := model.Open[uint64, Item](ctx, s, "items")
	if err != nil {
		return nil, err
	}
	byOwner, err := model.IndexOf[string](c, "Owner")
	if err != nil {
		return nil, err
	}
	byScore, err := model.IndexOf[int64](c, "Score")
	if err != nil {
		return nil, err
	}
	return &ours{b: b, s: s, c: c, byOwner: byOwner, byScore: byScore}, nil
}

func (o *ours) insert(it Item) error          { return o.c.Put(context.Background(), it) }
func (o *ours) insertMany(items []Item) error { return o.c.PutMany(context.Background(), items) }
func (o *ours) update(it Item) error          { return o.c.Put(context.Background(), it) }
func (o *ours) delete(id uint64) error        { return o.c.Delete(context.Background(), id) }

func (o *ours) get(id uint64) error {
	_, err := o.c.Get(context.Background(), id)
	return err
}

func (o *ours) find(owner string) (int, error) {
	return countAll(o.byOwner.Find(context.Background(), owner))
}

func (o *ours) scoreRange(lo, hi int64) (int, error) {
	return countAll(o.byScore.Range(context.Background(), model.Range[int64]{}.From(lo).To(hi)))
}

func (o *ours) close() error {
	_ = o.s.Close()
	return o.b.Close()
}

func countAll(seq func(func(Item, error) bool)) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// badgerHold is badgerhold with its defaults (gob encoding).
type badgerHold struct{ s *badgerhold.Store }

func openBadgerhold(dir string, sync bool) (side, error) {
	opts := badgerhold.DefaultOptions
	opts.Options = badger.DefaultOptions(dir).WithLogger(nil).WithSyncWrites(sync)
	s, err := badgerhold.Open(opts)
	return badgerHold{s}, err
}

func (h badgerHold) insert(it Item) error { return h.s.Insert(it.ID, it) }
func (h badgerHold) insertMany(items []Item) error {
	return h.s.Badger().Update(func(tx *badger.Txn) error {
		for _, it := range items {
			if err := h.s.TxInsert(tx, it.ID, it); err != nil {
				return err
			}
		}
		return nil
	})
}
func (h badgerHold) get(id uint64) error    { var it Item; return h.s.Get(id, &it) }
func (h badgerHold) update(it Item) error   { return h.s.Update(it.ID, it) }
func (h badgerHold) delete(id uint64) error { return h.s.Delete(id, Item{}) }
func (h badgerHold) close() error           { return h.s.Close() }
func (h badgerHold) find(o string) (int, error) {
	var out []Item
	err := h.s.Find(&out, badgerhold.Where("Owner").Eq(o).Index("Owner"))
	return len(out), err
}
func (h badgerHold) scoreRange(lo, hi int64) (int, error) {
	var out []Item
	err := h.s.Find(&out, badgerhold.Where("Score").Ge(lo).And("Score").Lt(hi).Index("Score"))
	return len(out), err
}

// boltHold is bolthold with its defaults (gob encoding) over bbolt.
type boltHold struct{ s *bolthold.Store }

func openBolthold(dir string, sync bool) (side, error) {
	s, err := bolthold.Open(filepath.Join(dir, "bolt.db"), 0o600, &bolthold.Options{Options: &bolt.Options{NoSync: !sync, Timeout: time.Second}})
	return boltHold{s}, err
}

func (h boltHold) insert(it Item) error { return h.s.Insert(it.ID, it) }
func (h boltHold) insertMany(items []Item) error {
	return h.s.Bolt().Update(func(tx *bolt.Tx) error {
		for _, it := range items {
			if err := h.s.TxInsert(tx, it.ID, it); err != nil {
				return err
			}
		}
		return nil
	})
}
func (h boltHold) get(id uint64) error    { var it Item; return h.s.Get(id, &it) }
func (h boltHold) update(it Item) error   { return h.s.Update(it.ID, it) }
func (h boltHold) delete(id uint64) error { return h.s.Delete(id, Item{}) }
func (h boltHold) close() error           { return h.s.Close() }
func (h boltHold) find(o string) (int, error) {
	var out []Item
	err := h.s.Find(&out, bolthold.Where("Owner").Eq(o).Index("Owner"))
	return len(out), err
}
func (h boltHold) scoreRange(lo, hi int64) (int, error) {
	var out []Item
	err := h.s.Find(&out, bolthold.Where("Score").Ge(lo).And("Score").Lt(hi).Index("Score"))
	return len(out), err
}

// contender is a side's name and how to open a fresh one in dir.
type contender struct {
	name string
	open func(ctx context.Context, dir string, sync bool) (side, error)
}

var contenders = []contender{
	{"model/badger", func(ctx context.Context, dir string, sync bool) (side, error) {
		b, err := badgerstore.Open(ctx, &badgerstore.Options{Path: dir, Sync: sync})
		if err != nil {
			return nil, err
		}
		return openOurs(ctx, b)
	}},
	{"model/pebble", func(ctx context.Context, dir string, sync bool) (side, error) {
		b, err := pebblestore.Open(ctx, &pebblestore.Options{Path: dir, Sync: sync})
		if err != nil {
			return nil, err
		}
		return openOurs(ctx, b)
	}},
	{"badgerhold", func(_ context.Context, dir string, sync bool) (side, error) { return openBadgerhold(dir, sync) }},
	{"bolthold", func(_ context.Context, dir string, sync bool) (side, error) { return openBolthold(dir, sync) }},
}

// comparisons are the pairs reported: ours, theirs.
var comparisons = [][2]string{
	{"model/badger", "badgerhold"},
	{"model/pebble", "bolthold"},
	{"model/badger", "bolthold"},
}

// ops are the measured operations, in the order one round runs them.
var ops = []string{"insert-one", "insert-batch-1000", "get", "find-index", "range-index", "update-indexed", "delete"}

// workload is the values of a run and the order operations visit them.
type workload struct {
	items   []Item
	singles []uint64 // keys read, updated and deleted one at a time
}

func newWorkload(n, single, body int) workload {
	r := rand.New(rand.NewPCG(1, 2))
	w := workload{}
	for i := range n {
		b := make([]byte, body)
		for j := range b {
			b[j] = byte('a' + r.IntN(26))
		}
		w.items = append(w.items, Item{
			ID:    r.Uint64(),
			Owner: fmt.Sprintf("owner-%04d", r.IntN(owners)),
			Score: int64(i)*7919%int64(n) - int64(n)/2, // distinct, in another order than the keys
			Body:  b,
		})
	}
	for _, i := range r.Perm(n)[:single] {
		w.singles = append(w.singles, w.items[i].ID)
	}
	return w
}

// runSide fills a fresh store of c and times each operation, returning
// nanoseconds per operation (per value for inserts).
func runSide(ctx context.Context, c contender, dir string, w workload, single int, sync bool) (map[string]float64, error) {
	s, err := c.open(ctx, dir, sync)
	if err != nil {
		return nil, fmt.Errorf("%s: opening: %w", c.name, err)
	}
	defer s.close()
	out := make(map[string]float64)
	timeOp := func(op string, n int, f func() error) error {
		// The labels let a CPU profile (-cpuprofile) be read one side and
		// operation at a time: go tool pprof -tagfocus side=model/pebble.
		var err error
		pprof.Do(ctx, pprof.Labels("side", c.name, "op", op), func(context.Context) {
			start := time.Now()
			if err = f(); err == nil {
				out[op] = float64(time.Since(start).Nanoseconds()) / float64(n)
			}
		})
		if err != nil {
			return fmt.Errorf("%s: %s: %w", c.name, op, err)
		}
		return nil
	}
	r := rand.New(rand.NewPCG(3, 4))
	byID := make(map[uint64]Item, len(w.items))
	for _, it := range w.items {
		byID[it.ID] = it
	}
	const batch = 1000
	const lookups = 20 // finds and ranges: each reads about 100 values
	steps := []struct {
		op string
		n  int
		f  func() error
	}{
		{"insert-one", single, func() error {
			for _, it := range w.items[:single] {
				if err := s.insert(it); err != nil {
					return err
				}
			}
			return nil
		}},
		{"insert-batch-1000", len(w.items) - single, func() error {
			for rest := w.items[single:]; len(rest) > 0; rest = rest[min(batch, len(rest)):] {
				if err := s.insertMany(rest[:min(batch, len(rest))]); err != nil {
					return err
				}
			}
			return nil
		}},
		{"get", single, func() error {
			for _, id := range w.singles {
				if err := s.get(id); err != nil {
					return err
				}
			}
			return nil
		}},
		{"find-index", lookups, func() error {
			for range lookups {
				o := fmt.Sprintf("owner-%04d", r.IntN(owners))
				if _, err := s.find(o); err != nil {
					return err
				}
			}
			return nil
		}},
		{"range-index", lookups, func() error {
			n := int64(len(w.items))
			for range lookups {
				lo := r.Int64N(n-100) - n/2
				if got, err := s.scoreRange(lo, lo+100); err != nil || got != 100 {
					return fmt.Errorf("range [%d, %d) matched %d values, %v; want 100", lo, lo+100, got, err)
				}
			}
			return nil
		}},
		{"update-indexed", single, func() error {
			for _, id := range w.singles {
				it := byID[id]
				it.Owner = fmt.Sprintf("owner-%04d", r.IntN(owners))
				if err := s.update(it); err != nil {
					return err
				}
			}
			return nil
		}},
		{"delete", single, func() error {
			for _, id := range w.singles {
				if err := s.delete(id); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, st := range steps {
		if err := timeOp(st.op, st.n, st.f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// BenchmarkPeers runs every operation on core/model (over badger and over
// pebble), badgerhold and bolthold, in fresh stores, for each body size of
// -peers.body, -peers.rounds times with the sides' order reversed each
// round, and reports for each comparison and operation the median
// nanoseconds per operation of each side and their ratio (ours / theirs, in
// throughput: above 1, ours is faster). Run it with -benchtime 1x.
func BenchmarkPeers(b *testing.B) {
	ctx := b.Context()
	var bodies []int
	for _, f := range strings.Split(*flagBody, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			b.Fatalf("-peers.body %q: give body sizes in bytes, separated by commas", *flagBody)
		}
		bodies = append(bodies, n)
	}
	sides := contenders
	if *flagSides != "" {
		names := strings.Split(*flagSides, ",")
		sides = slices.DeleteFunc(slices.Clone(contenders), func(c contender) bool { return !slices.Contains(names, c.name) })
		if len(sides) != len(names) {
			b.Fatalf("-peers.sides %q: the sides are model/badger, model/pebble, badgerhold and bolthold", *flagSides)
		}
	}
	for _, body := range bodies {
		b.Run(fmt.Sprintf("body=%d", body), func(b *testing.B) { runPeers(ctx, b, sides, body) })
	}
}

func runPeers(ctx context.Context, b *testing.B, sides []contender, body int) {
	w := newWorkload(*flagN, *flagSingle, body)
	times := make(map[string]map[string][]float64) // side, op: ns per op, each round
	for _, c := range sides {
		times[c.name] = make(map[string][]float64)
	}
	for round := range *flagRounds {
		for _, i := range measure.Order(round, len(sides)) {
			c := sides[i]
			got, err := runSide(ctx, c, b.TempDir(), w, *flagSingle, *flagSync)
			if err != nil {
				b.Fatal(err)
			}
			for op, ns := range got {
				times[c.name][op] = append(times[c.name][op], ns)
			}
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%d values, %d B bodies, sync %v, medians of %d rounds\n", *flagN, body, *flagSync, *flagRounds)
	fmt.Fprintf(&table, "| ours | theirs | operation | ours | theirs | ratio (ours / theirs, throughput) |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, cmp := range comparisons {
		if times[cmp[0]] == nil || times[cmp[1]] == nil {
			continue
		}
		for _, op := range ops {
			o, t := measure.Median(times[cmp[0]][op]), measure.Median(times[cmp[1]][op])
			fmt.Fprintf(&table, "| %s | %s | %s | %s | %s | %.2f |\n", cmp[0], cmp[1], op, formatNs(o), formatNs(t), t/o)
			b.Run(cmp[0]+"-vs-"+cmp[1]+"/"+op, func(b *testing.B) {
				b.ReportMetric(o, "ours-ns/op")
				b.ReportMetric(t, "theirs-ns/op")
				b.ReportMetric(t/o, "ratio")
			})
		}
	}
	b.Log(table.String())
}

func formatNs(ns float64) string {
	return time.Duration(ns).Round(10 * time.Nanosecond).String()
}
