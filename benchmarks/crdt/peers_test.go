package crdt_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	crdt "github.com/ipfs/go-ds-crdt"
	"github.com/ipfs/go-ds-crdt/pb"
	pebbleds "github.com/ipfs/go-ds-pebble"
	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

// The benchmarks run netabase's synced collections (core/node's JoinSync
// over core/replica) and go-ds-crdt on loopback libp2p hosts in one
// process, each side's hosts built alike (TCP on 127.0.0.1, Noise or
// TLS, yamux), with a counter of stream bytes on every host:
//
//   - BenchmarkCatchUp: two replicas holding n common records, and d
//     records that only one of them holds (half on each side) at random
//     keys, connect; the time until each holds the other's, and the bytes
//     each sent.
//   - BenchmarkLive: a network of nodes (a ring and one random link more
//     from each node); node 0 writes one record at a time and the time
//     until every other node holds it is measured, with empty collections
//     and with held records on every node.
//   - BenchmarkJoin: an empty replica connects to one that holds join
//     records; the time until it holds them all, and the bytes.
//
// go-ds-crdt runs as its users run it: a PubSubBroadcaster on gossipsub
// with its defaults, and a DAG service over a bitswap exchange and a
// blockstore in the same datastore (ipfs-lite's setup). Its records are
// written one per delta (a Put each) and, reported beside, in batches of
// -crdt.batch records per delta. Run them as
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m
//
// and with -crdt.* flags for other workloads (a tiny one in .ci/run).
var (
	flagN       = flag.String("crdt.n", "10000,100000", "catch-up: records both replicas hold, a comma-separated list")
	flagD       = flag.String("crdt.d", "10,1000", "catch-up: records only one replica holds (half on each side), a comma-separated list")
	flagValues  = flag.String("crdt.values", "100,256", "bytes of each value, a comma-separated list")
	flagStores  = flag.String("crdt.stores", "memory,pebble", "stores every side runs on, a comma-separated list")
	flagNodes   = flag.Int("crdt.nodes", 10, "live: nodes of the network")
	flagWrites  = flag.Int("crdt.writes", 100, "live: writes measured in each run")
	flagHeld    = flag.String("crdt.held", "0,50000", "live: records every node holds before the writes, a comma-separated list")
	flagJoin    = flag.Int("crdt.join", 10_000, "join: records the replica joined holds")
	flagBatch   = flag.Int("crdt.batch", 1000, "records per delta of go-ds-crdt's batched mode")
	flagWriters = flag.Int("crdt.writers", 64, "writers of netabase's records")
	flagCache   = flag.Int64("crdt.cache", 64, "pebble's block cache of every store, in MiB")
	flagTimeout = flag.Duration("crdt.timeout", 10*time.Minute, "bound on one measurement (go-ds-crdt one record per delta takes about 4 minutes to join 10,000 records)")
)

const (
	collection = "bench"
	crdtTopic  = "bench"
	// roundTimeout bounds one live write's wait for every node.
	roundTimeout = 10 * time.Second
	warmups      = 10
	seed         = 20
)

var crdtNS = ds.NewKey("/crdt")

// certDir is shared by every node, so the admission gate runs the
// conformance suite once per backend.
var certDir string

func TestMain(m *testing.M) {
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		_ = logging.SetLogLevel("*", "error")
	}
	dir, err := os.MkdirTemp("", "netabase-crdt-certs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	certDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func ints(b *testing.B, s string) []int {
	b.Helper()
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
		if err != nil || v < 0 {
			b.Fatalf("%q is not a list of whole numbers", s)
		}
		out = append(out, v)
	}
	return out
}

func stores(b *testing.B) []string {
	b.Helper()
	var out []string
	for f := range strings.SplitSeq(*flagStores, ",") {
		switch f = strings.TrimSpace(f); f {
		case "memory", "pebble":
			out = append(out, f)
		default:
			b.Fatalf("-crdt.stores: %q is not memory or pebble", f)
		}
	}
	return out
}

// rec is one record of a workload, as both sides write it.
type rec struct {
	key   string
	value []byte
}

// workload is count records at random keys with random values of size
// bytes, the same for every run of one seed.
func workload(s uint64, count, size int) []rec {
	rng := rand.New(rand.NewPCG(seed, s))
	out := make([]rec, count)
	seen := make(map[string]bool, count)
	for i := range out {
		k := fmt.Sprintf("%016x", rng.Uint64())
		for seen[k] {
			k = fmt.Sprintf("%016x", rng.Uint64())
		}
		seen[k] = true
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		out[i] = rec{k, v}
	}
	return out
}

