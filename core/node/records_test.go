package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// TestRecordFromEveryNode: a record put on one node of ten is got from
// every other one.
func TestRecordFromEveryNode(t *testing.T) {
	nodes := startNetwork(t, 10, nil)
	ctx := nodetest.Context(t)
	res, err := nodes[3].Publish(ctx, "greeting", "text", 1, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if want := envelope.Key(nodes[3].ID(), "greeting"); res.Key != want {
		t.Fatalf("key %q, want %q", res.Key, want)
	}
	if res.Peers == 0 || res.Accepted != res.Peers {
		t.Errorf("put reached %d peers, %d accepted; want every peer found to accept", res.Peers, res.Accepted)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() {
			got, err := n.GetRecord(ctx, res.Key)
			switch {
			case err != nil:
				errs[i] = err
			case !bytes.Equal(got.Value, []byte("hello")) || got.Envelope.Schema != "text" || got.Envelope.Version != 1:
				errs[i] = fmt.Errorf("got %q, %+v", got.Value, got.Envelope)
			case !signedBy(got.Record, res.Key, "hello"):
				errs[i] = fmt.Errorf("got the signed record %q", got.Record)
			case i == 3 && got.Source != node.SourceLocal:
				errs[i] = fmt.Errorf("the publisher got its own record from %s", got.Source)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
}

func TestGetMissingRecord(t *testing.T) {
	nodes := startNetwork(t, 3, nil)
	_, err := nodes[1].GetRecord(nodetest.Context(t), envelope.Key(nodes[0].ID(), "nothing"))
	if !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

// TestDamagedLocalRecord: a local copy whose stored bytes are damaged does
// not stop the node: GetRecord fetches the record from a peer and stores
// it afresh, and RemoveRecord removes a damaged copy. With no copy
// elsewhere, GetRecord says the local one is damaged.
func TestDamagedLocalRecord(t *testing.T) {
	nodes := startNetwork(t, 2, nil)
	ctx := nodetest.Context(t)
	a := nodes[0]
	damage := func(key string) {
		t.Helper()
		dsKey := ds.NewKey(node.DHTNamespace).Child(core.RecordKey(key))
		if err := a.Datastore().Put(ctx, dsKey, []byte{0x0a, 0xff}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Records().Get(ctx, key); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("the damaged copy reads as %v", err)
		}
	}

	shared, err := a.Publish(ctx, "shared", "text", 1, []byte("kept by the peer"))
	if err != nil {
		t.Fatal(err)
	}
	if shared.Accepted != 1 {
		t.Fatalf("the peer did not store the record: %+v", shared)
	}
	damage(shared.Key)
	got, err := a.GetRecord(ctx, shared.Key)
	if err != nil || string(got.Value) != "kept by the peer" || got.Source != node.SourceNetwork {
		t.Fatalf("GetRecord over a damaged copy = %+v, %v; want the peer's copy", got, err)
	}
	if r, err := a.Records().Get(ctx, shared.Key); err != nil || !bytes.Equal(r.Value, got.Record) {
		t.Errorf("the local copy was not repaired: %v", err)
	}

	damage(shared.Key)
	if err := a.RemoveRecord(ctx, shared.Key); err != nil {
		t.Errorf("RemoveRecord of a damaged copy: %v", err)
	}
	if _, err := a.Records().Get(ctx, shared.Key); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("after RemoveRecord the copy reads as %v", err)
	}

	// A key only a has; the peer never got it.
	key := envelope.Key(a.ID(), "alone")
	if _, err := a.Records().Get(ctx, key); !errors.Is(err, core.ErrNotFound) {
		t.Fatal(err)
	}
	damage(key)
	if _, err := a.GetRecord(ctx, key); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("GetRecord of a damaged copy found nowhere else = %v; want an error saying it is damaged", err)
	}
}

// signedBy reports whether record is the signed envelope of key holding
// value.
func signedBy(record []byte, key, value string) bool {
	env, err := envelope.Open(key, record)
	return err == nil && string(env.Value) == value
}
