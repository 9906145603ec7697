package host_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
	"github.com/netabase/netabase/plugins/wire"
)

// TestProtocolNegotiated checks that the host speaks the newest protocol
// version a plugin built with the SDK serves (version 3, or the one
// testplugins.ProtocolEnv caps it at), and version 1 to a plugin built to
// serve only version 1.
func TestProtocolNegotiated(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		max  string // testplugins.ProtocolEnv
		want int
	}{{testplugins.Pebble, "", 3}, {testplugins.Pebble, "2", 2}, {testplugins.Pebble, "1", 1}, {testplugins.PebbleV1, "", 1}} {
		t.Run(fmt.Sprintf("%s%s", filepath.Base(tc.pkg), tc.max), func(t *testing.T) {
			t.Setenv(testplugins.ProtocolEnv, tc.max)
			d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
			b, err := d.Open(t.Context(), mustParse(t, pluginURL(t, tc.pkg, url.Values{"path": {filepath.Join(t.TempDir(), "db")}})))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			got, err := host.Protocol(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("the host speaks protocol %d to %s, want %d", got, filepath.Base(tc.pkg), tc.want)
			}
		})
	}
}

// pipelined runs f under each protocol version that pipelines writes,
// newest first, in a subtest named after it (v3, v2): the test plugins
// serve no newer version than the one testplugins.ProtocolEnv names.
func pipelined(t *testing.T, f func(t *testing.T, version int)) {
	versions(t, wire.ProtocolV2, f)
}

// versions runs f under each protocol version from oldest on, newest
// first, as pipelined does.
func versions(t *testing.T, oldest int, f func(t *testing.T, version int)) {
	for _, v := range slices.Backward(wire.Versions) {
		if v < oldest {
			continue
		}
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Setenv(testplugins.ProtocolEnv, strconv.Itoa(v))
			f(t, v)
		})
	}
}

// TestPebbleV1Plugin runs the conformance suite through a plugin that
// serves only protocol version 1.
func TestPebbleV1Plugin(t *testing.T) {
	sdktest.RunURL(t, pluginURL(t, testplugins.PebbleV1, url.Values{"path": {filepath.Join(t.TempDir(), "unused")}}))
}

// TestPartialCommitCaught checks that a plugin whose answer to a group of
// writes says it applied only part of it is caught: writes queued before
// the answer arrives fail the next Sync, and a read, which waits for the
// answers to earlier writes, fails with it too; each error names the
// plugin and the counts.
func TestPartialCommitCaught(t *testing.T) { pipelined(t, testPartialCommitCaught) }

