package host_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
	"github.com/netabase/netabase/plugins/testplugins"
)

// TestLyingPlugin checks that a plugin's error message of megabytes
// reaches the caller cut short.
func TestLyingPlugin(t *testing.T) {
	for _, tc := range []struct {
		lie  string
		op   func(context.Context, core.Backend) error
		want string
	}{
		{"longerror", get, "bytes cut"},
	} {
		t.Run(tc.lie, func(t *testing.T) {
			d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
			b, err := core.OpenURL(t.Context(), d, mustParse(t, pluginURL(t, testplugins.Liar, url.Values{"lie": {tc.lie}})))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := t.Context()
			for _, k := range []string{"/q/a", "/q/b", "/q/c"} {
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
			if len(err.Error()) > 8<<10 {
				t.Errorf("the error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func get(ctx context.Context, b core.Backend) error {
	_, err := b.Get(ctx, ds.NewKey("/q/a"))
	return err
}
