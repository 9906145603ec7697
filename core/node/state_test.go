package node_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// reportingEngine is an in-memory engine that reports the states the test
// sets.
type reportingEngine struct {
	ds.Batching
	core.StateFeed
}

// passingSuite admits every backend without running anything.
type passingSuite struct{}

type passed struct{}

func (passed) Passed() bool   { return true }
func (passed) String() string { return "passed" }

func (passingSuite) Version() string { return "test" }
func (passingSuite) Check(context.Context, core.Driver, *url.URL, core.Info) (core.Verdict, error) {
	return passed{}, nil
}

// TestBackendStates: the states a backend reports reach the node's events,
// its Info and its log, once per change.
func TestBackendStates(t *testing.T) {
	ctx := nodetest.Context(t)
	engine := &reportingEngine{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	var reg core.Registry
	if err := reg.Register(core.NewDriver(core.About{Scheme: "reporting", Name: "reporting", Version: "v1"},
		func(*url.URL) (struct{}, error) { return struct{}{}, nil },
		func(context.Context, struct{}) (ds.Batching, error) { return engine, nil })); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := nodetest.Config(t)
	cfg.Storage, cfg.Registry, cfg.Suite, cfg.CertDir = "reporting://", &reg, passingSuite{}, ""
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n := nodetest.Start(t, cfg)
	sub := n.Subscribe(0)
	defer sub.Close()

	engine.Set(core.BackendState{State: core.StateDown, Detail: "process 42 died"})
	nextEvent(t, ctx, sub, func(e node.BackendState) bool {
		return e.Backend == "reporting" && e.State == node.BackendDown && e.Detail == "process 42 died"
	})
	engine.Set(core.BackendState{State: core.StateUp})
	nextEvent(t, ctx, sub, func(e node.BackendState) bool { return e.State == node.BackendUp })
	engine.Fail("the disk is full; free space")
	failed := nextEvent(t, ctx, sub, func(e node.BackendState) bool { return e.State == node.BackendFailed })
	if failed.Detail != "the disk is full; free space" {
		t.Errorf("failed event %+v", failed)
	}
	if st := n.Info().BackendState; st.State != core.StateFailed {
		t.Errorf("Info says the backend is %v, want failed", st.State)
	}
	if err := n.Datastore().Put(ctx, ds.NewKey("/app/x"), []byte("v")); !errors.Is(err, core.ErrFailed) {
		t.Errorf("a put on a failed backend: %v, want core.ErrFailed", err)
	}
	// A repeated report is no change: logged once.
	engine.Fail("the disk is full; free space")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(logs.String(), "has failed"); c != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", c, logs.String())
	}
}