func testPartialCommitCaught(t *testing.T, version int) {
	ctx := t.Context()
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	b, err := d.Open(ctx, mustParse(t, pluginURL(t, testplugins.Partial, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v, err := host.Protocol(b); err != nil || v != version {
		t.Fatalf("protocol %d, %v; want %d", v, err, version)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "partial") || !strings.Contains(err.Error(), "having applied") {
			t.Errorf("%s after a partial commit: %v; want an error matching core.ErrRejected naming the plugin and the counts", what, err)
		}
	}
	for i := range 4 {
		if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%d", i)), []byte("v")); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	check("Sync", b.Sync(ctx, ds.NewKey("/")))
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Errorf("a second Sync, with nothing written since the failure was reported: %v", err)
	}

	commit := func(prefix string) {
		t.Helper()
		bt, err := b.Batch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			if err := bt.Put(ctx, ds.NewKey(fmt.Sprintf("/%s/%d", prefix, i)), []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		if err := bt.Commit(ctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	// A read waits for the answer to the commit, and reports its failure
	// rather than answer without the writes it was told were done.
	commit("b")
	_, err = b.Get(ctx, ds.NewKey("/b/0"))
	check("Get", err)
	check("Sync", b.Sync(ctx, ds.NewKey("/")))
	// Each failure is reported to the read after it.
	commit("c")
	if ok, err := b.Has(ctx, ds.NewKey("/c/0")); err == nil {
		t.Errorf("Has after a partial commit: %v, nil; want the commit's failure", ok)
	}
	commit("d")
	if _, err := b.Has(ctx, ds.NewKey("/d/0")); err == nil {
		t.Error("Has after a second partial commit: no error")
	}
	check("Sync", b.Sync(ctx, ds.NewKey("/")))
}

// TestCrashMidStream kills a protocol version 2 plugin, on a store without
// sync=true, while writes it has not answered are in flight: a later call
// fails saying the plugin is down, the first Sync after the restart says
// writes may have been lost, and every write a successful Sync covered is
// there, byte for byte.
func TestCrashMidStream(t *testing.T) { pipelined(t, testCrashMidStream) }

func testCrashMidStream(t *testing.T, version int) {
	ctx := t.Context()
	events := make(chan host.Event, 64)
	d := host.NewWatchedDriver(host.Config{Logger: sdktest.TestLogger(t), Backoff: host.Backoff{Initial: 10 * time.Millisecond}},
		func(e host.Event) { events <- e })
	b, err := d.Open(ctx, mustParse(t, pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "db")}})))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	first := await(t, events, host.Up)
	if v, err := host.Protocol(b); err != nil || v != version {
		t.Fatalf("protocol %d, %v; want %d", v, err, version)
	}
	key := func(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/c/%06d", i)) }
	val := func(i int) []byte { return []byte(fmt.Sprintf("value %d %s", i, strings.Repeat("x", i%300))) }
	const synced = 2000
	for i := range synced {
		if err := b.Put(ctx, key(i), val(i)); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// Writes after the Sync, then the kill while they travel; writing on
	// until a write fails.
	i := synced
	for ; i < synced+500; i++ {
		if err := b.Put(ctx, key(i), val(i)); err != nil {
			t.Fatalf("Put %d before the kill: %v", i, err)
		}
	}
	if err := host.KillPlugin(b); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for ; ; i++ {
		err := b.Put(ctx, key(i), val(i))
		if err != nil {
			// Down, or (when the restart was quicker than the writes that
			// noticed) the first call after the restart, which reports
			// the loss, as the package doc says.
			if !errors.Is(err, host.ErrPluginDown) && !errors.Is(err, host.ErrWritesLost) {
				t.Errorf("a write after the plugin was killed: %v; want an error matching ErrPluginDown or ErrWritesLost", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes went on succeeding for a minute after the plugin was killed")
		}
	}
	down := await(t, events, host.Down)
	if down.PID != first.PID {
		t.Errorf("down event for pid %d, want %d", down.PID, first.PID)
	}
	await(t, events, host.Up)
	if err := b.Sync(ctx, ds.NewKey("/")); !errors.Is(err, host.ErrWritesLost) {
		t.Errorf("the first Sync after the crash: %v; want an error matching ErrWritesLost", err)
	}
	for j := range synced {
		got, err := b.Get(ctx, key(j))
		if err != nil || !bytes.Equal(got, val(j)) {
			t.Fatalf("Get of synced write %d after the crash: %q, %v; want %q", j, got, err, val(j))
		}
	}
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Errorf("a Sync after the loss was reported: %v", err)
	}
}

// TestSyncWritesCrash checks that on a store opened with sync=true a write
// returns only once the plugin has made it durable: every acknowledged
// write survives a kill of the plugin, and the first Sync after the
// restart does not report writes lost.
func TestSyncWritesCrash(t *testing.T) { pipelined(t, testSyncWritesCrash) }

func testSyncWritesCrash(t *testing.T, version int) {
	ctx := t.Context()
	events := make(chan host.Event, 64)
	d := host.NewWatchedDriver(host.Config{Logger: sdktest.TestLogger(t), Backoff: host.Backoff{Initial: 10 * time.Millisecond}},
		func(e host.Event) { events <- e })
	b, err := d.Open(ctx, mustParse(t, pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "db")}, "sync": {"true"}})))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	await(t, events, host.Up)
	if v, err := host.Protocol(b); err != nil || v != version {
		t.Fatalf("protocol %d, %v; want %d", v, err, version)
	}
	const n = 100
	key := func(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/s/%04d", i)) }
	for i := range n {
		if i%10 == 0 {
			bt, err := b.Batch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := bt.Put(ctx, key(i), []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			if err := bt.Commit(ctx); err != nil {
				t.Fatalf("Commit %d: %v", i, err)
			}
			continue
		}
		if err := b.Put(ctx, key(i), []byte{byte(i)}); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if err := host.KillPlugin(b); err != nil {
		t.Fatal(err)
	}
	await(t, events, host.Down)
	await(t, events, host.Up)
	if err := b.Sync(ctx, ds.NewKey("/")); err != nil {
		t.Errorf("the first Sync after the crash, with every write acknowledged durable: %v", err)
	}
	for i := range n {
		if got, err := b.Get(ctx, key(i)); err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Errorf("with sync=true, acknowledged write %d did not survive a crash: %q, %v", i, got, err)
		}
	}
}

// TestReadYourWritesAcrossGoroutines checks, under protocol version 2 on a
// store without sync=true (where a write returns once queued), that a write
// one goroutine saw acknowledged is what another goroutine reads next, by
// Get, Has, a query and a seek, while other goroutines write and Sync; and
// that Close, with no Sync after the last writes, applies them all before
// the store closes: reopened, the store holds the last value of every key.
func TestReadYourWritesAcrossGoroutines(t *testing.T) {
	pipelined(t, testReadYourWritesAcrossGoroutines)
}

func testReadYourWritesAcrossGoroutines(t *testing.T, version int) {
	ctx := t.Context()
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	u := mustParse(t, pluginURL(t, testplugins.Pebble, url.Values{"path": {filepath.Join(t.TempDir(), "db")}}))
	b, err := d.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := host.Protocol(b); err != nil || v != version {
		t.Fatalf("protocol %d, %v; want %d", v, err, version)
	}
	type write struct {
		key ds.Key
		val []byte // nil: deleted
	}
	const writers, perWriter = 4, 300
	handed := make(chan write, writers)
	errs := make(chan error, 2*writers+1)
	var wg, readers sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				k := ds.NewKey(fmt.Sprintf("/ryw/%d/%04d", w, i))
				// An older value first, so that a read of a stale
				// one is caught.
				if err := b.Put(ctx, k, []byte("old")); err != nil {
					errs <- err
					return
				}
				wr := write{key: k, val: []byte(fmt.Sprintf("new %d %d", w, i))}
				var err error
				switch i % 3 {
				case 0:
					err = b.Put(ctx, k, wr.val)
				case 1:
					bt, berr := b.Batch(ctx)
					if berr != nil {
						errs <- berr
						return
					}
					_ = bt.Put(ctx, k, wr.val)
					err = bt.Commit(ctx)
				case 2:
					wr.val = nil
					err = b.Delete(ctx, k)
				}
				if err != nil {
					errs <- err
					return
				}
				handed <- wr
			}
		}()
	}
	for range writers {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for wr := range handed {
				got, err := b.Get(ctx, wr.key)
				switch {
				case wr.val == nil && !errors.Is(err, ds.ErrNotFound):
					errs <- fmt.Errorf("Get of %s after its acknowledged Delete: %q, %v", wr.key, got, err)
					return
				case wr.val != nil && (err != nil || !bytes.Equal(got, wr.val)):
					errs <- fmt.Errorf("Get of %s after its acknowledged write of %q: %q, %v", wr.key, wr.val, got, err)
					return
				}
				if has, err := b.Has(ctx, wr.key); err != nil || has != (wr.val != nil) {
					errs <- fmt.Errorf("Has of %s: %v, %v; want %v", wr.key, has, err, wr.val != nil)
					return
				}
				res, err := core.QueryFrom(ctx, b, core.SeekQuery{Prefix: wr.key.Parent().String(), Start: wr.key.String(), Limit: 1})
				if err != nil {
					errs <- err
					return
				}
				rest, err := res.Rest()
				if err != nil {
					errs <- err
					return
				}
				if found := len(rest) == 1 && rest[0].Key == wr.key.String(); found != (wr.val != nil) || (found && !bytes.Equal(rest[0].Value, wr.val)) {
					errs <- fmt.Errorf("a seek at %s after its acknowledged write of %q: %v", wr.key, wr.val, rest)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := b.Sync(ctx, ds.NewKey("/ryw")); err != nil {
				errs <- fmt.Errorf("Sync: %w", err)
				return
			}
		}
	}()
	wg.Wait()
	close(handed)
	readers.Wait()
	close(stop)
	<-synced
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The last writes, then Close with no Sync.
	for i := range 500 {
		if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/last/%04d", i)), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b, err = d.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 500 {
		if got, err := b.Get(ctx, ds.NewKey(fmt.Sprintf("/last/%04d", i))); err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("write %d before Close, reopened: %q, %v", i, got, err)
		}
	}
	for w := range writers {
		for i := range perWriter {
			k := ds.NewKey(fmt.Sprintf("/ryw/%d/%04d", w, i))
			got, err := b.Get(ctx, k)
			if i%3 == 2 {
				if !errors.Is(err, ds.ErrNotFound) {
					t.Fatalf("%s, deleted, reopened: %q, %v", k, got, err)
				}
			} else if want := []byte(fmt.Sprintf("new %d %d", w, i)); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s reopened: %q, %v; want %q", k, got, err, want)
			}
		}
	}
}