func keysOf(rs []rec) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.key
	}
	return out
}

// writers are netabase's writers, the same for every run.
var writers = sync.OnceValue(func() []crypto.PrivKey {
	r := rand.NewChaCha8([32]byte{seed})
	out := make([]crypto.PrivKey, *flagWriters)
	for i := range out {
		k, _, err := crypto.GenerateEd25519Key(r)
		if err != nil {
			panic(err) // reading a ChaCha8 stream does not fail
		}
		out[i] = k
	}
	return out
})

// seal signs rs as records of the collection, each by a writer picked at
// random.
func seal(b *testing.B, rs []rec) []replica.Verified {
	b.Helper()
	ws := writers()
	rng := rand.New(rand.NewPCG(seed, uint64(len(rs))))
	clock := envelope.NewClock()
	out := make([]replica.Verified, len(rs))
	for i, r := range rs {
		e, err := envelope.Seal(ws[rng.IntN(len(ws))], collection+"/"+r.key, collection, 1, clock.Now(), r.value)
		if err != nil {
			b.Fatal(err)
		}
		data, err := e.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		out[i] = replica.Verified{Env: e, Data: data}
	}
	return out
}

// counter is a metrics.Reporter that counts the bytes a host sends on
// each protocol's streams, exactly (libp2p's BandwidthCounter totals lag
// by up to a second); sent reads it, and its Get methods answer nothing.
type counter struct {
	mu  sync.Mutex
	out map[string]int64
}

func newCounter() *counter { return &counter{out: map[string]int64{}} }

func (c *counter) LogSentMessage(int64) {}
func (c *counter) LogRecvMessage(int64) {}
func (c *counter) LogSentMessageStream(n int64, p protocol.ID, _ peer.ID) {
	c.mu.Lock()
	c.out[string(p)] += n
	c.mu.Unlock()
}
func (c *counter) LogRecvMessageStream(int64, protocol.ID, peer.ID)  {}
func (c *counter) GetBandwidthForPeer(peer.ID) metrics.Stats         { return metrics.Stats{} }
func (c *counter) GetBandwidthForProtocol(protocol.ID) metrics.Stats { return metrics.Stats{} }
func (c *counter) GetBandwidthTotals() metrics.Stats                 { return metrics.Stats{} }
func (c *counter) GetBandwidthByPeer() map[peer.ID]metrics.Stats     { return nil }
func (c *counter) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats {
	return nil
}
func (c *counter) Reset()               {}
func (c *counter) TrimIdle(_ time.Time) {}

// counted says whether a protocol's bytes count: every stream's but
// identify's, ping's and the DHT's, which are the same for any
// application of a host, whatever it replicates.
func counted(p string) bool {
	return !strings.HasPrefix(p, "/ipfs/id/") && !strings.HasPrefix(p, "/ipfs/ping/") && !strings.Contains(p, "/kad/")
}

// sent is the bytes the host sent so far, in the streams that count.
func (c *counter) sent() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for p, v := range c.out {
		if counted(p) {
			n += v
		}
	}
	return n
}

// arrival is the moment node got key; missed marks changes a watcher lost.
type arrival struct {
	node   int
	key    string
	at     time.Time
	missed bool
}

// waitKeys reads arrivals until every key of want has arrived, and returns
// the time of the last. When arrivals were lost, it waits for caught
// instead, looking again at each arrival and every 10 ms.
func waitKeys(ctx context.Context, ch <-chan arrival, want []string, caught func() bool) (time.Time, error) {
	left := make(map[string]bool, len(want))
	for _, k := range want {
		left[k] = true
	}
	var last time.Time
	lost := false
	var tick <-chan time.Time
	for len(left) > 0 {
		if lost && caught() {
			return time.Now(), nil
		}
		select {
		case a := <-ch:
			switch {
			case a.missed:
				if !lost {
					lost = true
					t := time.NewTicker(10 * time.Millisecond)
					defer t.Stop()
					tick = t.C
				}
			case left[a.key]:
				delete(left, a.key)
				last = a.at
			}
		case <-tick:
		case <-ctx.Done():
			return last, fmt.Errorf("%d of %d records not arrived: %w", len(left), len(want), ctx.Err())
		}
	}
	return last, nil
}

