package model_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// syncedNode is a node of the fake network with its replica of "users".
type syncedNode struct {
	n *fakeNode
	r *fakeReplica
}

func newSyncedNodes(t *testing.T, count int) []syncedNode {
	t.Helper()
	dht := newFakeDHT()
	out := make([]syncedNode, count)
	for i := range out {
		n := dht.node(t, uint64(i+1))
		out[i] = syncedNode{n: n, r: n.joinSync("users")}
	}
	return out
}

// openSynced opens users as a synced collection on a new Store of sn.
func openSynced(t *testing.T, sn syncedNode, opts ...model.Option) (*model.Store, *model.Collection[string, User]) {
	t.Helper()
	s := model.New(sn.n)
	t.Cleanup(func() { _ = s.Close() })
	c, err := model.OpenSynced[string, User](t.Context(), s, sn.r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// written is what an entry shows: writer and user.
type written struct {
	Writer peer.ID
	Name   string
	Email  string
}

func collectEntries(t *testing.T, seq iter.Seq2[model.Entry[User], error]) []written {
	t.Helper()
	var out []written
	for en, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, written{en.Writer, en.Value.Name, en.Value.Email})
	}
	return out
}

// eventually polls until cond holds, or fails the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	nodetest.Eventually(t, ctx, what, cond)
}

func count(t *testing.T, c *model.Collection[string, User]) int {
	t.Helper()
	n, err := c.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func checkAll(t *testing.T, cs ...*model.Collection[string, User]) {
	t.Helper()
	for i, c := range cs {
		if err := c.Check(t.Context()); err != nil {
			t.Fatalf("collection %d: %v", i, err)
		}
	}
}

// TestSyncedTwoWriters writes on two nodes and reads both writers' values
// on each, by key, by writer, through indexes, and checks that a unique
// index is unique per writer.
func TestSyncedTwoWriters(t *testing.T) {
	ctx := t.Context()
	nodes := newSyncedNodes(t, 2)
	a, b := nodes[0].n.ID(), nodes[1].n.ID()
	_, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])

	for _, w := range []struct {
		c *model.Collection[string, User]
		u User
	}{
		{onA, User{Name: "ada", Email: "ada@a", Age: 36}},
		{onB, User{Name: "ada", Email: "ada@b", Age: 36}},
		{onB, User{Name: "bob", Email: "bob@b", Age: 20}},
		// A unique value taken by another writer is free for this one.
		{onA, User{Name: "cy", Email: "bob@b", Age: 20}},
	} {
		if err := w.c.Put(ctx, w.u); err != nil {
			t.Fatal(err)
		}
	}
	if err := onA.Put(ctx, User{Name: "dee", Email: "ada@a"}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("a second key of the writer's unique value: %v", err)
	}
	eventually(t, "both nodes hold 4 values", func() bool { return count(t, onA) == 4 && count(t, onB) == 4 })

	first, second := a, b
	if b < a {
		first, second = b, a
	}
	email := map[peer.ID]string{a: "ada@a", b: "ada@b"}
	wantAll := []written{{first, "ada", email[first]}, {second, "ada", email[second]}}
	wantAll = append(wantAll, written{a, "cy", "bob@b"}, written{b, "bob", "bob@b"})
	slices.SortStableFunc(wantAll, func(x, y written) int { return strings.Compare(string(x.Writer), string(y.Writer)) })
	byEmail, err := model.IndexOf[string](onA, "Email")
	if err != nil {
		t.Fatal(err)
	}
	byAge, err := model.IndexOf[int](onB, "Age")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []*model.Collection[string, User]{onA, onB} {
		if got := collectEntries(t, c.Entries(ctx)); !slices.Equal(got, wantAll) {
			t.Fatalf("node %d: entries %v, want %v", i, got, wantAll)
		}
		if got := collectEntries(t, c.RangeEntries(ctx, model.Range[string]{}.From("ada").To("b"))); len(got) != 2 || got[0].Name != "ada" || got[1].Name != "ada" {
			t.Fatalf("node %d: entries of keys from ada to b: %v", i, got)
		}
		if v, err := c.GetFrom(ctx, a, "ada"); err != nil || v.Email != "ada@a" {
			t.Fatalf("node %d: A's ada: %+v, %v", i, v, err)
		}
		if v, err := c.GetFrom(ctx, b, "ada"); err != nil || v.Email != "ada@b" {
			t.Fatalf("node %d: B's ada: %+v, %v", i, v, err)
		}
		if _, err := c.GetFrom(ctx, a, "bob"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("node %d: A's bob: %v", i, err)
		}
	}
	if v, err := onA.Get(ctx, "ada"); err != nil || v.Email != "ada@a" {
		t.Fatalf("A's own ada: %+v, %v", v, err)
	}
	if v, err := onB.Get(ctx, "ada"); err != nil || v.Email != "ada@b" {
		t.Fatalf("B's own ada: %+v, %v", v, err)
	}
	if _, err := onA.Get(ctx, "bob"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("A's own bob, which only B wrote: %v", err)
	}
	want := []written{{a, "cy", "bob@b"}, {b, "bob", "bob@b"}}
	if a > b {
		want[0], want[1] = want[1], want[0]
	}
	if got := collectEntries(t, byEmail.FindEntries(ctx, "bob@b")); !slices.Equal(got, want) {
		t.Fatalf("find bob@b across writers: %v, want %v", got, want)
	}
	if got := collectEntries(t, byAge.RangeEntries(ctx, model.Range[int]{}.From(30))); len(got) != 2 {
		t.Fatalf("age 30 and more: %v", got)
	}
	var names []string
	for u, err := range byAge.Find(ctx, 20) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, u.Name)
	}
	if len(names) != 2 {
		t.Fatalf("Find(20) without writers: %v", names)
	}
	checkAll(t, onA, onB)
}

