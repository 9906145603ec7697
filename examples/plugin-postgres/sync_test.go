package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/internal/testkit/pgtest"
)

// TestSyncSurvivesServerCrash: on a store without sync=true, writes commit
// asynchronously; a Sync makes every one before it durable, so a SIGKILL of
// the server right after the Sync loses none. With sync=true every
// acknowledged write is durable without a Sync. The server's WAL writer
// waits 10s between flushes here, so that without the plugin's flushes the
// last writes would be lost (with Sync doing nothing, 24 of the 300 were).
func TestSyncSurvivesServerCrash(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) { testSyncCrash(t, sync) })
	}
}

func testSyncCrash(t *testing.T, sync bool) {
	srv := pgtest.Start(t, "wal_writer_delay=10s", "wal_writer_flush_after=0")
	ctx := t.Context()
	open := func() *store {
		c, err := newSettings(srv.DSN(""), "public", "synced", sync, 10*time.Second, 4)
		if err != nil {
			t.Fatal(err)
		}
		s, err := openStore(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	const n = 300
	for i := range n {
		k := datastore.NewKey(fmt.Sprintf("/k/%04d", i))
		if i%2 == 0 {
			if err := s.Put(ctx, k, []byte(k.String())); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, _ := s.Batch(ctx)
		_ = b.Put(ctx, k, []byte(k.String()))
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !sync {
		if err := s.Sync(ctx, datastore.NewKey("/")); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	s.Close()
	srv.Restart()

	s = open()
	defer s.Close()
	lost := 0
	for i := range n {
		k := datastore.NewKey(fmt.Sprintf("/k/%04d", i))
		if v, err := s.Get(ctx, k); err != nil || string(v) != k.String() {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes (sync=%v, then a Sync when false) were lost when the server was killed", lost, n, sync)
	}
}
