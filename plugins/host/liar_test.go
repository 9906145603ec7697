package host_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
	"github.com/netabase/netabase/plugins/wire"
)

// TestLyingPlugin checks that what no correct store answers — more query
// entries than the limit, entries out of the asked order or twice, a
// negative size, a value over the limit — is an error naming the plugin,
// never handed on, and that a plugin's error message of megabytes reaches
// the caller cut short.
func TestLyingPlugin(t *testing.T) { versions(t, wire.ProtocolV1, testLyingPlugin) }

func testLyingPlugin(t *testing.T, _ int) {
	q := dsq.Query{Prefix: "/q"}
	byKey := dsq.Query{Prefix: "/q", Orders: []dsq.Order{dsq.OrderByKey{}}}
	byKeyDesc := dsq.Query{Prefix: "/q", Orders: []dsq.Order{dsq.OrderByKeyDescending{}}, KeysOnly: true}
	byValue := dsq.Query{Prefix: "/q", Orders: []dsq.Order{dsq.OrderByValue{}}}
	for _, tc := range []struct {
		lie  string
		op   func(context.Context, core.Backend) error
		want string
	}{
		{"extra", query(dsq.Query{Prefix: "/q", Limit: 2}), "more entries than the query's limit of 2"},
		{"extra", query(dsq.Query{Prefix: "/q", Limit: 1, Offset: 1, KeysOnly: true}), "more entries than the query's limit of 1"},
		{"order", query(byKey), "out of the order"},
		{"order", query(byKeyDesc), "out of the order"},
		{"order", query(byValue), "out of the order"},
		{"dup", query(byKey), "twice"},
		{"dup", query(q), "twice"},
		{"outside", query(q), "outside the query's prefix"},
		{"outside", query(byKey), "outside the query's prefix"},
		{"badkey", query(q), "which is not a key"},
		{"badkey", query(dsq.Query{Prefix: "/q", KeysOnly: true}), "which is not a key"},
		{"size", query(dsq.Query{Prefix: "/q", KeysOnly: true, ReturnsSizes: true}), "a size of -7 bytes"},
		{"big", query(q), "a value of 8388609 bytes"},
		{"big", get, "a value of 8388609 bytes"},
		{"longerror", get, "bytes cut"},
		{"order", seek(core.SeekQuery{Prefix: "/q", Start: "/q/b"}), "out of the order"},
		{"order", seek(core.SeekQuery{Prefix: "/q", Start: "/q/c", Descending: true}), "out of the order"},
	} {
		t.Run(tc.lie, func(t *testing.T) {
			d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
			b, err := core.OpenURL(t.Context(), d, mustParse(t, pluginURL(t, testplugins.Liar, url.Values{"lie": {tc.lie}})))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := t.Context()
			for _, k := range []string{"/q/a", "/q/b", "/q/c", "/qq", "/r/x"} {
				if err := b.Put(ctx, ds.NewKey(k), []byte("value of "+k)); err != nil {
					t.Fatal(err)
				}
			}
			err = tc.op(ctx, b)
			if err == nil {
				t.Fatal("the lie was handed on; want an error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "liar") {
				t.Errorf("the error does not name the plugin and say %q: %.300v", tc.want, err)
			}
			if tc.lie != "longerror" && !errors.Is(err, core.ErrRejected) {
				t.Errorf("the error does not match core.ErrRejected: %v", err)
			}
			if len(err.Error()) > 8<<10 {
				t.Errorf("the error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func query(q dsq.Query) func(context.Context, core.Backend) error {
	return func(ctx context.Context, b core.Backend) error {
		res, err := b.Query(ctx, q)
		if err != nil {
			return err
		}
		defer res.Close()
		_, err = res.Rest()
		return err
	}
}

// seek runs q, a query that starts at a key, which travels as such to a
// plugin speaking protocol version 2.
func seek(q core.SeekQuery) func(context.Context, core.Backend) error {
	return func(ctx context.Context, b core.Backend) error {
		res, err := core.QueryFrom(ctx, b, q)
		if err != nil {
			return err
		}
		defer res.Close()
		_, err = res.Rest()
		return err
	}
}

func get(ctx context.Context, b core.Backend) error {
	_, err := b.Get(ctx, ds.NewKey("/q/a"))
	return err
}

// putThenSync puts k and syncs. Under protocol version 2, on a store
// without sync=true, the Put returns once queued, and the Sync waits for
// the plugin to apply it.
func putThenSync(b core.Backend, k ds.Key) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := b.Put(ctx, k, []byte("v")); err != nil {
			return err
		}
		return b.Sync(ctx, k)
	}
}

// commitThenSync commits a batch that puts k and syncs, as putThenSync.
func commitThenSync(b core.Backend, k ds.Key) func(context.Context) error {
	return func(ctx context.Context) error {
		bt, err := b.Batch(ctx)
		if err == nil {
			err = bt.Put(ctx, k, []byte("v"))
		}
		if err == nil {
			err = bt.Commit(ctx)
		}
		if err != nil {
			return err
		}
		return b.Sync(ctx, k)
	}
}

// openHanging opens a store of the liar plugin that never answers, with
// cfg plus a test logger, and returns it and the driver's state events.
func openHanging(t *testing.T, cfg host.Config) (core.Backend, <-chan host.Event) {
	t.Helper()
	events := make(chan host.Event, 64)
	cfg.Logger = sdktest.TestLogger(t)
	b, err := core.OpenURL(t.Context(), host.NewWatchedDriver(cfg, func(e host.Event) { events <- e }), mustParse(t, pluginURL(t, testplugins.Liar, url.Values{"lie": {"hang"}})))
	if err != nil {
		t.Fatal(err)
	}
	return b, events
}

// TestHangingPlugin checks that every call to a plugin that never answers
// ends with its caller's context, and that Close stops the plugin within
// its bound.
func TestHangingPlugin(t *testing.T) {
	defer host.SetCloseTimeout(time.Second)()
	b, events := openHanging(t, host.Config{})
	defer b.Close()
	pid := await(t, events, host.Up).PID
	k := ds.NewKey("/k")
	for name, op := range map[string]func(context.Context) error{
		"Get":    func(ctx context.Context) error { _, err := b.Get(ctx, k); return err },
		"Has":    func(ctx context.Context) error { _, err := b.Has(ctx, k); return err },
		"Put":    putThenSync(b, k),
		"Sync":   func(ctx context.Context) error { return b.Sync(ctx, k) },
		"Query":  func(ctx context.Context) error { return query(dsq.Query{})(ctx, b) },
		"Commit": commitThenSync(b, k),
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		start := time.Now()
		err := op(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
			t.Errorf("%s on a hanging plugin returned after %v with %v; want the context's deadline", name, time.Since(start), err)
		}
	}
	start := time.Now()
	err := b.Close()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Close of a hanging plugin took %v", took)
	}
	if err == nil || !strings.Contains(err.Error(), "did not close its store within 1s") {
		t.Errorf("Close of a hanging plugin: %v; want an error saying it did not close its store in time", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the hanging plugin (pid %d) still runs after Close: %v", pid, err)
	}
}

// TestUnansweredCall checks that a call made with a context without a
// deadline, as library code makes them, on a plugin that never answers
// fails once the host's call timeout has passed, saying so; that the host
// kills and restarts the plugin; and that Close, which waits for calls in
// flight, returns afterwards.
func TestUnansweredCall(t *testing.T) {
	defer host.SetCloseTimeout(time.Second)()
	const limit = 300 * time.Millisecond
	b, events := openHanging(t, host.Config{CallTimeout: limit, Backoff: host.Backoff{Initial: 10 * time.Millisecond}})
	defer b.Close()
	k := ds.NewKey("/k")
	lost := false
	for _, tc := range []struct {
		name string
		op   func(context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := b.Get(ctx, k); return err }},
		{"Put", putThenSync(b, k)},
		{"Query", func(ctx context.Context) error { return query(dsq.Query{})(ctx, b) }},
		{"Commit", commitThenSync(b, k)},
	} {
		pid := await(t, events, host.Up).PID
		if lost {
			// The process killed during a Sync held a write acknowledged
			// before it: the first Sync after the restart says so.
			if err := b.Sync(context.Background(), k); !errors.Is(err, host.ErrWritesLost) {
				t.Errorf("the first Sync after the plugin was killed holding a write: %v; want an error matching ErrWritesLost", err)
			}
		}
		// Under version 1 a write is acknowledged only by its answer, which
		// never comes: nothing is lost, and a Sync would call the plugin.
		lost = (tc.name == "Put" || tc.name == "Commit") && testplugins.MaxProtocol() != 1
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- tc.op(context.Background()) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			// Free the call, so that the test ends.
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-done
			t.Fatalf("%s with context.Background() on a hanging plugin did not return within 30s", tc.name)
		}
		if took := time.Since(start); took < limit {
			t.Errorf("%s failed after %v, before the call timeout of %v: %v", tc.name, took, limit, err)
		}
		if !errors.Is(err, host.ErrNoAnswer) || !errors.Is(err, host.ErrPluginDown) || !strings.Contains(err.Error(), "did not answer") {
			t.Errorf("%s on a hanging plugin: %v; want an error matching ErrNoAnswer and ErrPluginDown", tc.name, err)
		}
		down := await(t, events, host.Down)
		if down.PID != pid || !errors.Is(down.Err, host.ErrNoAnswer) {
			t.Errorf("after %s timed out, the host reports %+v; want pid %d down for not answering", tc.name, down, pid)
		}
	}
	up := await(t, events, host.Up)
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(up.PID, syscall.SIGKILL)
		<-closed
		t.Fatal("Close did not return within 30s")
	}
	if err := syscall.Kill(up.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the hanging plugin (pid %d) still runs after Close: %v", up.PID, err)
	}
}

// TestQueryWhenPluginDies kills a plugin while a query waits for its
// answer: the query ends with an error saying the plugin is down, not as if
// its caller had cancelled it.
func TestQueryWhenPluginDies(t *testing.T) {
	b, events := openHanging(t, host.Config{})
	defer b.Close()
	pid := await(t, events, host.Up).PID
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := b.Query(ctx, dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r, ok := res.NextSync()
	if !ok || !errors.Is(r.Error, host.ErrPluginDown) {
		t.Fatalf("a query whose plugin was killed gave %v, %v; want an error matching ErrPluginDown", r, ok)
	}
}

// TestPluginExitsAtOpen checks that a plugin that exits when asked to open
// its store is refused with an error that says so, with its last words.
func TestPluginExitsAtOpen(t *testing.T) {
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	_, err := core.OpenURL(t.Context(), d, mustParse(t, pluginURL(t, testplugins.Liar, url.Values{"lie": {"exit"}})))
	if err == nil {
		t.Fatal("a plugin that exits at Open was opened")
	}
	for _, w := range []string{"could not open its store", "exit status 3", "giving up at Open"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error does not say %q: %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "restarting") {
		t.Errorf("the error says the plugin is restarting; nothing restarts a plugin that fails to open: %v", err)
	}
}

// TestPluginHangsAtOpen checks that a plugin whose Open never returns, when
// the caller's context has no deadline, is stopped once the host's call
// timeout has passed, with an error that says so.
func TestPluginHangsAtOpen(t *testing.T) {
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t), CallTimeout: 2 * time.Second})
	u := mustParse(t, pluginURL(t, testplugins.Liar, url.Values{"lie": {"hangopen"}}))
	start := time.Now()
	opened := make(chan error, 1)
	go func() {
		b, err := d.Open(context.Background(), u)
		if err == nil {
			b.Close()
		}
		opened <- err
	}()
	var err error
	select {
	case err = <-opened:
	case <-time.After(time.Minute):
		t.Fatal("Open of a plugin that hangs there did not return within a minute; the call timeout is 2s")
	}
	took := time.Since(start)
	if err == nil {
		t.Fatal("a plugin whose Open hangs was opened")
	}
	if !errors.Is(err, host.ErrNoAnswer) || !strings.Contains(err.Error(), "did not answer Open within 2s") {
		t.Errorf("Open of a plugin that hangs there: %v; want an error matching ErrNoAnswer saying it did not answer Open within 2s", err)
	}
	if took > 30*time.Second {
		t.Errorf("Open of a plugin that hangs there took %v; the call timeout is 2s", took)
	}
	m := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("the error does not name the process: %v", err)
	}
	pid, _ := strconv.Atoi(m[1])
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the plugin (pid %d) still runs after its Open was refused: %v", pid, err)
	}
}

// TestPluginName checks that a plugin declaring a name too long, or one
// with control characters that would garble logs and terminals, is
// refused.
func TestPluginName(t *testing.T) {
	for _, name := range []string{strings.Repeat("n", 65), "li\x1b[2Jar", "li\nar"} {
		t.Setenv("LIARPLUGIN_NAME", name)
		d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
		_, err := d.Describe(t.Context(), mustParse(t, pluginURL(t, testplugins.Liar, url.Values{"lie": {"none"}})))
		if err == nil || !strings.Contains(err.Error(), "longer than 64 bytes or holds characters that are not printable") {
			t.Errorf("a plugin named %q: %v; want a refusal saying why", name, err)
		}
	}
}