// TestSyncedDelete checks that a delete removes the writer's value and
// its index entries on every node, and leaves other writers' values.
func TestSyncedDelete(t *testing.T) {
	ctx := t.Context()
	nodes := newSyncedNodes(t, 2)
	a := nodes[0].n.ID()
	_, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])
	if err := onA.Put(ctx, User{Name: "ada", Email: "x", Age: 1}); err != nil {
		t.Fatal(err)
	}
	if err := onB.Put(ctx, User{Name: "ada", Email: "x", Age: 1}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both hold both", func() bool { return count(t, onA) == 2 && count(t, onB) == 2 })
	if err := onA.Delete(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete reaches B", func() bool { return count(t, onB) == 1 })
	byEmail, err := model.IndexOf[string](onB, "Email")
	if err != nil {
		t.Fatal(err)
	}
	got := collectEntries(t, byEmail.FindEntries(ctx, "x"))
	if len(got) != 1 || got[0].Writer != nodes[1].n.ID() {
		t.Fatalf("find x after A's delete: %v", got)
	}
	if _, err := onB.GetFrom(ctx, a, "ada"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("A's deleted ada on B: %v", err)
	}
	if _, err := onA.Get(ctx, "ada"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("A's deleted ada on A: %v", err)
	}
	checkAll(t, onA, onB)
}

// TestSyncedRestart checks that records that reach the replica while the
// collection is closed are in it, indexed, as soon as it opens again.
func TestSyncedRestart(t *testing.T) {
	ctx := t.Context()
	nodes := newSyncedNodes(t, 2)
	_, onA := openSynced(t, nodes[0])
	sB, onB := openSynced(t, nodes[1])
	for _, u := range []User{{Name: "ada", Email: "ada", Age: 1}, {Name: "bob", Email: "bob", Age: 2}} {
		if err := onA.Put(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "B holds A's values", func() bool { return count(t, onB) == 2 })
	if err := sB.Close(); err != nil {
		t.Fatal(err)
	}
	if err := onA.Delete(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := onA.Put(ctx, User{Name: "bob", Email: "ada", Age: 3}); err != nil {
		t.Fatal(err)
	}
	if err := onA.Put(ctx, User{Name: "cy", Email: "cy", Age: 3}); err != nil {
		t.Fatal(err)
	}
	_, onB = openSynced(t, nodes[1])
	got := collectEntries(t, onB.Entries(ctx))
	a := nodes[0].n.ID()
	if want := []written{{a, "bob", "ada"}, {a, "cy", "cy"}}; !slices.Equal(got, want) {
		t.Fatalf("after reopening: %v, want %v", got, want)
	}
	byAge, err := model.IndexOf[int](onB, "Age")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := byAge.Count(ctx, 3); err != nil || n != 2 {
		t.Fatalf("age 3 after reopening: %d, %v", n, err)
	}
	checkAll(t, onA, onB)
}

// TestSyncedWatch checks that the feed yields peers' changes with their
// writer, and this node's own.
func TestSyncedWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	nodes := newSyncedNodes(t, 2)
	_, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])
	next, stop := iter.Pull2(onB.Watch(ctx))
	defer stop()
	expect := func(kind model.EventKind, owner peer.ID, key string) model.Event[string, User] {
		t.Helper()
		ev, err, ok := next()
		if !ok || err != nil || ev.Kind != kind || ev.Owner != owner || ev.Key != key {
			t.Fatalf("event %+v, %v, want %s of %s by %s", ev, err, kind, key, owner)
		}
		return ev
	}
	if err := onA.Put(ctx, User{Name: "ada", Email: "a"}); err != nil {
		t.Fatal(err)
	}
	if ev := expect(model.Put, nodes[0].n.ID(), "ada"); ev.New == nil || ev.New.Email != "a" || ev.Old != nil {
		t.Fatalf("A's put: %+v", ev)
	}
	if err := onB.Put(ctx, User{Name: "bob", Email: "b"}); err != nil {
		t.Fatal(err)
	}
	expect(model.Put, nodes[1].n.ID(), "bob")
	if err := onA.Delete(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if ev := expect(model.Deleted, nodes[0].n.ID(), "ada"); ev.Old == nil || ev.Old.Email != "a" {
		t.Fatalf("A's delete: %+v", ev)
	}
}

// TestSyncedFollow: Follow's values and then its feed show every value of
// the collection: those written after the call, before the values are
// read and while they are, come in the feed.
func TestSyncedFollow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	nodes := newSyncedNodes(t, 2)
	_, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])
	if err := onA.Put(ctx, User{Name: "ada", Email: "a"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B holds ada", func() bool { return count(t, onB) == 1 })
	values, changes := onB.Follow(ctx)
	// B's own writes are in its collection when Put returns.
	if err := onB.Put(ctx, User{Name: "bob", Email: "b"}); err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for en, err := range values {
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 {
			if err := onB.Put(ctx, User{Name: "cy", Email: "c"}); err != nil {
				t.Fatal(err)
			}
		}
		seen[en.Value.Name] = true
	}
	if !seen["ada"] || !seen["bob"] {
		t.Fatalf("the values %v lack ada or bob", seen)
	}
	next, stop := iter.Pull2(changes)
	defer stop()
	for _, want := range []string{"bob", "cy"} {
		ev, err, ok := next()
		if !ok || err != nil || ev.Kind != model.Put || ev.Key != want || ev.Owner != nodes[1].n.ID() {
			t.Fatalf("event %+v, %v, want the put of %s", ev, err, want)
		}
	}
}

// TestSyncedBadRecords checks that records of a newer schema version, and
// records that are not values of the collection, are counted and
// reported, and replace nothing but their own writer's key.
func TestSyncedBadRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	nodes := newSyncedNodes(t, 2)
	a := nodes[0].n.ID()
	_, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])
	feed := onB.Watch(ctx)
	if err := onA.Put(ctx, User{Name: "ada", Email: "a"}); err != nil {
		t.Fatal(err)
	}
	seg := func(key string) string { return strings.TrimPrefix(onA.RecordName(key), "users/") }
	good, err := nodes[0].r.Get(ctx, a, seg("ada"))
	if err != nil {
		t.Fatal(err)
	}
	// A newer program's value of ada, then bytes that are no User, a key
	// that is no key segment, and a value under another key.
	for _, bad := range []struct {
		key     string
		version uint32
		value   []byte
	}{
		{seg("ada"), 2, good.Value},
		{seg("b"), 1, []byte{0xff}},
		{"not a segment", 1, good.Value},
		{seg("c"), 1, good.Value},
	} {
		if _, err := nodes[0].r.PutVersion(ctx, bad.key, bad.version, bad.value); err != nil {
			t.Fatal(err)
		}
	}
	var errs []error
	for ev, err := range feed {
		if ev.Kind == model.Received {
			errs = append(errs, err)
		}
		if len(errs) == 4 {
			break
		}
	}
	if !errors.Is(errs[0], core.ErrUnsupported) || !strings.Contains(errs[0].Error(), "version 2") {
		t.Fatalf("a newer version: %v", errs[0])
	}
	for _, err := range errs[1:] {
		if !errors.Is(err, model.ErrCorrupt) {
			t.Fatalf("a bad record: %v", err)
		}
	}
	if st := onB.SyncStats(); st.Newer != 1 || st.Rejected != 3 || st.Conflicts != 0 || st.LastError == nil {
		t.Fatalf("stats %+v", st)
	}
	// A's ada, replaced by a value B cannot read, is no longer shown.
	if _, err := onB.GetFrom(ctx, a, "ada"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("A's ada after its newer version: %v", err)
	}
	checkAll(t, onB)
}

