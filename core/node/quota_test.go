package node_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// storeUsage counts the value records and provider records in n's backend
// under the DHT's namespace, and the value records' bytes.
func storeUsage(t *testing.T, ctx context.Context, n *node.Node) (records, bytes, providers int) {
	t.Helper()
	res, err := n.Datastore().Query(ctx, dsq.Query{Prefix: node.DHTNamespace})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		if strings.HasPrefix(e.Key, node.DHTNamespace+"/providers/") {
			providers++
			continue
		}
		records++
		bytes += len(e.Value)
	}
	return records, bytes, providers
}

// throwaway seals count records of a new owner, each holding size bytes.
func throwaway(t *testing.T, count, size int) (keys []string, values [][]byte) {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := peer.IDFromPrivateKey(priv)
	clock := envelope.NewClock()
	for i := range count {
		env, err := envelope.Seal(priv, fmt.Sprintf("junk-%d", i), "junk", 1, clock.Now(), bytes.Repeat([]byte{'x'}, size))
		if err != nil {
			t.Fatal(err)
		}
		b, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		keys, values = append(keys, envelope.Key(owner, fmt.Sprintf("junk-%d", i))), append(values, b)
	}
	return keys, values
}

// A stock kad-dht client sends a request again, once, when the first
// attempt fails, so a node counts two refusals for each write it refuses.
const attemptsPerRefusal = 2

// quotaConfig is a node with small limits, and no rate limits unless a
// test sets them.
func quotaConfig(t *testing.T) node.Config {
	cfg := nodetest.Config(t)
	cfg.Quota = &node.Quota{
		MaxRecords:          400,
		MaxBytes:            4 << 20,
		MaxRecordsPerPeer:   100,
		MaxBytesPerPeer:     1 << 20,
		MaxRecordsPerOwner:  3,
		MaxBytesPerOwner:    1 << 20,
		MaxProviders:        50,
		MaxProvidersPerPeer: 20,
		MaxProviderAddrs:    16,
	}
	return cfg
}

