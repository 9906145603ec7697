package pebblestore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/tmpfs"
)

// closeSoon closes b, failing the test when Close fails or takes long.
func closeSoon(t *testing.T, b core.Backend) {
	t.Helper()
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
}

// TestFullDisk: writing until the disk is full fails the store instead of
// ending the process; it says the disk is full, and refuses later calls.
func TestFullDisk(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) { testFullDisk(t, sync) })
	}
}

func testFullDisk(t *testing.T, sync bool) {
	dir := tmpfs.Mount(t, "4m")
	ctx := t.Context()
	b, err := Open(ctx, &Options{Path: filepath.Join(dir, "db"), Sync: sync})
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 1024)
	for i := 0; i < 50_000 && err == nil; i++ {
		err = b.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%06d", i)), value)
	}
	if !errors.Is(err, core.ErrFailed) || !strings.Contains(err.Error(), "is full") || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("writing 50 MB to a 4 MB disk ended with %v; want core.ErrFailed saying the disk is full and what to do", err)
	}
	t.Log(err)
	if st := b.(core.StateReporter).State(); st.State != core.StateFailed {
		t.Errorf("the store is %v, want failed", st.State)
	}
	if err := b.Put(ctx, ds.NewKey("/later"), value); !errors.Is(err, core.ErrFailed) {
		t.Errorf("a later put: %v, want core.ErrFailed", err)
	}
	if _, err := b.Get(ctx, ds.NewKey("/k/000000")); !errors.Is(err, core.ErrFailed) {
		t.Errorf("a later get: %v, want core.ErrFailed", err)
	}
	closeSoon(t, b)
}

// TestCorruptBlock: a read that meets a corrupt table block fails the
// store, saying so, instead of ending the process.
func TestCorruptBlock(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "db")
	e, err := openEngine(&Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 100)
	for i := range 2000 {
		if err := e.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%06d", i)), value); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Datastore.DB.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(path, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("the flush wrote no table")
	}
	for _, f := range tables {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 64; i < 96; i++ { // inside the first data block
			data[i] ^= 0xff
		}
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	b, err := Open(ctx, &Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000 && err == nil; i++ {
		_, err = b.Get(ctx, ds.NewKey(fmt.Sprintf("/k/%06d", i)))
	}
	if !errors.Is(err, core.ErrFailed) || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("reading a store with a corrupt block ended with %v; want core.ErrFailed saying the data is corrupt and what to do", err)
	}
	t.Log(err)
	if st := b.(core.StateReporter).State(); st.State != core.StateFailed {
		t.Errorf("the store is %v, want failed", st.State)
	}
	if err := b.Put(ctx, ds.NewKey("/later"), value); !errors.Is(err, core.ErrFailed) {
		t.Errorf("a later put: %v, want core.ErrFailed", err)
	}
	closeSoon(t, b)
}
