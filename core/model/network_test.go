package model_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/model"
)

// openNet opens users on n's store, with a network.
func openNet(t *testing.T, n *fakeNode, opts ...model.Option) *model.Collection[string, User] {
	t.Helper()
	s := model.New(n)
	t.Cleanup(func() { _ = s.Close() })
	c, err := model.Open[string, User](t.Context(), s, "users", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPublishFetch(t *testing.T) {
	ctx := t.Context()
	dht := newFakeDHT()
	a, b := dht.node(t, 1), dht.node(t, 2)
	onA, onB := openNet(t, a), openNet(t, b)

	ada := User{Name: "ada", Email: "a@x", Age: 36}
	key, err := onA.Publish(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	if want := envelope.Key(a.ID(), onA.RecordName("ada")); key != want {
		t.Fatalf("record key %s, want %s", key, want)
	}
	got, err := onB.Fetch(ctx, a.ID(), "ada")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "ada" || got.Email != "a@x" || got.Age != 36 {
		t.Fatalf("fetched %+v", got)
	}
	// Publishing does not store locally.
	if ok, _ := onA.Has(ctx, "ada"); ok {
		t.Fatal("Publish stored the value in the local collection")
	}
	if _, err := onB.Fetch(ctx, a.ID(), "bob"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("fetching an unpublished key: %v", err)
	}
	if _, err := onB.Fetch(ctx, b.ID(), "ada"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("fetching another owner's key: %v", err)
	}
}

func TestRecordNames(t *testing.T) {
	dht := newFakeDHT()
	users := openNet(t, dht.node(t, 1))
	seen := map[string]string{}
	for _, k := range []string{"", "a", "a\x00", "ab", "a/b", "../x", "é"} {
		name := users.RecordName(k)
		if !strings.HasPrefix(name, "users/") {
			t.Fatalf("record name %q", name)
		}
		for _, r := range name {
			if r < 0x21 || r > 0x7e {
				t.Fatalf("record name %q of %q is not printable ASCII", name, k)
			}
		}
		if strings.Count(name, "/") != 1 {
			t.Fatalf("record name %q of %q has more than one '/'", name, k)
		}
		if other, dup := seen[name]; dup {
			t.Fatalf("keys %q and %q share the record name %q", other, k, name)
		}
		seen[name] = k
	}
}

func TestFetchRejects(t *testing.T) {
	ctx := t.Context()
	dht := newFakeDHT()
	a, b := dht.node(t, 1), dht.node(t, 2)
	onA, onB := openNet(t, a), openNet(t, b)
	if _, err := onA.Publish(ctx, User{Name: "ada", Email: "a@x"}); err != nil {
		t.Fatal(err)
	}

	// Another schema under the collection's name.
	if _, err := a.PublishRecord(ctx, onA.RecordName("eve"), "pets", 1, []byte{0xa0}); err != nil {
		t.Fatal(err)
	}
	if _, err := onB.Fetch(ctx, a.ID(), "eve"); !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), `"pets"`) {
		t.Fatalf("a record of another schema: %v", err)
	}
	// The value of another key under this key's name.
	data := dht.record(envelope.Key(a.ID(), onA.RecordName("ada"))).Value
	if _, err := a.PublishRecord(ctx, onA.RecordName("bob"), "users", 1, data); err != nil {
		t.Fatal(err)
	}
	if _, err := onB.Fetch(ctx, a.ID(), "bob"); !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), `"ada"`) {
		t.Fatalf("a record holding another key: %v", err)
	}
	// A value that is not a User.
	if _, err := a.PublishRecord(ctx, onA.RecordName("cy"), "users", 1, []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	if _, err := onB.Fetch(ctx, a.ID(), "cy"); !errors.Is(err, core.ErrRejected) {
		t.Fatalf("a record that does not decode: %v", err)
	}
	// A newer schema version than this program's.
	if _, err := a.PublishRecord(ctx, onA.RecordName("dee"), "users", 2, data); err != nil {
		t.Fatal(err)
	}
	if _, err := onB.Fetch(ctx, a.ID(), "dee"); !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("a record of a newer schema version: %v", err)
	}
	// An envelope that no longer verifies.
	b.setTamper(func(e *envelope.Envelope) { e.Value = append([]byte{}, data...); e.Value[len(e.Value)-1] ^= 1 })
	if _, err := onB.Fetch(ctx, a.ID(), "ada"); !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("a tampered envelope: %v", err)
	}
}

