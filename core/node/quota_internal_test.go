package node

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

func testPeer(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestQuotaCountsMatchTheStore: after writes, replacements and deletes, one
// by one and in batches, of value and provider records, the quota's counts
// are those a scan of the store finds.
func TestQuotaCountsMatchTheStore(t *testing.T) {
	ctx := t.Context()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	self, sender, owner, provider := testPeer(t), testPeer(t), testPeer(t), testPeer(t)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := newQuota(DefaultQuota(), self, discard)
	g := newGuard(store, q, nil)
	records := core.NewRecordStore(g)
	providers := core.NewProviderStore(g, time.Hour)

	key := func(i int) string { return envelope.Key(owner, fmt.Sprint("r", i)) }
	remote := withOrigin(ctx, originRemote)
	for i := range 5 {
		q.expect(key(i), sender)
		if err := records.Put(remote, core.Record{Key: key(i), Value: make([]byte, 10*i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A larger version from the sender, one the node writes, a delete.
	q.expect(key(1), sender)
	if err := records.Put(remote, core.Record{Key: key(1), Value: make([]byte, 500)}); err != nil {
		t.Fatal(err)
	}
	if err := records.Put(withOrigin(ctx, originLocal), core.Record{Key: key(2), Value: make([]byte, 7)}); err != nil {
		t.Fatal(err)
	}
	if err := records.Remove(ctx, key(3)); err != nil {
		t.Fatal(err)
	}
	// A batch that adds one record and removes another.
	if err := records.Write(ctx, []core.Record{{Key: key(9), Value: []byte("batched")}}, []string{key(4)}); err != nil {
		t.Fatal(err)
	}
	mh := func(i int) []byte { return []byte(fmt.Sprint("key-", i)) }
	for i := range 4 {
		if err := providers.Add(ctx, mh(i), provider); err != nil {
			t.Fatal(err)
		}
	}
	if err := providers.Add(ctx, mh(0), provider); err != nil { // a renewal
		t.Fatal(err)
	}
	if err := providers.AddAt(ctx, mh(5), provider, time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := providers.Add(ctx, mh(0), self); err != nil {
		t.Fatal(err)
	}
	if err := providers.Remove(ctx, mh(1), provider); err != nil {
		t.Fatal(err)
	}
	if n, err := providers.CollectExpired(ctx); err != nil || n != 1 {
		t.Fatalf("collected %d expired provider records, %v; want 1", n, err)
	}

	scanned := newQuota(DefaultQuota(), self, discard)
	if err := scanned.scan(ctx, store); err != nil {
		t.Fatal(err)
	}
	if q.values != scanned.values || !maps.Equal(q.owners, scanned.owners) {
		t.Errorf("values %+v by owner %v; a scan finds %+v by owner %v", q.values, q.owners, scanned.values, scanned.owners)
	}
	if q.providers != 3 || q.providers != scanned.providers || !maps.Equal(q.provOf, scanned.provOf) {
		t.Errorf("provider records %d by peer %v; a scan finds %d by peer %v, want 3 of other peers",
			q.providers, q.provOf, scanned.providers, scanned.provOf)
	}
	// The sender's records still stored: 0 and 1, not 2 (the node's now),
	// 3 or 4 (deleted).
	want := usage{records: 2}
	for _, i := range []int{0, 1} {
		b, err := store.Get(ctx, core.RecordKey(key(i)))
		if err != nil {
			t.Fatal(err)
		}
		want.bytes += int64(len(b))
	}
	if got := q.peers[sender]; got != want || len(q.sentBy) != 2 {
		t.Errorf("the sender has %+v (%d keys) stored, want %+v", got, len(q.sentBy), want)
	}
}
