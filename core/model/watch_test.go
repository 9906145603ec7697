package model_test

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/netabase/netabase/core/model"
)

// watchTimeout bounds a test that waits for changes: a missing change ends
// its feed, and the test fails, instead of hanging.
const watchTimeout = time.Minute

func TestWatchLocal(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	users := open[string, User](t, memory(t), "users")
	feed := users.Watch(ctx)
	// Changes made before Watch is iterated are in the feed.
	steps := []func() error{
		func() error { return users.Put(ctx, User{Name: "ada", Age: 1}) },
		func() error { return users.Put(ctx, User{Name: "ada", Age: 2}) },
		func() error { return users.PutMany(ctx, []User{{Name: "bob", Email: "b"}, {Name: "ada", Age: 3}}) },
		func() error { return users.Delete(ctx, "nobody") }, // no change, no event
		func() error { return users.Delete(ctx, "ada") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	age := func(u *User) string {
		if u == nil {
			return "-"
		}
		return fmt.Sprint(u.Age)
	}
	want := []string{
		"1 put ada - 1",
		"2 put ada 1 2",
		"3 put bob - 0",
		"4 put ada 2 3",
		"5 deleted ada 3 -",
	}
	i := 0
	for ev, err := range feed {
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%d %s %s %s %s", ev.Seq, ev.Kind, ev.Key, age(ev.Old), age(ev.New)); got != want[i] {
			t.Fatalf("event %d: %s, want %s", i, got, want[i])
		}
		if ev.Missed != 0 {
			t.Fatalf("event %d missed %d", i, ev.Missed)
		}
		if i++; i == len(want) {
			break
		}
	}
	if i != len(want) {
		t.Fatalf("the feed ended after %d of %d events", i, len(want))
	}
	// The feed can be iterated once.
	for _, err := range feed {
		if err == nil {
			t.Fatal("a second iteration of a feed works")
		}
		break
	}
}

// TestWatchSlow checks the policy for a watcher that falls behind: writers
// go on, the watcher misses changes and is told how many.
func TestWatchSlow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	users := open[string, User](t, memory(t), "users", model.WatchBuffer(2))
	next, stop := iter.Pull2(users.Watch(ctx))
	defer stop()
	for i := range 5 {
		if err := users.Put(ctx, User{Name: "ada", Age: i}); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []struct{ seq, missed uint64 }{{1, 0}, {2, 0}} {
		ev, err, ok := next()
		if !ok || err != nil || ev.Seq != want.seq || ev.Missed != want.missed {
			t.Fatalf("event %d: %+v, %v", i, ev, err)
		}
	}
	if err := users.Put(ctx, User{Name: "ada", Age: 9}); err != nil {
		t.Fatal(err)
	}
	ev, err, ok := next()
	if !ok || err != nil || ev.Seq != 6 || ev.Missed != 3 || ev.New.Age != 9 {
		t.Fatalf("the event after a full buffer: %+v, %v", ev, err)
	}
}

// TestWatchSlowAndThenQuiet: a watcher that fell behind a burst after
// which nothing changes is told what it missed once it has taken its
// buffer, without waiting for a later change.
func TestWatchSlowAndThenQuiet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	users := open[string, User](t, memory(t), "users", model.WatchBuffer(2))
	next, stop := iter.Pull2(users.Watch(ctx))
	defer stop()
	for i := range 5 {
		if err := users.Put(ctx, User{Name: "ada", Age: i}); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []struct {
		kind        model.EventKind
		seq, missed uint64
	}{{model.Put, 1, 0}, {model.Put, 2, 0}, {0, 5, 3}} {
		ev, err, ok := next()
		if !ok || err != nil || ev.Kind != want.kind || ev.Seq != want.seq || ev.Missed != want.missed {
			t.Fatalf("event %d: %+v, %v (ok %v)", i, ev, err, ok)
		}
	}
	if err := users.Put(ctx, User{Name: "ada", Age: 9}); err != nil {
		t.Fatal(err)
	}
	if ev, err, ok := next(); !ok || err != nil || ev.Seq != 6 || ev.Missed != 0 || ev.New.Age != 9 {
		t.Fatalf("the event after the gap: %+v, %v", ev, err)
	}
}

// TestWatchEnds checks that a feed ends when its context ends and when
// the store closes.
func TestWatchEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	users := open[string, User](t, memory(t), "users")
	feed := users.Watch(ctx)
	cancel()
	for ev, err := range feed {
		t.Fatalf("a cancelled feed yields %+v, %v", ev, err)
	}

	s := model.NewLocal(memory(t))
	c, err := model.Open[string, User](t.Context(), s, "users")
	if err != nil {
		t.Fatal(err)
	}
	feed = c.Watch(t.Context())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for ev, err := range feed {
		t.Fatalf("the feed of a closed store yields %+v, %v", ev, err)
	}
}

// TestWatchCommitOrder checks, with concurrent writers, that replaying the
// feed from an empty collection gives what the collection holds, and that
// every event's old value is what the replay held: the feed is in commit
// order.
func TestWatchCommitOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), watchTimeout)
	defer cancel()
	users := open[string, User](t, memory(t), "users", model.WatchBuffer(100000))
	feed := users.Watch(ctx)
	const writers, steps = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(3, uint64(w)))
			for i := range steps {
				name := fmt.Sprint(r.IntN(10))
				var err error
				if r.IntN(3) == 0 {
					err = users.Delete(ctx, name)
				} else {
					err = users.Put(ctx, User{Name: name, Email: fmt.Sprintf("%d-%d", w, i), Age: w*1000 + i})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// A sentinel marks the end of the writers' changes.
	if err := users.Put(ctx, User{Name: "end", Email: "end"}); err != nil {
		t.Fatal(err)
	}
	replay := map[string]User{}
	var seq uint64
	ended := false
	for ev, err := range feed {
		if err != nil {
			t.Fatal(err)
		}
		if seq++; ev.Seq != seq || ev.Missed != 0 {
			t.Fatalf("event %+v after seq %d", ev, seq-1)
		}
		prev, had := replay[ev.Key]
		if had != (ev.Old != nil) || (had && prev != *ev.Old) {
			t.Fatalf("event %d for %s: old %+v, but the replay held %+v (%v)", ev.Seq, ev.Key, ev.Old, prev, had)
		}
		if ev.Kind == model.Deleted {
			delete(replay, ev.Key)
		} else {
			replay[ev.Key] = *ev.New
		}
		if ev.Key == "end" {
			ended = true
			break
		}
	}
	if !ended {
		t.Fatalf("the feed ended after %d events, before the last write", seq)
	}
	n := 0
	for u, err := range users.Scan(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; replay[u.Name] != u {
			t.Fatalf("stored %+v, replayed %+v", u, replay[u.Name])
		}
	}
	if n != len(replay) {
		t.Fatalf("stored %d values, replayed %d", n, len(replay))
	}
	if err := users.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