// TestSyncedUniqueOutOfOrder checks that a peer's record that arrives
// before the record that frees its unique value waits, and is taken
// then.
func TestSyncedUniqueOutOfOrder(t *testing.T) {
	ctx := t.Context()
	nodes := newSyncedNodes(t, 2)
	_, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])
	if err := onA.Put(ctx, User{Name: "ada", Email: "x"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B holds ada", func() bool { return count(t, onB) == 1 })
	nodes[1].r.setHold(true, false)
	if err := onA.Put(ctx, User{Name: "ada", Email: "y"}); err != nil {
		t.Fatal(err)
	}
	if err := onA.Put(ctx, User{Name: "bob", Email: "x"}); err != nil {
		t.Fatal(err)
	}
	nodes[1].r.setHold(false, true) // bob first, while ada holds x
	byEmail, err := model.IndexOf[string](onB, "Email")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "B holds bob", func() bool {
		v, err := byEmail.Lookup(ctx, "x")
		return err == nil && v.Name == "bob"
	})
	if st := onB.SyncStats(); st.Conflicts != 0 {
		t.Fatalf("stats %+v", st)
	}
	if v, err := onB.GetFrom(ctx, nodes[0].n.ID(), "ada"); err != nil || v.Email != "y" {
		t.Fatalf("ada on B: %+v, %v", v, err)
	}
	checkAll(t, onA, onB)
}

