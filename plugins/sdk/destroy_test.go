package sdk

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	"github.com/netabase/netabase/plugins/wire"
)

// TestDestroyScratchOnly: the SDK passes Destroy to the plugin only for a
// scratch namespace, never for a name that may hold live data, and a
// plugin with a namespace option must say how to destroy one.
func TestDestroyScratchOnly(t *testing.T) {
	var destroyed []string
	cfg := Config{
		Name: "ns", Version: "v1", Capabilities: Capabilities{Persistent: true},
		Options: []Option{{Name: "table", Kind: Namespace, Default: "live", Doc: "the table"}},
		Open:    memOpen,
		Destroy: func(_ context.Context, o *Options) error {
			destroyed = append(destroyed, o.Namespace("table"))
			return nil
		},
	}
	specs, err := cfg.specs()
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(cfg, specs, nil)
	for _, given := range [][]*pb.Option{nil, {{Name: "table", Value: "live"}}, {{Name: "table", Value: "netabase_scratch_xyz"}}} {
		if err := s.destroy(t.Context(), given); !errors.Is(err, core.ErrRejected) && !errors.Is(err, wire.ErrInvalidOptions) {
			t.Errorf("Destroy with %v: got %v, want a refusal", given, err)
		}
	}
	scratch := wire.ScratchNamespace()
	if err := s.destroy(t.Context(), []*pb.Option{{Name: "table", Value: scratch}}); err != nil {
		t.Errorf("Destroy of a scratch namespace: %v", err)
	}
	if len(destroyed) != 1 || destroyed[0] != scratch {
		t.Errorf("the plugin destroyed %q; want only %q", destroyed, scratch)
	}

	cfg.Destroy = nil
	if _, err := cfg.specs(); err == nil || !strings.Contains(err.Error(), "Config.Destroy") {
		t.Errorf("a namespace option without Destroy: got %v, want an error naming Config.Destroy", err)
	}
}
