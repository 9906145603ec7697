package sdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	pb "github.com/netabase/netabase/plugins/proto/storagev1"
)

func memOpen(context.Context, *Options) (ds.Batching, error) {
	return dssync.MutexWrap(ds.NewMapDatastore()), nil
}

func testConfig() Config {
	return Config{
		Name: "mem", Version: "v1", Capabilities: Capabilities{Persistent: true},
		Options: []Option{
			{Name: "path", Kind: Path, Required: true, Doc: "where it lives"},
			{Name: "cache", Kind: Size, Default: "1MiB", Doc: "cache size"},
		},
		Open: memOpen,
	}
}

func TestByHand(t *testing.T) {
	var out bytes.Buffer
	code := serve(testConfig(), false, []string{"/opt/bin/netabase-mem"}, &out)
	if code != 1 {
		t.Errorf("started by hand, the plugin exits %d; want 1", code)
	}
	for _, want := range []string{
		"mem v1 is a netabase storage plugin (protocols 1, 2 and 3)",
		"netabase plugin pin /opt/bin/netabase-mem path=<path>",
		"Capabilities: persistent",
		"path (path, required): where it lives",
		"cache (size, default 1MiB): cache size",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the usage does not say %q:\n%s", want, out.String())
		}
	}
}

func TestMisconfigured(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Name = "" }, "Config.Name is empty"},
		{func(c *Config) { c.Open = nil }, "Config.Open is nil"},
		{func(c *Config) { c.Options[1].Name = "sha256" }, "host's own URL parameter"},
		{func(c *Config) { c.Options[1].Name = "path" }, "declared twice"},
		{func(c *Config) { c.Options[1].Kind = 0 }, "has no kind"},
		{func(c *Config) { c.MaxProtocol = 4 }, "Config.MaxProtocol is 4"},
		{func(c *Config) { c.Options[1].Default = "lots" }, "the default of option \"cache\""},
		{func(c *Config) { c.Options[0].Default = "/x" }, "required and has a default"},
		{func(c *Config) { c.Options[0].Name = "a b" }, "use a plain word"},
	} {
		cfg := testConfig()
		cfg.Options = append([]Option(nil), cfg.Options...)
		tc.change(&cfg)
		var out bytes.Buffer
		if code := serve(cfg, true, nil, &out); code != 2 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("a config with %q: exit %d, %q", tc.want, code, out.String())
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	open := func(cfg Config, opts ...*pb.Option) *pb.Error {
		specs, err := cfg.specs()
		if err != nil {
			t.Fatal(err)
		}
		s := newServer(cfg, specs, io.Discard)
		resp, err := s.Open(ctx, &pb.OpenRequest{Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetError() == nil {
			if err := s.closeStore(); err != nil {
				t.Fatal(err)
			}
		}
		return resp.GetError()
	}
	path := &pb.Option{Name: "path", Value: "/x"}
	var seen *Options
	cfg := testConfig()
	cfg.Open = func(ctx context.Context, o *Options) (ds.Batching, error) {
		seen = o
		return memOpen(ctx, o)
	}
	if e := open(cfg, path); e != nil {
		t.Fatalf("Open: %v", e)
	}
	if seen.Path("path") != "/x" || seen.Size("cache") != 1<<20 || !seen.Has("cache") || len(seen.misuse) > 0 {
		t.Errorf("Open saw path %q, cache %d", seen.Path("path"), seen.Size("cache"))
	}
	if e := open(cfg, path, &pb.Option{Name: "colour", Value: "blue"}); e.GetCode() != pb.ErrorCode_ERROR_CODE_INVALID_OPTIONS {
		t.Errorf("Open with an unknown option: %v", e)
	}
	cfg.Open = func(ctx context.Context, o *Options) (ds.Batching, error) {
		o.Bool("path")
		return memOpen(ctx, o)
	}
	if e := open(cfg, path); e.GetCode() != pb.ErrorCode_ERROR_CODE_INTERNAL || !strings.Contains(e.GetMessage(), `reads option "path" as bool, but declares it as path`) {
		t.Errorf("a plugin reading an option with the wrong kind: %v", e)
	}
	cfg.Open = func(context.Context, *Options) (ds.Batching, error) { return nil, errors.New("disk on fire") }
	if e := open(cfg, path); !strings.Contains(e.GetMessage(), "disk on fire") {
		t.Errorf("a failing Open: %v", e)
	}
}

func TestNotOpen(t *testing.T) {
	cfg := testConfig()
	specs, _ := cfg.specs()
	s := newServer(cfg, specs, io.Discard)
	resp, err := s.Get(context.Background(), &pb.GetRequest{Key: []byte("/a")})
	if err != nil || resp.GetError().GetCode() != pb.ErrorCode_ERROR_CODE_NOT_OPEN {
		t.Errorf("Get before Open: %v, %v", resp, err)
	}
	if _, err := s.Close(context.Background(), &pb.CloseRequest{}); err != nil {
		t.Fatal(err)
	}
	resp, _ = s.Get(context.Background(), &pb.GetRequest{Key: []byte("/a")})
	if resp.GetError().GetCode() != pb.ErrorCode_ERROR_CODE_CLOSED {
		t.Errorf("Get after Close: %v", resp)
	}
}