// TestSyncedOpen checks that OpenSynced names the collection after its
// replica, and what it and Open refuse for synced collections.
func TestSyncedOpen(t *testing.T) {
	ctx := t.Context()
	nodes := newSyncedNodes(t, 1)
	b := memory(t)
	if _, err := model.OpenSynced[string, User](ctx, model.NewLocal(b), nodes[0].r); err == nil || !strings.Contains(err.Error(), "model.New") {
		t.Fatalf("synced on a local store: %v", err)
	}
	s := model.New(nodes[0].n)
	defer s.Close()
	if _, err := model.OpenSynced[string, User](ctx, s, nil); err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("synced with no replica: %v", err)
	}
	c, err := model.OpenSynced[string, User](ctx, s, nodes[0].r)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "users" {
		t.Fatalf("the collection over replica users is called %q", c.Name())
	}
	if _, err := model.Open[string, User](ctx, s, "users"); err == nil {
		t.Fatal("opened a synced collection again as a local one")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := model.Open[string, User](ctx, model.New(nodes[0].n), "users"); err == nil || !strings.Contains(err.Error(), "synced") {
		t.Fatalf("a stored synced collection opened as a local one: %v", err)
	}
	local := open[string, User](t, memory(t), "users")
	if _, err := local.GetFrom(ctx, nodes[0].n.ID(), "ada"); !errors.Is(err, core.ErrUnsupported) {
		t.Fatalf("GetFrom on a local collection: %v", err)
	}
}

// TestSyncedGetOthersKey checks that Get of a key only other writers hold
// says who holds it and that GetFrom reads it, and that Get of a key no
// writer holds is a plain not-found naming the key.
func TestSyncedGetOthersKey(t *testing.T) {
	ctx := t.Context()
	nodes := newSyncedNodes(t, 3)
	_, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])
	_, onC := openSynced(t, nodes[2])
	if err := onB.Put(ctx, User{Name: "bob", Email: "bob@b"}); err != nil {
		t.Fatal(err)
	}
	if err := onC.Put(ctx, User{Name: "bob", Email: "bob@c"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A holds both bobs", func() bool { return count(t, onA) == 2 })
	_, err := onA.Get(ctx, "bob")
	if !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("A's own bob: %v; want core.ErrNotFound", err)
	}
	b, c := nodes[1].n.ID().String(), nodes[2].n.ID().String()
	if b > c {
		b, c = c, b
	}
	for _, want := range []string{`"bob"`, "this node holds no value of its own", b + " and " + c + " hold one", "GetFrom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("A's own bob: %v; want it to say %q", err, want)
		}
	}
	_, err = onA.Get(ctx, "nobody")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `"nobody"`) || strings.Contains(err.Error(), "GetFrom") {
		t.Errorf("a key no writer holds: %v; want a not-found naming the key, with no GetFrom", err)
	}
	if v, err := onB.Get(ctx, "bob"); err != nil || v.Email != "bob@b" {
		t.Errorf("B's own bob: %+v, %v", v, err)
	}
}