// TestQuotaFlood: stock kad-dht clients flood a node with thousands of
// records under throwaway owners, large records, records of namespaces it
// has no validator for, provider announcements of real and malformed keys
// and one with 5,000 addresses. The store stays within every limit, the
// refusals are counted, and the node's own records and a well-behaved
// peer's still go through.
func TestQuotaFlood(t *testing.T) {
	cfg := quotaConfig(t)
	target := nodetest.Start(t, cfg)
	good := nodetest.Start(t, nodetest.Config(t))
	ctx := nodetest.Context(t)
	connectDHT(t, ctx, good, target)

	const attackers, owners, perOwner = 3, 200, 5
	var accepted, attempts sync.Map // by attacker
	var wg sync.WaitGroup
	for a := range attackers {
		raw := newRawClient(t, "/netabase")
		wg.Go(func() {
			ok, sent := 0, 0
			put := func(key string, value []byte) {
				sent++
				if raw.putTo(ctx, target, key, value) == nil {
					ok++
				}
			}
			// Large records, each of its own owner: 2 fit the sender's MiB.
			for range 5 {
				keys, values := throwaway(t, 1, 400<<10)
				put(keys[0], values[0])
			}
			for range owners {
				keys, values := throwaway(t, perOwner, 100)
				for i := range keys {
					put(keys[i], values[i])
				}
			}
			accepted.Store(a, ok)
			attempts.Store(a, sent)
		})
	}
	wg.Wait()

	raw := newRawClient(t, "/netabase")
	// IPFS's namespaces, which a /netabase node does not take by default.
	_, pub, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPublicKey(pub)
	pk, _ := crypto.MarshalPublicKey(pub)
	if err := raw.putTo(ctx, target, "/pk/"+string(id), pk); err == nil {
		t.Error("a /pk record was accepted")
	}
	if err := raw.putTo(ctx, target, "/ipns/"+string(id), []byte("anything")); err == nil {
		t.Error("an /ipns record was accepted")
	}

	// Provider announcements: 200 real keys, 50 that are not multihashes,
	// one with 5,000 addresses. ADD_PROVIDER has no reply, so the counts
	// are read from the node.
	many := make([]ma.Multiaddr, 5000)
	for i := range many {
		many[i] = ma.StringCast(fmt.Sprintf("/ip4/1.2.%d.%d/tcp/4001", i/256, i%256))
	}
	self := peer.AddrInfo{ID: raw.h.ID(), Addrs: many}
	for i := range 250 {
		key := multihash.Multihash(fmt.Sprintf("not a multihash %d", i))
		if i < 200 {
			key, _ = multihash.Sum([]byte(fmt.Sprint("key ", i)), multihash.SHA2_256, -1)
		}
		// A refused announcement resets the stream, and the next may
		// be written to the dead one; what counts is what the node keeps.
		_ = raw.messenger.PutProviderAddrs(ctx, target.ID(), key, self)
	}
	// Other attackers announce too, up to the total.
	for a := range 3 {
		other := newRawClient(t, "/netabase")
		if err := other.h.Connect(ctx, addrInfo(target)); err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			key, _ := multihash.Sum([]byte(fmt.Sprint("other ", a, i)), multihash.SHA2_256, -1)
			_ = other.messenger.PutProviderAddrs(ctx, target.ID(), key, peer.AddrInfo{ID: other.h.ID(), Addrs: other.h.Addrs()})
		}
	}
	nodetest.Eventually(t, ctx, "the provider records stored or refused", func() bool {
		_, _, providers := storeUsage(t, ctx, target)
		return providers == cfg.Quota.MaxProviders
	})

	// The node's own records and a well-behaved peer's still go through.
	for i := range 10 {
		if _, err := target.Publish(ctx, fmt.Sprint("own-", i), "note", 1, []byte("mine")); err != nil {
			t.Fatalf("the node's own record %d: %v", i, err)
		}
	}
	for i := range 3 {
		res, err := good.Publish(ctx, fmt.Sprint("good-", i), "note", 1, []byte("hello"))
		if err != nil || res.Accepted != 1 {
			t.Fatalf("a well-behaved peer's record %d: %+v, %v", i, res, err)
		}
		if _, err := target.Records().Get(ctx, res.Key); err != nil {
			t.Fatalf("the well-behaved peer's record is not stored: %v", err)
		}
	}

	records, size, providers := storeUsage(t, ctx, target)
	refused := target.Refused()
	sent, ok := 0, 0
	for a := range attackers {
		s, _ := attempts.Load(a)
		o, _ := accepted.Load(a)
		sent, ok = sent+s.(int), ok+o.(int)
		if o.(int) > cfg.Quota.MaxRecordsPerPeer {
			t.Errorf("attacker %d stored %d records, past the %d per peer", a, o, cfg.Quota.MaxRecordsPerPeer)
		}
	}
	t.Logf("flood: %d PUT_VALUEs from %d peers, %d accepted; store %d records (limit %d, of which 13 are the node's and the good peer's), %d bytes (limit %d), %d provider records (limit %d); refused %v",
		sent, attackers, ok, records, cfg.Quota.MaxRecords, size, int(cfg.Quota.MaxBytes), providers, cfg.Quota.MaxProviders, refused)
	if records > cfg.Quota.MaxRecords || size > int(cfg.Quota.MaxBytes) || providers > cfg.Quota.MaxProviders {
		t.Errorf("the store is past its limits")
	}
	// Each attacker got 2 large records in, then 3 of each throwaway
	// owner's 5 small ones, up to its 100.
	if ok != attackers*(cfg.Quota.MaxRecordsPerPeer) {
		t.Errorf("%d records accepted from the attackers, want %d", ok, attackers*cfg.Quota.MaxRecordsPerPeer)
	}
	for _, reason := range []string{node.RefusedPeerBytes, node.RefusedOwnerRecords, node.RefusedPeerRecords, node.RefusedNamespace,
		node.RefusedProviderKey, node.RefusedPeerProviders, node.RefusedTotalProviders} {
		if refused[reason] == 0 {
			t.Errorf("no refusal counted for %s", reason)
		}
	}
	if refused[node.RefusedNamespace] != 2*attemptsPerRefusal {
		t.Errorf("%d namespace refusals, want %d (/pk and /ipns)", refused[node.RefusedNamespace], 2*attemptsPerRefusal)
	}
	if n := refused[node.RefusedOwnerRecords] + refused[node.RefusedPeerRecords] + refused[node.RefusedPeerBytes]; n != uint64((sent-ok)*attemptsPerRefusal) {
		t.Errorf("%d refusals of the attackers' records, want %d", n, (sent-ok)*attemptsPerRefusal)
	}
	if n := len(target.Host().Peerstore().Addrs(raw.h.ID())); n > cfg.Quota.MaxProviderAddrs+len(raw.h.Addrs()) {
		t.Errorf("the node keeps %d addresses of the provider that announced 5,000", n)
	}
}

// TestQuotaLargeRecords: large records stop at the sender's byte quota.
func TestQuotaLargeRecords(t *testing.T) {
	cfg := quotaConfig(t)
	target := nodetest.Start(t, cfg)
	ctx := nodetest.Context(t)
	raw := newRawClient(t, "/netabase")
	ok := 0
	for range 10 {
		keys, values := throwaway(t, 1, 300<<10)
		if raw.putTo(ctx, target, keys[0], values[0]) == nil {
			ok++
		}
	}
	_, size, _ := storeUsage(t, ctx, target)
	if ok != 3 || size > int(cfg.Quota.MaxBytesPerPeer) {
		t.Errorf("%d records of 300 KiB accepted, %d bytes stored; want 3, within %d", ok, size, int(cfg.Quota.MaxBytesPerPeer))
	}
	if target.Refused()[node.RefusedPeerBytes] != 7*attemptsPerRefusal {
		t.Errorf("refused %v, want %d for peer_bytes", target.Refused(), 7*attemptsPerRefusal)
	}
}