type userV0 struct {
	Name string `netabase:"key"`
	Mail string
}

// TestFetchMigrates checks that a record published with an older schema
// version is read through the migration from it.
func TestFetchMigrates(t *testing.T) {
	ctx := t.Context()
	dht := newFakeDHT()
	a, b := dht.node(t, 1), dht.node(t, 2)
	sa := model.New(a)
	t.Cleanup(func() { _ = sa.Close() })
	old, err := model.Open[string, userV0](ctx, sa, "users")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Publish(ctx, userV0{Name: "ada", Mail: "a@x"}); err != nil {
		t.Fatal(err)
	}
	onB := openNet(t, b, model.Version(2), model.Migrate(1, func(o userV0) (User, error) {
		return User{Name: o.Name, Email: o.Mail}, nil
	}))
	got, err := onB.Fetch(ctx, a.ID(), "ada")
	if err != nil || got.Email != "a@x" {
		t.Fatalf("fetching a version 1 record at version 2: %+v, %v", got, err)
	}
}

func TestNoNetwork(t *testing.T) {
	ctx := t.Context()
	users := open[string, User](t, memory(t), "users")
	if _, err := users.Publish(ctx, User{Name: "ada"}); !errors.Is(err, core.ErrUnsupported) {
		t.Fatalf("Publish without a network: %v", err)
	}
	if _, err := users.Fetch(ctx, "", "ada"); !errors.Is(err, core.ErrUnsupported) {
		t.Fatalf("Fetch without a network: %v", err)
	}
}

// TestWatchReceives checks that a value published by another node arrives
// in the feed, and that records of other collections do not.
func TestWatchReceives(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	dht := newFakeDHT()
	a, b := dht.node(t, 1), dht.node(t, 2)
	onA := openNet(t, a)
	onB := openNet(t, b)
	next, stop := iter.Pull2(onB.Watch(ctx))
	defer stop()

	if _, err := a.PublishRecord(ctx, "pets/x", "pets", 1, []byte{0xa0}); err != nil {
		t.Fatal(err)
	}
	if _, err := onA.Publish(ctx, User{Name: "ada", Email: "a@x"}); err != nil {
		t.Fatal(err)
	}
	ev, err, ok := next()
	if !ok || err != nil {
		t.Fatalf("the feed ended, or failed: %v", err)
	}
	if ev.Kind != model.Received || ev.Key != "ada" || ev.Owner != a.ID() || ev.New == nil || ev.New.Email != "a@x" || ev.Old != nil || ev.Seq != 1 {
		t.Fatalf("first event %+v", ev)
	}
	if err := onB.Put(ctx, User{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	if ev, err, ok := next(); !ok || err != nil || ev.Kind != model.Put || ev.Key != "bob" || ev.Seq != 2 {
		t.Fatalf("second event %+v, %v", ev, err)
	}
}

// TestWatchReceivedBad checks that a received record of the collection
// that is not a valid value comes with an error, and the feed goes on.
func TestWatchReceivedBad(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	dht := newFakeDHT()
	a, b := dht.node(t, 1), dht.node(t, 2)
	onA := openNet(t, a)
	onB := openNet(t, b)
	feed := onB.Watch(ctx)
	if _, err := a.PublishRecord(ctx, "users/not-a-segment", "users", 1, []byte{0xa0}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PublishRecord(ctx, onA.RecordName("v9"), "users", 9, []byte{0xa0}); err != nil {
		t.Fatal(err)
	}
	if _, err := onA.Publish(ctx, User{Name: "ok"}); err != nil {
		t.Fatal(err)
	}
	var errs []error
	sawOK := false
	for ev, err := range feed {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ev.Key != "ok" {
			t.Fatalf("unexpected event %+v", ev)
		}
		sawOK = true
		break
	}
	if !sawOK {
		t.Fatalf("the feed ended before the good record, after errors %v", errs)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "not-a-segment") || !errors.Is(errs[1], core.ErrUnsupported) {
		t.Fatalf("errors for bad records: %v", errs)
	}
}
