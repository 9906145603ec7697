package node

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core"
)

// maxMultihashSize is the longest multihash kad-dht peers accept as a
// provider key.
const maxMultihashSize = 80

// KeyCID returns the CID a provider key stands for. Provider keys are CIDs,
// as IPFS nodes use them: a key that parses as a CID is that CID, and any
// other key is turned into a CIDv1 (raw codec, sha2-256) of its bytes. The
// DHT files providers under the CID's multihash, so CIDs of one multihash
// are one key. A CID whose multihash is longer than the 80 bytes DHT peers
// accept is refused.
func KeyCID(key string) (cid.Cid, error) {
	if key == "" {
		return cid.Undef, core.Errorf(core.ErrInvalidKey, "a provider key may not be empty")
	}
	if c, err := cid.Decode(key); err == nil {
		if size := len(c.Hash()); size > maxMultihashSize {
			return cid.Undef, core.Errorf(core.ErrInvalidKey, "CID %s has a multihash of %d bytes, and DHT peers accept at most %d; use a CID of a hash such as sha2-256, or a key that is not a CID", key, size, maxMultihashSize)
		}
		return c, nil
	}
	mh, err := multihash.Sum([]byte(key), multihash.SHA2_256, -1)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, mh), nil
}

// ProvideResult says where a provider record went.
type ProvideResult struct {
	// CID is the key as provided (see KeyCID).
	CID cid.Cid
	// Peers is how many of the peers closest to the key the node found
	// and announced itself to.
	Peers int
	// Sent is how many of them the announcement reached.
	Sent int
}

// StartProviding records in the node's store that it provides key, and
// announces it to the peers closest to the key. The node re-announces its
// provider records every records.republish_interval, so they do not expire
// (after 48 hours) while it runs. With no peers known the record is only
// stored locally, and Peers is 0.
func (n *Node) StartProviding(ctx context.Context, key string) (_ ProvideResult, err error) {
	ctx, span := startSpan(ctx, "node provide", key)
	defer endSpan(span, &err)
	c, err := KeyCID(key)
	if err != nil {
		return ProvideResult{}, err
	}
	d, ctx, release, err := n.use(ctx)
	if err != nil {
		return ProvideResult{}, err
	}
	defer release()
	res := ProvideResult{CID: c}
	mh := c.Hash()
	if err := n.providers.Add(ctx, mh, n.id); err != nil {
		return res, fmt.Errorf("storing the provider record of %s: %w", c, err)
	}
	n.publish(ProviderAdded{At: now(), Key: cid.NewCidV1(cid.Raw, mh), Provider: n.id, Local: true})
	peers, err := d.GetClosestPeers(ctx, string(mh))
	if errors.Is(err, kb.ErrLookupFailure) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("%s is provided locally, but finding the peers to announce it to failed: %w", c, err)
	}
	res.Peers = len(peers)
	self := peer.AddrInfo{ID: n.id, Addrs: d.FilteredAddrs()}
	var sent atomic.Int64
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, putTimeout)
			defer cancel()
			if n.messenger.PutProviderAddrs(ctx, p, mh, self) == nil {
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	res.Sent = int(sent.Load())
	return res, ctx.Err()
}

// StopProviding removes the node's provider record for key and stops
// re-announcing it. Peers that stored the announcement keep it until it
// expires. The error wraps core.ErrNotFound when the node did not provide
// key.
func (n *Node) StopProviding(ctx context.Context, key string) (_ cid.Cid, err error) {
	ctx, span := startSpan(ctx, "node unprovide", key)
	defer endSpan(span, &err)
	c, err := KeyCID(key)
	if err != nil {
		return cid.Undef, err
	}
	mh := c.Hash()
	provs, err := n.providers.Providers(ctx, mh)
	if err != nil {
		return c, err
	}
	if !slices.ContainsFunc(provs, func(p core.Provider) bool { return p.ID == n.id }) {
		return c, core.Errorf(core.ErrNotFound, "this node does not provide %s", c)
	}
	return c, n.providers.Remove(ctx, mh, n.id)
}

// FindProviders looks for the providers of key: in the node's store, then
// on the network. It stops after limit providers, or, when limit is 0, when
// the lookup has asked the peers closest to the key.
func (n *Node) FindProviders(ctx context.Context, key string, limit int) (_ cid.Cid, _ []peer.AddrInfo, err error) {
	ctx, span := startSpan(ctx, "node find providers", key)
	defer endSpan(span, &err)
	c, err := KeyCID(key)
	if err != nil {
		return cid.Undef, nil, err
	}
	if limit < 0 {
		return c, nil, core.Errorf(core.ErrInvalidKey, "limit %d is negative", limit)
	}
	d, ctx, release, err := n.use(ctx)
	if err != nil {
		return c, nil, err
	}
	defer release()
	// kad-dht reads the local provider records first but only logs a
	// failure to, so a failing store would look like no providers at all.
	if _, err := n.providers.Providers(ctx, c.Hash()); err != nil {
		return c, nil, fmt.Errorf("cannot read the provider records of %s in the node's store: %w", c, err)
	}
	var out []peer.AddrInfo
	for ai := range d.FindProvidersAsync(ctx, c, limit) {
		out = append(out, ai)
	}
	return c, out, ctx.Err()
}

// ProvidedKeys yields the keys the node provides, as CIDv1s of their
// multihashes.
func (n *Node) ProvidedKeys(ctx context.Context) iter.Seq2[cid.Cid, error] {
	return func(yield func(cid.Cid, error) bool) {
		for mh, err := range n.providers.ProvidedBy(ctx, n.id) {
			if err != nil {
				yield(cid.Undef, err)
				return
			}
			if _, err := multihash.Cast(mh); err != nil {
				continue // not a key this node could have provided
			}
			if !yield(cid.NewCidV1(cid.Raw, mh), nil) {
				return
			}
		}
	}
}