// TestQuotaTotal: past the total, peers' records are refused, the node's
// own are not.
func TestQuotaTotal(t *testing.T) {
	cfg := quotaConfig(t)
	cfg.Quota.MaxRecords = 20
	target := nodetest.Start(t, cfg)
	ctx := nodetest.Context(t)
	ok := 0
	for range 2 {
		raw := newRawClient(t, "/netabase")
		for range 5 {
			keys, values := throwaway(t, 3, 10)
			for i := range keys {
				if raw.putTo(ctx, target, keys[i], values[i]) == nil {
					ok++
				}
			}
		}
	}
	if ok != 20 || target.Refused()[node.RefusedTotalRecords] != 10*attemptsPerRefusal {
		t.Errorf("%d accepted, refused %v; want 20 accepted and 10 records refused for total_records", ok, target.Refused())
	}
	if _, err := target.Publish(ctx, "own", "note", 1, []byte("mine")); err != nil {
		t.Fatalf("the node's own record was refused: %v", err)
	}
	if records, _, _ := storeUsage(t, ctx, target); records != 21 {
		t.Errorf("%d records stored, want the 20 of the quota and the node's own", records)
	}
	if acc := target.Accepted(); acc.Records != 20 {
		t.Errorf("Accepted() = %+v, want the 20 records of the quota, not the node's own", acc)
	}
	if held := target.Held(); held.Records != 20 || held.Bytes == 0 {
		t.Errorf("Held() = %+v, want the 20 records stored for other peers", held)
	}
}

// syncBuffer is a log destination for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuotaRates: a peer sending faster than its rate is refused past its
// burst, and its refusals are logged once, not once each.
func TestQuotaRates(t *testing.T) {
	cfg := quotaConfig(t)
	cfg.Quota.MaxRecordsPerOwner = 0
	cfg.Quota.PutRate, cfg.Quota.PutBurst = 1, 10
	cfg.Quota.ProvideRate, cfg.Quota.ProvideBurst = 1, 10
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	target := nodetest.Start(t, cfg)
	ctx := nodetest.Context(t)
	raw := newRawClient(t, "/netabase")
	start := time.Now()
	keys, values := throwaway(t, 50, 10)
	ok := 0
	for i := range keys {
		if raw.putTo(ctx, target, keys[i], values[i]) == nil {
			ok++
		}
	}
	// The burst, and one a second after it.
	if most := 10 + int(time.Since(start).Seconds()) + 1; ok < 10 || ok > most {
		t.Errorf("%d of 50 PUT_VALUEs accepted, want 10 to %d", ok, most)
	}
	if n := target.Refused()[node.RefusedPutRate]; n != uint64((50-ok)*attemptsPerRefusal) {
		t.Errorf("%d refusals for put_rate, want %d", n, (50-ok)*attemptsPerRefusal)
	}
	self := peer.AddrInfo{ID: raw.h.ID(), Addrs: raw.h.Addrs()}
	for i := range 50 {
		key, _ := multihash.Sum([]byte(fmt.Sprint(i)), multihash.SHA2_256, -1)
		_ = raw.messenger.PutProviderAddrs(ctx, target.ID(), key, self)
	}
	nodetest.Eventually(t, ctx, "ADD_PROVIDERs refused for their rate", func() bool { return target.Refused()[node.RefusedProvideRate] > 0 })
	if _, _, providers := storeUsage(t, ctx, target); providers > 10+int(time.Since(start).Seconds())+1 {
		t.Errorf("%d provider records stored at a rate of 1 a second after a burst of 10", providers)
	}
	if n := strings.Count(logs.String(), "refused writes from a peer"); n != 1 {
		t.Errorf("the refusals were logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestQuotaIPFSRecords: with quota.ipfs_records a /netabase node takes pk
// records.
func TestQuotaIPFSRecords(t *testing.T) {
	cfg := quotaConfig(t)
	cfg.IPFSRecords = true
	target := nodetest.Start(t, cfg)
	ctx := nodetest.Context(t)
	raw := newRawClient(t, "/netabase")
	_, pub, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPublicKey(pub)
	pk, _ := crypto.MarshalPublicKey(pub)
	if err := raw.putTo(ctx, target, "/pk/"+string(id), pk); err != nil {
		t.Fatalf("a /pk record was refused: %v", err)
	}
	if _, err := target.Records().Get(ctx, "/pk/"+string(id)); err != nil {
		t.Fatal(err)
	}
}
