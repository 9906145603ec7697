package host_test

import (
	"errors"
	"net/url"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// TestKilledPluginRestarts SIGKILLs a plugin process holding a synced write
// and an unsynced one: while it is down a call fails fast saying so, the
// host restarts it, the first Sync then says writes may have been lost,
// and the synced write is there. (Whether synced writes survive a crash is
// the conformance suite's durable case; see TestDurableCheckedByCrash.)
func TestKilledPluginRestarts(t *testing.T) {
	const (
		restartAfter = time.Second     // the host's wait before restarting
		failFast     = 5 * time.Second // a call while down fails within it
	)
	events := make(chan host.Event, 256)
	d := host.NewWatchedDriver(host.Config{
		Logger:  sdktest.TestLogger(t),
		Backoff: host.Backoff{Initial: restartAfter, Max: restartAfter},
	}, func(e host.Event) { events <- e })
	u := mustParse(t, pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "db")}}))
	b, err := core.OpenURL(t.Context(), d, u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	first := await(t, events, host.Up)
	ctx := t.Context()
	if err := b.Put(ctx, ds.NewKey("/synced"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, ds.NewKey("/unsynced"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Under protocol version 2 the put returns once queued; a read waits
	// for the plugin's answer to it (without a Sync), so after this
	// nothing is in flight.
	if ok, err := b.Has(ctx, ds.NewKey("/unsynced")); err != nil || !ok {
		t.Fatalf("Has(/unsynced) after its put: %v, %v", ok, err)
	}

	before := d.CallStats()
	if before.Calls == 0 || before.Restarts != 0 || before.InFlight != 0 {
		t.Errorf("the driver's call figures before the kill: %+v; want calls, no restart, none in flight", before)
	}
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if down := await(t, events, host.Down); down.PID != first.PID || !errors.Is(down.Err, host.ErrPluginDown) {
		t.Fatalf("after SIGKILL of pid %d the host reported %+v", first.PID, down)
	}
	start := time.Now()
	err = b.Put(ctx, ds.NewKey("/down"), []byte("v"))
	if took := time.Since(start); !errors.Is(err, host.ErrPluginDown) || took > failFast {
		t.Fatalf("a Put while the plugin is down returned %v after %s; want ErrPluginDown within %s", err, took, failFast)
	}

	again := await(t, events, host.Up)
	if again.PID == first.PID || again.PID == 0 {
		t.Fatalf("the host reports the plugin up as pid %d after pid %d died", again.PID, first.PID)
	}
	if after := d.CallStats(); after.Restarts != 1 {
		t.Errorf("the driver counts %d restarts after one", after.Restarts)
	}
	// The first call after the restart, whatever it is, learns of the
	// loss; a Sync reports it until one has.
	if _, err := b.Has(ctx, ds.NewKey("/unsynced")); !errors.Is(err, host.ErrWritesLost) {
		t.Fatalf("the first call after the restart returned %v; want ErrWritesLost for the unsynced write", err)
	}
	if err := b.Sync(ctx, ds.NewKey("/")); !errors.Is(err, host.ErrWritesLost) {
		t.Fatalf("the first Sync after the restart returned %v; want ErrWritesLost for the unsynced write", err)
	}
	if v, err := b.Get(ctx, ds.NewKey("/synced")); err != nil || string(v) != "v" {
		t.Fatalf("after the restart Get(/synced) = %q, %v", v, err)
	}
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatalf("a Sync after ErrWritesLost: %v", err)
	}
}