// nbPeer is a netabase node joined to the collection.
type nbPeer struct {
	n        *node.Node
	s        *node.Synced
	c        *counter
	arrivals chan arrival
}

func storageURL(kind, dir string) string {
	if kind == "memory" {
		return "memory://"
	}
	u := url.URL{Scheme: "pebble", Path: filepath.ToSlash(dir), RawQuery: fmt.Sprintf("cache=%dMiB", *flagCache)}
	return u.String()
}

// startNB starts a node on a store of kind (fsync off: NoSyncWrites, as
// go-ds-pebble's default), joins it to the collection and puts what enters
// its replica on its arrivals as node i.
func startNB(b *testing.B, ctx context.Context, kind string, i int) *nbPeer {
	b.Helper()
	dir := b.TempDir()
	c := newCounter()
	n, err := node.New(ctx, node.Config{
		DataDir: dir, CertDir: certDir, Registry: all.Registry(), Suite: conformance.Suite(""),
		Storage: storageURL(kind, filepath.Join(dir, "store")), NoSyncWrites: true,
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Mode:   node.ModeClient, BandwidthReporter: c,
	})
	if err != nil {
		b.Fatalf("starting a node: %v", err)
	}
	b.Cleanup(func() { _ = n.Close() })
	s, err := n.JoinSync(ctx, replica.Settings{Name: collection})
	if err != nil {
		b.Fatal(err)
	}
	p := &nbPeer{n: n, s: s, c: c, arrivals: make(chan arrival, 1<<17)}
	wctx, stop := context.WithCancel(ctx)
	b.Cleanup(stop) // before the node closes
	changes := s.Watch(wctx)
	go func() {
		for ch := range changes {
			select {
			case p.arrivals <- arrival{node: i, key: ch.Key, at: time.Now(), missed: ch.Missed > 0}:
			default:
				select {
				case p.arrivals <- arrival{node: i, missed: true}:
				case <-wctx.Done():
				}
			}
		}
	}()
	return p
}

func (p *nbPeer) fill(b *testing.B, ctx context.Context, vs []replica.Verified) {
	b.Helper()
	for chunk := range slices.Chunk(vs, 1000) {
		if _, err := p.s.Replica().Insert(ctx, "", chunk); err != nil {
			b.Fatal(err)
		}
	}
	// What filling put on the arrivals is not the measurement's.
	for len(p.arrivals) > 0 {
		<-p.arrivals
	}
}

func (p *nbPeer) addr() peer.AddrInfo { return peer.AddrInfo{ID: p.n.ID(), Addrs: p.n.Host().Addrs()} }

// dcPeer is a go-ds-crdt replica on a libp2p host of its own.
type dcPeer struct {
	h        host.Host
	c        *counter
	ps       *pubsub.PubSub
	bc       *broadcaster
	st       *crdt.Datastore
	arrivals chan arrival
}

// openBase opens a datastore of kind for go-ds-crdt: pebble through
// go-ds-pebble with the engine options and cache of netabase's pebble
// store, and its default write options (no fsync).
func openBase(b *testing.B, kind string) ds.Batching {
	b.Helper()
	var d ds.Batching
	if kind == "memory" {
		d = dssync.MutexWrap(ds.NewMapDatastore())
	} else {
		var err error
		d, err = pebbleds.NewDatastore(b.TempDir(), pebbleds.WithPebbleOpts(pebblestore.EngineOptions()), pebbleds.WithCacheSize(*flagCache<<20))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { _ = d.Close() })
	return d
}

