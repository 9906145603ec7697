package node_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

func TestKeyCID(t *testing.T) {
	mh, _ := multihash.Sum([]byte("hello"), multihash.SHA2_256, -1)
	raw := cid.NewCidV1(cid.Raw, mh)
	v0 := cid.NewCidV0(mh)
	for _, tc := range []struct {
		key  string
		want cid.Cid
	}{
		{"hello", raw},
		{raw.String(), raw},
		{v0.String(), v0},
	} {
		got, err := node.KeyCID(tc.key)
		if err != nil || !got.Equals(tc.want) {
			t.Errorf("KeyCID(%q) = %v, %v; want %v", tc.key, got, err, tc.want)
		}
	}
	if _, err := node.KeyCID(""); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("KeyCID(\"\"): %v", err)
	}
	// An identity multihash carries its data, so its CID can be longer
	// than DHT peers take.
	long, _ := multihash.Sum(make([]byte, 100), multihash.IDENTITY, -1)
	if _, err := node.KeyCID(cid.NewCidV1(cid.Raw, long).String()); !errors.Is(err, core.ErrInvalidKey) || !strings.Contains(err.Error(), "at most 80") {
		t.Errorf("KeyCID of a CID with a 102-byte multihash: %v; want an ErrInvalidKey naming the limit", err)
	}
}

// TestProvidersAllFound: providers announced by several nodes of ten are
// all found from every node.
func TestProvidersAllFound(t *testing.T) {
	nodes := startNetwork(t, 10, nil)
	ctx := nodetest.Context(t)
	providers := []int{1, 4, 6, 9}
	var want []peer.ID
	for _, i := range providers {
		res, err := nodes[i].StartProviding(ctx, "the-dataset")
		if err != nil {
			t.Fatal(err)
		}
		if res.Peers == 0 || res.Sent != res.Peers {
			t.Errorf("node %d announced to %d of %d peers", i, res.Sent, res.Peers)
		}
		want = append(want, nodes[i].ID())
	}
	slices.Sort(want)
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() {
			c, found, err := n.FindProviders(ctx, "the-dataset", 0)
			if err != nil {
				errs[i] = err
				return
			}
			var got []peer.ID
			for _, ai := range found {
				got = append(got, ai.ID)
				if ai.ID != n.ID() && len(ai.Addrs) == 0 {
					errs[i] = fmt.Errorf("provider %s comes without addresses", ai.ID)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				errs[i] = fmt.Errorf("found providers %v of %s, want %v", got, c, want)
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

func TestStopProviding(t *testing.T) {
	a := nodetest.Start(t, nodetest.Config(t)) // alone: lookups see only its store
	ctx := nodetest.Context(t)
	res, err := a.StartProviding(ctx, "k")
	if err != nil || res.Peers != 0 {
		t.Fatalf("providing with no peers: %+v, %v", res, err)
	}
	c, _ := node.KeyCID("k")
	if keys := providedKeys(t, a); len(keys) != 1 || keys[0] != c.Hash().B58String() {
		t.Fatalf("provided keys %v", keys)
	}
	if _, found, _ := a.FindProviders(ctx, "k", 0); len(found) != 1 || found[0].ID != a.ID() {
		t.Fatalf("the node finds providers %v, want itself", found)
	}
	got, err := a.StopProviding(ctx, "k")
	if err != nil || !got.Equals(c) {
		t.Fatalf("StopProviding: %v, %v", got, err)
	}
	if keys := providedKeys(t, a); len(keys) != 0 {
		t.Errorf("still provides %v", keys)
	}
	// The DHT sees the removal at once: no cache keeps the old answer.
	if _, found, _ := a.FindProviders(ctx, "k", 0); len(found) != 0 {
		t.Errorf("after StopProviding the node still finds providers %v", found)
	}
	if _, err := a.StopProviding(ctx, "k"); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "does not provide") {
		t.Errorf("stopping twice: %v", err)
	}
}

func providedKeys(t *testing.T, n *node.Node) []string {
	t.Helper()
	var out []string
	for c, err := range n.ProvidedKeys(nodetest.Context(t)) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Hash().B58String())
	}
	return out
}

// TestFindProvidersReportsStoreFailure: when the node's store cannot be
// read, FindProviders says so instead of finding no providers.
func TestFindProvidersReportsStoreFailure(t *testing.T) {
	n := nodetest.Start(t, nodetest.Config(t))
	ctx := nodetest.Context(t)
	if _, err := n.StartProviding(ctx, "dataset"); err != nil {
		t.Fatal(err)
	}
	if err := n.Datastore().Close(); err != nil {
		t.Fatal(err)
	}
	_, found, err := n.FindProviders(ctx, "dataset", 0)
	if err == nil || !strings.Contains(err.Error(), "cannot read the provider records") {
		t.Errorf("FindProviders on a failed store = %v, %v; want the failure", found, err)
	}
}
