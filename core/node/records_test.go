package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
)

// TestRecordFromEveryNode: a record put on one node of ten is got from
// every other one.
func TestRecordFromEveryNode(t *testing.T) {
	nodes := startNetwork(t, 10, nil)
	ctx := testContext(t)
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
			case !bytes.Equal(got.Envelope.Value, []byte("hello")) || got.Envelope.Schema != "text" || got.Envelope.Version != 1:
				errs[i] = fmt.Errorf("got %+v", got.Envelope)
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
	_, err := nodes[1].GetRecord(testContext(t), envelope.Key(nodes[0].ID(), "nothing"))
	if !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}