// copyBase copies every entry of src into a new datastore of kind.
func copyBase(b *testing.B, ctx context.Context, kind string, src ds.Datastore) ds.Batching {
	b.Helper()
	dst := openBase(b, kind)
	res, err := src.Query(ctx, query.Query{})
	if err != nil {
		b.Fatal(err)
	}
	defer res.Close()
	batch, err := dst.Batch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for e := range res.Next() {
		if e.Error != nil {
			b.Fatal(e.Error)
		}
		if err := batch.Put(ctx, ds.NewKey(e.Key), e.Value); err != nil {
			b.Fatal(err)
		}
		if n++; n%10_000 == 0 {
			if err := batch.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			if batch, err = dst.Batch(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := batch.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	return dst
}

func crdtOptions(hook func(k ds.Key, v []byte)) *crdt.Options {
	o := crdt.DefaultOptions()
	o.PutHook = hook
	return o
}

// writeOffline writes rs into base through an offline go-ds-crdt replica
// (no broadcaster, a DAG service on the blockstore alone): perDelta
// records per delta, one per Put when it is 1.
func writeOffline(b *testing.B, ctx context.Context, base ds.Batching, rs []rec, perDelta int) {
	b.Helper()
	bstore := blockstore.NewBlockstore(base)
	dag := merkledag.NewDAGService(blockservice.New(bstore, offline.Exchange(bstore)))
	st, err := crdt.New(base, crdtNS, dag, nil, crdtOptions(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if perDelta <= 1 {
		for _, r := range rs {
			if err := st.Put(ctx, ds.NewKey(r.key), r.value); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	for chunk := range slices.Chunk(rs, perDelta) {
		batch, err := st.Batch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range chunk {
			if err := batch.Put(ctx, ds.NewKey(r.key), r.value); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// startDC starts a go-ds-crdt replica over base on a new host, and puts
// the keys its PutHook reports on its arrivals as node i.
func startDC(b *testing.B, ctx context.Context, base ds.Batching, i int) *dcPeer {
	b.Helper()
	p := &dcPeer{c: newCounter(), arrivals: make(chan arrival, 1<<17)}
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.BandwidthReporter(p.c),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		b.Fatal(err)
	}
	p.h = h
	pctx, cancel := context.WithCancel(ctx)
	if p.ps, err = pubsub.NewGossipSub(pctx, h); err != nil {
		b.Fatal(err)
	}
	bc, err := crdt.NewPubSubBroadcaster(pctx, p.ps, crdtTopic)
	if err != nil {
		b.Fatal(err)
	}
	p.bc = &broadcaster{PubSubBroadcaster: bc, own: make(map[string]bool), heard: make(chan struct{})}
	bstore := blockstore.NewBlockstore(base)
	bswap := bitswap.New(pctx, bsnet.NewFromIpfsHost(h), nil, bstore)
	dag := merkledag.NewDAGService(blockservice.New(bstore, bswap))
	hook := func(k ds.Key, _ []byte) {
		select {
		case p.arrivals <- arrival{node: i, key: strings.TrimPrefix(k.String(), "/"), at: time.Now()}:
		default:
			p.arrivals <- arrival{node: i, missed: true}
		}
	}
	if p.st, err = crdt.New(base, crdtNS, dag, p.bc, crdtOptions(hook)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = p.st.Close()
		cancel()
		_ = bswap.Close()
		_ = h.Close()
	})
	return p
}

func (p *dcPeer) addr() peer.AddrInfo { return peer.AddrInfo{ID: p.h.ID(), Addrs: p.h.Addrs()} }

// broadcaster is go-ds-crdt's PubSubBroadcaster that notes when the
// replica first hears a broadcast of another replica's.
type broadcaster struct {
	*crdt.PubSubBroadcaster
	mu    sync.Mutex
	own   map[string]bool // what this replica broadcast
	heard chan struct{}   // closed at the first broadcast of another's
	once  sync.Once
}

func (c *broadcaster) Broadcast(ctx context.Context, data []byte) error {
	c.mu.Lock()
	c.own[string(data)] = true
	c.mu.Unlock()
	return c.PubSubBroadcaster.Broadcast(ctx, data)
}

func (c *broadcaster) Next(ctx context.Context) ([]byte, error) {
	data, err := c.PubSubBroadcaster.Next(ctx)
	if err == nil {
		c.mu.Lock()
		mine := c.own[string(data)]
		c.mu.Unlock()
		if !mine {
			c.once.Do(func() { close(c.heard) })
		}
	}
	return data, err
}

// announce broadcasts the replica's heads, as its rebroadcast does every
// RebroadcastInterval (a minute by default): go-ds-crdt's way for
// replicas that meet to learn what the other holds. Gossipsub drops what
// is published to a peer in the moment after it first saw the peer on
// the topic, so announce repeats it every 20 ms until other heard it.
func (p *dcPeer) announce(ctx context.Context, other *dcPeer) error {
	var m pb.CRDTBroadcast
	for _, c := range p.st.InternalStats(ctx).Heads {
		m.Heads = append(m.Heads, &pb.Head{Cid: c.Bytes()})
	}
	data, err := proto.Marshal(&m)
	if err != nil {
		return err
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if err := p.bc.Broadcast(ctx, data); err != nil {
			return err
		}
		select {
		case <-other.bc.heard:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("announcing the heads: %w", ctx.Err())
		}
	}
}

// waitTopic waits until p's gossipsub knows each of others on the topic
// and has a stream open to it to send on.
func (p *dcPeer) waitTopic(ctx context.Context, others ...peer.ID) error {
	return waitGossip(ctx, p.h, func() []peer.ID { return p.ps.ListPeers(crdtTopic) }, others...)
}

// waitGossip waits until topicPeers holds each of others and h has an
// outbound gossipsub stream to it: until then, a message published is not
// sent to it.
func waitGossip(ctx context.Context, h host.Host, topicPeers func() []peer.ID, others ...peer.ID) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		known := topicPeers()
		if !slices.ContainsFunc(others, func(o peer.ID) bool { return !slices.Contains(known, o) || !gossipStream(h, o) }) {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for gossipsub to know the topic's peers: %w", ctx.Err())
		}
	}
}

func gossipStream(h host.Host, p peer.ID) bool {
	for _, c := range h.Network().ConnsToPeer(p) {
		for _, st := range c.GetStreams() {
			if st.Stat().Direction == network.DirOutbound && strings.HasPrefix(string(st.Protocol()), "/meshsub/") {
				return true
			}
		}
	}
	return false
}

// result is one measurement of a side.
type result struct {
	d     time.Duration
	sentA int64 // bytes the first replica sent
	sentB int64 // and the second
}

func (r result) bytes() int64 { return r.sentA + r.sentB }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// pair measures two replicas meeting: connect runs at the start and
// returns when the replicas were told to meet; wait returns when both
// hold what they lacked.
func pair(ctx context.Context, ca, cb *counter, connect func() error, wait func() error) (result, error) {
	a0, b0 := ca.sent(), cb.sent()
	start := time.Now()
	if err := connect(); err != nil {
		return result{}, err
	}
	if err := wait(); err != nil {
		return result{}, err
	}
	d := time.Since(start)
	return result{d: d, sentA: ca.sent() - a0, sentB: cb.sent() - b0}, nil
}

// both runs f and g at once and returns their errors, joined.
func both(f, g func() error) error {
	var wg sync.WaitGroup
	var ef, eg error
	wg.Go(func() { ef = f() })
	wg.Go(func() { eg = g() })
	wg.Wait()
	return errors.Join(ef, eg)
}

// nbMeet measures two netabase replicas filled with ra and rb meeting:
// each must come to hold the other's records wantA and wantB.
func nbMeet(b *testing.B, ctx context.Context, kind string, ra, rb []replica.Verified, wantA, wantB []string) result {
	b.Helper()
	a, bb := startNB(b, ctx, kind, 0), startNB(b, ctx, kind, 1)
	a.fill(b, ctx, ra)
	bb.fill(b, ctx, rb)
	equal := func() bool { return a.s.Replica().Fingerprint() == bb.s.Replica().Fingerprint() }
	wctx, cancel := context.WithTimeout(ctx, *flagTimeout)
	defer cancel()
	r, err := pair(wctx, a.c, bb.c,
		func() error { return a.n.Connect(wctx, bb.addr()) },
		func() error {
			return both(
				func() error { _, err := waitKeys(wctx, a.arrivals, wantA, equal); return err },
				func() error { _, err := waitKeys(wctx, bb.arrivals, wantB, equal); return err })
		})
	if err != nil {
		b.Fatalf("netabase: %v", err)
	}
	return r
}

// dcMeet measures two go-ds-crdt replicas over baseA and baseB meeting.
func dcMeet(b *testing.B, ctx context.Context, baseA, baseB ds.Batching, wantA, wantB []string) result {
	b.Helper()
	a, bb := startDC(b, ctx, baseA, 0), startDC(b, ctx, baseB, 1)
	wctx, cancel := context.WithTimeout(ctx, *flagTimeout)
	defer cancel()
	r, err := pair(wctx, a.c, bb.c,
		func() error {
			if err := a.h.Connect(wctx, bb.addr()); err != nil {
				return err
			}
			return both(
				func() error {
					if err := a.waitTopic(wctx, bb.h.ID()); err != nil {
						return err
					}
					return a.announce(wctx, bb)
				},
				func() error {
					if err := bb.waitTopic(wctx, a.h.ID()); err != nil {
						return err
					}
					return bb.announce(wctx, a)
				})
		},
		func() error {
			never := func() bool { return false }
			return both(
				func() error { _, err := waitKeys(wctx, a.arrivals, wantA, never); return err },
				func() error { _, err := waitKeys(wctx, bb.arrivals, wantB, never); return err })
		})
	if err != nil {
		b.Fatalf("go-ds-crdt: %v", err)
	}
	return r
}

// row reports one comparison: netabase against go-ds-crdt one record per
// delta, and go-ds-crdt batched beside it.
func row(b *testing.B, what string, nb, one, batched result) {
	b.Helper()
	ratio := float64(nb.d) / float64(one.d)
	bytesRatio := float64(nb.bytes()) / float64(one.bytes())
	b.ReportMetric(float64(nb.d)/1e6, "netabase-ms")
	b.ReportMetric(float64(one.d)/1e6, "crdt-ms")
	b.ReportMetric(ratio, "time-ratio")
	b.ReportMetric(float64(nb.bytes()), "netabase-B")
	b.ReportMetric(float64(one.bytes()), "crdt-B")
	b.ReportMetric(bytesRatio, "bytes-ratio")
	line := fmt.Sprintf("| %s | %s | %d B / %d B | %s | %d B / %d B | %.2f (%s) | %.2f (%s) |",
		what, ms(nb.d), nb.sentA, nb.sentB, ms(one.d), one.sentA, one.sentB,
		ratio, met(ratio <= 0.3), bytesRatio, met(bytesRatio <= 2))
	if batched.d > 0 {
		line += fmt.Sprintf(" %s | %d B / %d B |", ms(batched.d), batched.sentA, batched.sentB)
	}
	b.Log(line)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// BenchmarkCatchUp: two replicas hold n records in common and d/2 each that
// the other lacks, at random keys; they connect, and each must come to
// hold the other's.
func BenchmarkCatchUp(b *testing.B) {
	ctx := b.Context()
	for _, kind := range stores(b) {
		for _, size := range ints(b, *flagValues) {
			for _, n := range ints(b, *flagN) {
				diffs := ints(b, *flagD)
				most := slices.Max(diffs)
				rs := workload(uint64(n), n+most, size)
				common := rs[:n]
				b.Run(fmt.Sprintf("store=%s/value=%d/n=%d", kind, size, n), func(b *testing.B) {
					sealed := seal(b, rs)
					// go-ds-crdt's common history, built once for every d.
					one, batched := openBase(b, kind), openBase(b, kind)
					writeOffline(b, ctx, one, common, 1)
					writeOffline(b, ctx, batched, common, *flagBatch)
					for _, d := range diffs {
						extra := rs[n : n+d]
						onlyA, onlyB := extra[:d/2], extra[d/2:]
						b.Run(fmt.Sprintf("d=%d", d), func(b *testing.B) {
							for range b.N {
								nbA := slices.Concat(sealed[:n], sealed[n:n+d/2])
								nbB := slices.Concat(sealed[:n], sealed[n+d/2:n+d])
								nb := nbMeet(b, ctx, kind, nbA, nbB, keysOf(onlyB), keysOf(onlyA))
								var res [2]result
								for i, base := range []ds.Batching{one, batched} {
									per := 1
									if i == 1 {
										per = *flagBatch
									}
									ba, bb := copyBase(b, ctx, kind, base), copyBase(b, ctx, kind, base)
									writeOffline(b, ctx, ba, onlyA, per)
									writeOffline(b, ctx, bb, onlyB, per)
									res[i] = dcMeet(b, ctx, ba, bb, keysOf(onlyB), keysOf(onlyA))
								}
								row(b, fmt.Sprintf("%s, %d-byte values, n = %d, d = %d", kind, size, n, d), nb, res[0], res[1])
							}
						})
					}
				})
			}
		}
	}
}

// BenchmarkJoin: an empty replica connects to one holding -crdt.join
// records, and must come to hold them all.
func BenchmarkJoin(b *testing.B) {
	ctx := b.Context()
	n := *flagJoin
	for _, kind := range stores(b) {
		for _, size := range ints(b, *flagValues) {
			rs := workload(uint64(n)+1, n, size)
			b.Run(fmt.Sprintf("store=%s/value=%d/n=%d", kind, size, n), func(b *testing.B) {
				sealed := seal(b, rs)
				for range b.N {
					nb := nbMeet(b, ctx, kind, sealed, nil, nil, keysOf(rs))
					var res [2]result
					for i, per := range []int{1, *flagBatch} {
						holder := openBase(b, kind)
						writeOffline(b, ctx, holder, rs, per)
						res[i] = dcMeet(b, ctx, holder, openBase(b, kind), nil, keysOf(rs))
					}
					row(b, fmt.Sprintf("%s, %d-byte values, %d records", kind, size, n), nb, res[0], res[1])
				}
			})
		}
	}
}

// links is a connected sparse random graph on n nodes, the same for every
// run: a ring, and one more link from each node to another at random.
func links(n int) [][2]int {
	rng := rand.New(rand.NewPCG(seed, 4))
	seen := make(map[[2]int]bool)
	var out [][2]int
	link := func(a, b int) bool {
		l := [2]int{min(a, b), max(a, b)}
		if a == b || seen[l] {
			return false
		}
		seen[l] = true
		out = append(out, l)
		return true
	}
	for i := range n {
		link(i, (i+1)%n)
	}
	for i := range n {
		// A few tries: in a small network a node may be linked to all.
		for range 4 * n {
			if link(i, rng.IntN(n)) {
				break
			}
		}
	}
	return out
}

// netw is one side's nodes for the live benchmark: put has node 0
// write a record; arrivals gets what enters every other node.
type netw struct {
	put      func(ctx context.Context, key string, value []byte) error
	arrivals chan arrival
	sent     func() int64
}

// fanIn forwards every channel of ins to one.
func fanIn(ctx context.Context, ins []chan arrival) chan arrival {
	out := make(chan arrival, 1<<16)
	for _, in := range ins {
		go func() {
			for {
				select {
				case a := <-in:
					select {
					case out <- a:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return out
}

func startNBNetwork(b *testing.B, ctx context.Context, kind string, count int, held []replica.Verified) *netw {
	b.Helper()
	ps := make([]*nbPeer, count)
	for i := range ps {
		ps[i] = startNB(b, ctx, kind, i)
		ps[i].fill(b, ctx, held)
	}
	for _, l := range links(count) {
		if err := ps[l[0]].n.Connect(ctx, ps[l[1]].addr()); err != nil {
			b.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, *flagTimeout)
	defer cancel()
	for _, l := range links(count) {
		for _, e := range [][2]int{l, {l[1], l[0]}} {
			if err := waitGossip(wctx, ps[e[0]].n.Host(), ps[e[0]].s.TopicPeers, ps[e[1]].n.ID()); err != nil {
				b.Fatal("netabase: ", err)
			}
		}
	}
	// The sessions of meeting end before the writes start.
	for _, p := range ps {
		if _, err := p.s.CaughtUp(wctx, 0); err != nil {
			b.Fatal(err)
		}
	}
	var ins []chan arrival
	for _, p := range ps {
		ins = append(ins, p.arrivals)
	}
	return &netw{
		put: func(ctx context.Context, key string, value []byte) error {
			_, err := ps[0].s.Put(ctx, key, value)
			return err
		},
		arrivals: fanIn(ctx, ins),
		sent: func() int64 {
			var n int64
			for _, p := range ps {
				n += p.c.sent()
			}
			return n
		},
	}
}

func startDCNetwork(b *testing.B, ctx context.Context, kind string, count int, held ds.Batching) *netw {
	b.Helper()
	ps := make([]*dcPeer, count)
	for i := range ps {
		base := openBase(b, kind)
		if held != nil {
			base = copyBase(b, ctx, kind, held)
		}
		ps[i] = startDC(b, ctx, base, i)
	}
	for _, l := range links(count) {
		if err := ps[l[0]].h.Connect(ctx, ps[l[1]].addr()); err != nil {
			b.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, *flagTimeout)
	defer cancel()
	for _, l := range links(count) {
		for _, e := range [][2]int{l, {l[1], l[0]}} {
			if err := ps[e[0]].waitTopic(wctx, ps[e[1]].h.ID()); err != nil {
				b.Fatal(err)
			}
		}
	}
	var ins []chan arrival
	for _, p := range ps {
		ins = append(ins, p.arrivals)
	}
	return &netw{
		put: func(ctx context.Context, key string, value []byte) error {
			return ps[0].st.Put(ctx, ds.NewKey(key), value)
		},
		arrivals: fanIn(ctx, ins),
		sent: func() int64 {
			var n int64
			for _, p := range ps {
				n += p.c.sent()
			}
			return n
		},
	}
}

// write has node 0 write key and returns the time until every other node
// held it.
func (w *netw) write(ctx context.Context, count int, key string, value []byte) (time.Duration, bool) {
	start := time.Now()
	if err := w.put(ctx, key, value); err != nil {
		return 0, false
	}
	got := make(map[int]bool)
	var last time.Time
	timer := time.NewTimer(roundTimeout)
	defer timer.Stop()
	for len(got) < count-1 {
		select {
		case a := <-w.arrivals:
			if a.node == 0 || a.key != key || got[a.node] {
				continue
			}
			got[a.node] = true
			last = a.at
		case <-timer.C:
			return 0, false
		case <-ctx.Done():
			return 0, false
		}
	}
	return last.Sub(start), true
}

// live is the figures of one side's live run.
type live struct {
	p50, p95 time.Duration
	bytes    int64 // sent by every node together, per write
	failures int
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// BenchmarkLive: node 0 of -crdt.nodes nodes writes -crdt.writes records
// one at a time, both sides in turn; each write's time is until every
// other node holds it.
func BenchmarkLive(b *testing.B) {
	ctx := b.Context()
	count := *flagNodes
	for _, kind := range stores(b) {
		for _, size := range ints(b, *flagValues) {
			for _, held := range ints(b, *flagHeld) {
				b.Run(fmt.Sprintf("store=%s/value=%d/held=%d", kind, size, held), func(b *testing.B) {
					hrs := workload(uint64(held)+2, held, size)
					var heldBase ds.Batching
					if held > 0 {
						heldBase = openBase(b, kind)
						writeOffline(b, ctx, heldBase, hrs, 1)
					}
					sealed := seal(b, hrs)
					for range b.N {
						sides := []*netw{
							startNBNetwork(b, ctx, kind, count, sealed),
							startDCNetwork(b, ctx, kind, count, heldBase),
						}
						writes := workload(uint64(held)+3, warmups+*flagWrites, size)
						var times [2][]time.Duration
						var fails [2]int
						var bytes [2]int64
						for i, w := range writes {
							for j := range sides {
								s := sides[(i+j)%2] // alternate which goes first
								side := (i + j) % 2
								b0 := s.sent()
								d, ok := s.write(ctx, count, fmt.Sprintf("%s-%d", w.key, side), w.value)
								if i < warmups {
									continue
								}
								bytes[side] += s.sent() - b0
								if !ok {
									fails[side]++
									continue
								}
								times[side] = append(times[side], d)
							}
						}
						var res [2]live
						for i := range res {
							res[i] = live{
								p50: quantile(times[i], 0.5), p95: quantile(times[i], 0.95),
								bytes: bytes[i] / int64(*flagWrites), failures: fails[i],
							}
						}
						r50 := float64(res[0].p50) / float64(res[1].p50)
						r95 := float64(res[0].p95) / float64(res[1].p95)
						rb := float64(res[0].bytes) / float64(res[1].bytes)
						b.ReportMetric(float64(res[0].p50)/1e6, "netabase-p50-ms")
						b.ReportMetric(float64(res[0].p95)/1e6, "netabase-p95-ms")
						b.ReportMetric(float64(res[1].p50)/1e6, "crdt-p50-ms")
						b.ReportMetric(float64(res[1].p95)/1e6, "crdt-p95-ms")
						b.ReportMetric(r95, "p95-ratio")
						b.Logf("| %s, %d-byte values, %d held | %s / %s | %s / %s | %.2f (%s) / %.2f (%s) | %d B / %d B | %.2f (%s) | %d / %d |",
							kind, size, held, ms(res[0].p50), ms(res[0].p95), ms(res[1].p50), ms(res[1].p95),
							r50, met(r50 <= 0.3), r95, met(r95 <= 0.3), res[0].bytes, res[1].bytes, rb, met(rb <= 2),
							res[0].failures, res[1].failures)
						if res[0].failures+res[1].failures > 0 {
							b.Errorf("writes that did not reach every node: netabase %d, go-ds-crdt %d", res[0].failures, res[1].failures)
						}
					}
				})
			}
		}
	}
}
