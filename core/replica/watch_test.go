package replica

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"
)

// TestWatchSaysWhatItMissed: 20,000 records enter the replica while two
// watchers do not read. Each gets the changes its buffer held, in order,
// then the word that it missed the others, counted exactly: before a later
// change, or alone when none comes. A watcher that reads meanwhile gets
// every change in order or the word for those it missed.
func TestWatchSaysWhatItMissed(t *testing.T) {
	const n = 20_000
	r := newReplica(t, Settings{Name: "notes"})
	w := newWriter(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, stop1 := iter.Pull(r.Watch(ctx))
	defer stop1()
	second, stop2 := iter.Pull(r.Watch(ctx))
	defer stop2()
	// The third reads as fast as it can, on its own goroutine.
	type got struct {
		keys   []string
		missed uint64
	}
	reader := make(chan got, 1)
	changes := r.Watch(ctx)
	go func() {
		var g got
		for c := range changes {
			g.missed += c.Missed
			if c.Missed == 0 {
				g.keys = append(g.keys, c.Key)
			}
			if len(g.keys)+int(g.missed) == n+1 {
				break
			}
		}
		reader <- g
	}()

	now := time.Now().UnixNano()
	var vs []Verified
	var keys []string
	for i := range n + 1 {
		keys = append(keys, fmt.Sprintf("k%05d", i))
		vs = append(vs, seal(t, w, "notes", keys[i], now+int64(i), []byte("v")))
	}
	for b := range slices.Chunk(vs[:n], 500) {
		insert(t, r, b...)
	}
	drain := func(next func() (Change, bool)) {
		t.Helper()
		for i := range watchBuffer {
			c, ok := next()
			if !ok || c.Missed != 0 || c.Key != keys[i] {
				t.Fatalf("change %d: got %+v (ok %v), want the record %s", i, c, ok, keys[i])
			}
		}
	}
	drain(first)
	// The first watcher's buffer has room again: the next change reaches
	// it, after the word of the gap before it.
	insert(t, r, vs[n])
	if c, _ := first(); c.Missed != n-watchBuffer || c.Key != "" {
		t.Fatalf("after its buffer, the first watcher got %+v, want only Missed %d", c, n-watchBuffer)
	}
	if c, _ := first(); c.Missed != 0 || c.Key != keys[n] {
		t.Fatalf("after the gap, the first watcher got %+v, want the record %s", c, keys[n])
	}
	drain(second)
	if c, _ := second(); c.Missed != n+1-watchBuffer || c.Key != "" {
		t.Fatalf("after its buffer, the second watcher got %+v, want only Missed %d", c, n+1-watchBuffer)
	}

	g := <-reader
	// It stopped once its records and the word of its gaps made up every
	// change: they came once each, in order.
	if !slices.IsSorted(g.keys) || len(slices.Compact(slices.Clone(g.keys))) != len(g.keys) {
		t.Fatalf("the reading watcher got its %d records out of order, or some twice", len(g.keys))
	}
	t.Logf("the reading watcher got %d records and the word that it missed %d", len(g.keys), g.missed)
}

// TestWatchEndsWithItsContext: a watch whose context ends is dropped by
// the replica, whether or not its sequence was ever iterated, so that a
// caller that gives up on a watch before reading it leaves nothing behind.
func TestWatchEndsWithItsContext(t *testing.T) {
	r := newReplica(t, Settings{Name: "notes"})
	w := newWriter(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	never := r.Watch(ctx) // never iterated
	live := r.Watch(t.Context())
	cancel()
	insert(t, r, seal(t, w, "notes", "k", time.Now().UnixNano(), []byte("v")))
	r.watch.mu.Lock()
	n := len(r.watch.subs)
	r.watch.mu.Unlock()
	if n != 1 {
		t.Fatalf("after one watch's context ended and a record entered, the replica holds %d watchers, want 1", n)
	}
	for c := range never {
		t.Fatalf("the ended watch yielded %+v", c)
	}
	for c := range live {
		if c.Key != "k" || string(c.Data) == "" {
			t.Fatalf("the live watch yielded %+v, want the record k with its envelope", c)
		}
		if _, err := r.Verify(c.Data); err != nil {
			t.Fatalf("the change's Data is not the record's envelope: %v", err)
		}
		break
	}
}
