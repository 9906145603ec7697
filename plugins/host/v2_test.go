package host_test

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// TestProtocolNegotiated checks that the host speaks protocol version 2 to
// a plugin built with the SDK, and version 1 to a plugin that serves only
// version 1.
func TestProtocolNegotiated(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		want int
	}{{testplugins.Pebble, 2}, {testplugins.PebbleV1, 1}} {
		t.Run(filepath.Base(tc.pkg), func(t *testing.T) {
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

// TestPebbleV1Plugin runs the conformance suite through a plugin that
// serves only protocol version 1.
func TestPebbleV1Plugin(t *testing.T) {
	sdktest.RunURL(t, pluginURL(t, testplugins.PebbleV1, url.Values{"path": {filepath.Join(t.TempDir(), "unused")}}))
}

// TestPartialCommitCaught checks that a plugin whose answer to a group of
// writes says it applied only part of it is caught: writes queued before
// the answer arrives fail the next Sync, a batch commit's failure fails the
// next write, and both errors name the plugin and the counts.
func TestPartialCommitCaught(t *testing.T) {
	ctx := t.Context()
	d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
	b, err := d.Open(ctx, mustParse(t, pluginURL(t, testplugins.Partial, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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

	bt, err := b.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := bt.Put(ctx, ds.NewKey(fmt.Sprintf("/b/%d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := bt.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	// A read waits for the answer to the commit, which fails the next
	// write.
	if _, err := b.Get(ctx, ds.NewKey("/b/0")); err != nil {
		t.Fatalf("Get of the half the plugin applied: %v", err)
	}
	check("Put", b.Put(ctx, ds.NewKey("/after"), []byte("v")))
	check("Sync", b.Sync(ctx, ds.NewKey("/")))
}