// hasCounter counts the Has calls of a backend.
type hasCounter struct{ n atomic.Int64 }

func (h *hasCounter) Observe(op core.Op, _ time.Duration, _ error) {
	if op == core.OpHas {
		h.n.Add(1)
	}
}

// TestSyncedGetOthersKeyBounded checks that Get's not-found hint looks the
// key up under a bounded number of writers, not under every writer the
// collection has seen, and that it names three holders and says others
// hold one too when more do.
func TestSyncedGetOthersKeyBounded(t *testing.T) {
	ctx := t.Context()
	const writers = 40
	nodes := newSyncedNodes(t, writers+1)
	_, onA := openSynced(t, nodes[0])
	_, onB := openSynced(t, nodes[1])
	if err := onB.Put(ctx, User{Name: "bob", Email: "bob@b"}); err != nil {
		t.Fatal(err)
	}
	var rec replica.Record
	for r, err := range nodes[1].r.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		rec = r
	}
	for _, sn := range nodes[2:] {
		if _, err := sn.r.PutVersion(ctx, rec.Key, rec.Version, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "A holds every writer's bob", func() bool { return count(t, onA) == writers })
	var has hasCounter
	if err := core.Observe(nodes[0].n.Datastore(), &has); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = core.Observe(nodes[0].n.Datastore(), nil) })

	_, err := onA.Get(ctx, "nobody")
	if !errors.Is(err, core.ErrNotFound) || strings.Contains(err.Error(), "GetFrom") {
		t.Errorf("a key no writer holds: %v; want a plain not-found", err)
	}
	if n := has.n.Load(); n > 16 {
		t.Errorf("Get of a key no writer holds looked under %d of %d writers; want at most 16", n, writers)
	}

	has.n.Store(0)
	_, err = onA.Get(ctx, "bob")
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "and other writers hold one: read it with GetFrom") {
		t.Errorf("A's own bob, which %d other writers hold: %v; want three named and the others told", writers, err)
	}
	if n := has.n.Load(); n > 4 {
		t.Errorf("Get of a key every writer holds looked under %d writers; want it to stop at the fourth holder", n)
	}
}

// TestSyncedCaughtUp opens a collection whose replica has not yet told it
// of records a reconciliation brought: CaughtUp returns the peer it
// reconciled with once the collection holds them, and none for a node
// alone.
func TestSyncedCaughtUp(t *testing.T) {
	ctx := t.Context()
	nodes := newSyncedNodes(t, 2)
	a := nodes[0].n.ID()
	_, onA := openSynced(t, nodes[0])
	nodes[1].r.setHold(true, false)
	for _, u := range []User{{Name: "ada", Email: "ada@a"}, {Name: "bob", Email: "bob@a"}} {
		if err := onA.Put(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	_, onB := openSynced(t, nodes[1])
	if n := count(t, onB); n != 0 {
		t.Fatalf("B holds %d values before it caught up; want none", n)
	}
	peers, err := onB.CaughtUp(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(peers, []peer.ID{a}) {
		t.Fatalf("B caught up with %v; want A, %s", peers, a)
	}
	if n := count(t, onB); n != 2 {
		t.Errorf("B holds %d values once caught up; want A's 2", n)
	}
	if v, err := onB.GetFrom(ctx, a, "bob"); err != nil || v.Email != "bob@a" {
		t.Errorf("A's bob on B once caught up: %+v, %v", v, err)
	}
	// The watch's late word of the records changes nothing, and what
	// follows it still arrives.
	nodes[1].r.tellLate()
	nodes[1].r.setHold(false, false)
	if err := onA.Put(ctx, User{Name: "cy", Email: "cy@a"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B holds A's 3 values", func() bool { return count(t, onB) == 3 })
	checkAll(t, onA, onB)

	_, alone := openSynced(t, newSyncedNodes(t, 1)[0])
	if peers, err := alone.CaughtUp(ctx, 0); err != nil || len(peers) != 0 {
		t.Errorf("a node alone caught up with %v, %v; want no peers and no error", peers, err)
	}
	local := open[string, User](t, memory(t), "users")
	if _, err := local.CaughtUp(ctx, 0); !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("CaughtUp on a local collection: %v", err)
	}
}
