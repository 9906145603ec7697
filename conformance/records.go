package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core"
)

func caseRecordStore(e *env) error {
	ctx := e.ctx
	rs := core.NewRecordStore(e.store)
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	recs := []core.Record{
		{Key: "/netabase/owner/name", Value: []byte("one"), Received: when},
		{Key: "/netabase/owner/name/deeper", Value: []byte("two"), Received: when},
		{Key: "/pk/" + string([]byte{0, 1, 0xff, '/', 'x'}), Value: randomBytes(5, 300), Received: when},
		{Key: "/netabasex/owner/name", Value: []byte("three"), Received: when},
		{Key: "/providers/odd", Value: []byte("a value record in the providers namespace"), Received: when},
	}
	for _, r := range recs {
		if err := rs.Put(ctx, r); err != nil {
			return fmt.Errorf("RecordStore.Put(%q): %w", r.Key, err)
		}
	}
	for _, r := range recs {
		got, err := rs.Get(ctx, r.Key)
		if err != nil {
			return fmt.Errorf("RecordStore.Get(%q): %w", r.Key, err)
		}
		if got.Key != r.Key || !bytes.Equal(got.Value, r.Value) || !got.Received.Equal(r.Received) {
			return fmt.Errorf("RecordStore.Get(%q) = {%q, %s, %s}, want {%q, %s, %s}",
				r.Key, got.Key, describe(got.Value), got.Received, r.Key, describe(r.Value), r.Received)
		}
	}
	if _, err := rs.Get(ctx, "/netabase/owner/missing"); !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("RecordStore.Get of a missing record: error %v, want one matching ErrNotFound", err)
	}
	var inNS []string
	for r, err := range rs.Records(ctx, "netabase") {
		if err != nil {
			return fmt.Errorf("RecordStore.Records: %w", err)
		}
		inNS = append(inNS, r.Key)
	}
	slices.Sort(inNS)
	if want := []string{recs[0].Key, recs[1].Key}; !slices.Equal(inNS, want) {
		return fmt.Errorf("RecordStore.Records(netabase) = %q, want %q", inNS, want)
	}
	n := 0
	for _, err := range rs.Records(ctx, "") {
		if err != nil {
			return fmt.Errorf("RecordStore.Records: %w", err)
		}
		n++
	}
	if n != len(recs) {
		return fmt.Errorf("RecordStore.Records of every namespace yielded %d records, want %d", n, len(recs))
	}
	if err := rs.Remove(ctx, recs[0].Key); err != nil {
		return fmt.Errorf("RecordStore.Remove: %w", err)
	}
	if _, err := rs.Get(ctx, recs[0].Key); !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("RecordStore.Get after Remove: error %v, want one matching ErrNotFound", err)
	}
	if _, err := rs.Get(ctx, recs[1].Key); err != nil {
		return fmt.Errorf("removing %q removed its neighbour %q: %w", recs[0].Key, recs[1].Key, err)
	}
	if err := rs.Put(ctx, core.Record{Key: "no-namespace", Value: []byte("v")}); !errors.Is(err, core.ErrInvalidKey) {
		return fmt.Errorf("RecordStore.Put of a key without a namespace: error %v, want one matching ErrInvalidKey", err)
	}
	return nil
}

// testPeer returns a valid peer ID made from seed.
func testPeer(seed string) (peer.ID, error) {
	mh, err := multihash.Sum([]byte(seed), multihash.SHA2_256, -1)
	if err != nil {
		return "", err
	}
	return peer.IDFromBytes(mh)
}

func caseProviderStore(e *env) error {
	ctx := e.ctx
	const validity = time.Hour
	ps := core.NewProviderStore(e.store, validity)
	var peers []peer.ID
	for _, s := range []string{"alice", "bob", "carol"} {
		p, err := testPeer(s)
		if err != nil {
			return err
		}
		peers = append(peers, p)
	}
	keyA, keyB := []byte("content-a"), []byte{0, 1, 2, 0xff}
	for _, p := range peers {
		if err := ps.Add(ctx, keyA, p); err != nil {
			return fmt.Errorf("ProviderStore.Add: %w", err)
		}
	}
	if err := ps.Add(ctx, keyB, peers[0]); err != nil {
		return fmt.Errorf("ProviderStore.Add: %w", err)
	}
	old := time.Now().Add(-2 * validity)
	if err := ps.AddAt(ctx, []byte("content-old"), peers[0], old); err != nil {
		return fmt.Errorf("ProviderStore.AddAt: %w", err)
	}
	got, err := ps.Providers(ctx, keyA)
	if err != nil {
		return fmt.Errorf("ProviderStore.Providers: %w", err)
	}
	want := slices.Clone(peers)
	slices.Sort(want)
	if ids := providerIDs(got); !slices.Equal(ids, want) {
		return fmt.Errorf("ProviderStore.Providers = %v, want %v", ids, want)
	}
	if err := ps.Remove(ctx, keyA, peers[1]); err != nil {
		return fmt.Errorf("ProviderStore.Remove: %w", err)
	}
	got, err = ps.Providers(ctx, keyA)
	if err != nil {
		return fmt.Errorf("ProviderStore.Providers: %w", err)
	}
	if ids := providerIDs(got); slices.Contains(ids, peers[1]) || len(ids) != 2 {
		return fmt.Errorf("ProviderStore.Providers after removing %s = %v", peers[1], ids)
	}
	got, err = ps.Providers(ctx, []byte("content-old"))
	if err != nil || len(got) != 0 {
		return fmt.Errorf("ProviderStore.Providers of an expired record = %v, %v; want none", providerIDs(got), err)
	}
	var provided [][]byte
	for k, err := range ps.ProvidedBy(ctx, peers[0]) {
		if err != nil {
			return fmt.Errorf("ProviderStore.ProvidedBy: %w", err)
		}
		provided = append(provided, k)
	}
	slices.SortFunc(provided, bytes.Compare)
	if wantKeys := [][]byte{keyB, keyA}; !slices.EqualFunc(provided, wantKeys, bytes.Equal) {
		return fmt.Errorf("ProviderStore.ProvidedBy = %q, want %q (expired records excluded)", provided, wantKeys)
	}
	n, err := ps.CollectExpired(ctx)
	if err != nil {
		return fmt.Errorf("ProviderStore.CollectExpired: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("ProviderStore.CollectExpired deleted %d records, want the 1 expired one", n)
	}
	left, err := collect(ctx, e.store, dsq.Query{Prefix: "/providers", KeysOnly: true})
	if err != nil {
		return err
	}
	if len(left) != 3 {
		return fmt.Errorf("after CollectExpired the store holds %d provider records, want the 3 live ones: %s", len(left), shortList(keysOf(left)))
	}
	if got, err := ps.Providers(ctx, keyB); err != nil || len(got) != 1 {
		return fmt.Errorf("ProviderStore.Providers after CollectExpired = %v, %v; want 1 live provider", providerIDs(got), err)
	}
	return nil
}

func providerIDs(ps []core.Provider) []peer.ID {
	out := make([]peer.ID, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}
