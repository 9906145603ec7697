package node_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// loggedEngine is an in-memory engine that logs each completed Put and
// each Sync, so a test can tell whether a write was synced before the node
// acknowledged it.
type loggedEngine struct {
	ds.Batching

	mu     sync.Mutex
	events []string // "put <key>", "sync start", "sync end"
}

func (e *loggedEngine) add(ev string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

func (e *loggedEngine) Put(ctx context.Context, k ds.Key, v []byte) error {
	err := e.Batching.Put(ctx, k, v)
	e.add("put " + k.String())
	return err
}

func (e *loggedEngine) Sync(ctx context.Context, prefix ds.Key) error {
	e.add("sync start")
	err := e.Batching.Sync(ctx, prefix)
	e.add("sync end")
	return err
}

func (e *loggedEngine) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// passSuite admits every backend without testing it.
type passSuite struct{}

type passVerdict struct{}

func (passVerdict) Passed() bool   { return true }
func (passVerdict) String() string { return "passed (not checked)" }

func (passSuite) Version() string { return "pass" }
func (passSuite) Check(context.Context, core.Driver, *url.URL, core.Info) (core.Verdict, error) {
	return passVerdict{}, nil
}

// loggedRegistry has one driver, logged://, whose engine is e, declaring
// caps.
func loggedRegistry(t *testing.T, e *loggedEngine, caps core.Capabilities) *core.Registry {
	t.Helper()
	r := &core.Registry{}
	d := core.NewDriver(core.About{Scheme: "logged", Name: "logged", Version: "v1", Form: "logged://", Capabilities: caps},
		func(*url.URL) (struct{}, error) { return struct{}{}, nil },
		func(context.Context, struct{}) (ds.Batching, error) { return e, nil })
	if err := r.Register(d); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRecordFromPeerIsSyncedBeforeAccepted: a record another node puts is
// on disk (the engine synced after the write) before the node tells the
// sender it stored it, when the backend is persistent and sync_writes is
// on; otherwise the node never syncs.
func TestRecordFromPeerIsSyncedBeforeAccepted(t *testing.T) {
	for _, tc := range []struct {
		name       string
		persistent bool
		syncWrites bool
		wantSync   bool
	}{
		{"persistent", true, true, true},
		{"sync_writes off", true, false, false},
		{"not persistent", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &loggedEngine{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
			reg := loggedRegistry(t, e, core.Capabilities{Persistent: tc.persistent})
			nodes := startNetwork(t, 2, func(i int, c *node.Config) {
				if i == 1 {
					c.Storage, c.Registry, c.Suite, c.CertDir = "logged://", reg, passSuite{}, t.TempDir()
					c.NoSyncWrites = !tc.syncWrites
				}
			})
			res, err := nodes[0].Publish(nodetest.Context(t), "durable", "text", 1, []byte("v"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 1 {
				t.Fatalf("%d of %d peers accepted the record, want the one", res.Accepted, res.Peers)
			}
			// The peer has acknowledged; what it logged by now is what
			// happened before it did.
			events := e.snapshot()
			put := slices.IndexFunc(events, func(ev string) bool { return strings.HasPrefix(ev, "put /dht/") })
			if put < 0 {
				t.Fatalf("the peer's engine never stored the record: %q", events)
			}
			start := slices.Index(events[put:], "sync start")
			synced := start >= 0 && slices.Contains(events[put+start:], "sync end")
			switch {
			case tc.wantSync && !synced:
				t.Errorf("the peer accepted the record before a Sync after its write had ended: %q", events)
			case !tc.wantSync && slices.Contains(events, "sync start"):
				t.Errorf("the engine was synced: %q", events)
			}
		})
	}
}
