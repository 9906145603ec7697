package node_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// TestRestart: a node closed and reopened on a persistent backend keeps
// its peer ID, its records (its own and those it received) and its
// provider records (its own and those peers announced to it), and serves
// them to the network.
func TestRestart(t *testing.T) {
	for _, d := range all.Drivers() {
		if !d.About().Capabilities.Persistent {
			continue
		}
		scheme := d.About().Scheme
		t.Run(scheme, func(t *testing.T) {
			ctx := nodetest.Context(t)
			dir := t.TempDir()
			cfg := nodetest.Config(t)
			cfg.DataDir = dir
			cfg.Storage = scheme + "://" + filepath.Join(dir, "store")
			n, err := node.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			id := n.ID()
			peerNode := nodetest.Start(t, nodetest.Config(t))
			connectDHT(t, ctx, peerNode, n)
			own, err := n.Publish(ctx, "own", "text", 1, []byte("mine"))
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := peerNode.Publish(ctx, "theirs", "text", 1, []byte("yours"))
			if err != nil || theirs.Accepted != 1 {
				t.Fatalf("the peer's publish reached %d: %v", theirs.Accepted, err)
			}
			if _, err := n.StartProviding(ctx, "own-key"); err != nil {
				t.Fatal(err)
			}
			sub := n.Subscribe(0)
			defer sub.Close()
			if res, err := peerNode.StartProviding(ctx, "their-key"); err != nil || res.Sent != 1 {
				t.Fatalf("the peer's provide reached %d: %v", res.Sent, err)
			}
			// ADD_PROVIDER has no reply: wait until n has stored it.
			nextEvent(t, ctx, sub, func(e node.ProviderAdded) bool { return e.Provider == peerNode.ID() })
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}

			n, err = node.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = n.Close() })
			if n.ID() != id {
				t.Errorf("peer ID %s after restart, was %s", n.ID(), id)
			}
			var keys []string
			for r, err := range n.LocalRecords(ctx, envelope.Namespace) {
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, r.Key)
			}
			slices.Sort(keys)
			want := []string{own.Key, theirs.Key}
			slices.Sort(want)
			if !slices.Equal(keys, want) {
				t.Errorf("records after restart %q, want %q", keys, want)
			}
			for key, provider := range map[string]peer.ID{"own-key": id, "their-key": peerNode.ID()} {
				c, _ := node.KeyCID(key)
				provs, err := n.Providers().Providers(ctx, c.Hash())
				if err != nil || len(provs) != 1 || provs[0].ID != provider {
					t.Errorf("providers of %s after restart: %v, %v; want %s", key, provs, err, provider)
				}
			}
			// A newcomer that knows only the restarted node gets all of it.
			newcomer := nodetest.Start(t, nodetest.Config(t))
			connectDHT(t, ctx, newcomer, n)
			if got, err := newcomer.GetRecord(ctx, theirs.Key); err != nil || string(got.Envelope.Value) != "yours" {
				t.Errorf("newcomer's get: %v", err)
			}
			if _, found, err := newcomer.FindProviders(ctx, "their-key", 0); err != nil || len(found) != 1 || found[0].ID != peerNode.ID() {
				t.Errorf("newcomer's providers of their-key: %v, %v", found, err)
			}
		})
	}
}

// TestDatastore: the DHT keeps its data under /dht in the backend, and an
// application's own keys live beside it.
func TestDatastore(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	b := n.Datastore()
	if err := b.Put(ctx, ds.NewKey("/app/settings"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	res, err := n.Publish(ctx, "r", "text", 1, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, ds.NewKey(node.DHTNamespace).Child(core.RecordKey(res.Key))); err != nil {
		t.Errorf("the record is not under %s in the backend: %v", node.DHTNamespace, err)
	}
	if rec, err := n.Records().Get(ctx, res.Key); err != nil || rec.Key != res.Key {
		t.Errorf("RecordStore view: %v, %v", rec, err)
	}
	count := 0
	for r, err := range n.LocalRecords(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		if r.Envelope == nil || r.Received.IsZero() {
			t.Errorf("local record %+v", r)
		}
		count++
	}
	if count != 1 {
		t.Errorf("%d local records; the application's key must not count", count)
	}
	if info := n.Info(); info.Backend.Name != "memory" || info.Storage != "memory://" || info.Admission == nil || info.ID != n.ID() || len(info.Addrs) == 0 {
		t.Errorf("info %+v", info)
	}
}

func TestRemoveRecord(t *testing.T) {
	ctx := nodetest.Context(t)
	nodes := startNetwork(t, 3, nil)
	a := nodes[0]
	res, err := a.Publish(ctx, "gone", "text", 1, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveRecord(ctx, res.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Records().Get(ctx, res.Key); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("after removal the local store has it: %v", err)
	}
	if err := a.RemoveRecord(ctx, res.Key); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
	// Removal is local: the peers still hold the record, and a get
	// brings it back.
	got, err := a.GetRecord(ctx, res.Key)
	if err != nil || got.Source != node.SourceNetwork {
		t.Fatalf("get after removal: %+v, %v", got, err)
	}
	if _, err := a.Records().Get(ctx, res.Key); err != nil {
		t.Errorf("the fetched record was not stored again: %v", err)
	}
}

// failingSuite fails every backend.
type failingSuite struct{}

func (failingSuite) Version() string { return "failing" }
func (failingSuite) Check(context.Context, core.Driver, *url.URL, core.Info) (core.Verdict, error) {
	return failingVerdict{}, nil
}

type failingVerdict struct{}

func (failingVerdict) Passed() bool   { return false }
func (failingVerdict) String() string { return "FAIL  put-get  the value read back differs" }

func TestAdmissionRefuses(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Suite = failingSuite{}
	cfg.CertDir = ""
	_, err := node.New(nodetest.Context(t), cfg)
	var ae *core.AdmissionError
	if !errors.As(err, &ae) || !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "the value read back differs") {
		t.Fatalf("got %v, want the admission error with the report", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, edit := range map[string]func(c *node.Config){
		"no data dir": func(c *node.Config) { c.DataDir = "" },
		"no registry": func(c *node.Config) { c.Registry = nil },
		"no suite":    func(c *node.Config) { c.Suite = nil },
		"bad mode":    func(c *node.Config) { c.Mode = "x" },
		"validators on /ipfs": func(c *node.Config) {
			c.ProtocolPrefix = node.PrefixIPFS
			c.Validators = map[string]record.Validator{"app": acceptAll{}}
		},
		"replacing netabase": func(c *node.Config) { c.Validators = map[string]record.Validator{"netabase": acceptAll{}} },
		"bad storage":        func(c *node.Config) { c.Storage = "nosuch://" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := nodetest.Config(t)
			edit(&cfg)
			if n, err := node.New(nodetest.Context(t), cfg); err == nil {
				_ = n.Close()
				t.Fatal("the node started")
			} else {
				t.Log(err)
			}
		})
	}
}

// TestListenAddressInUse: a node refuses to start on a TCP or a QUIC
// address another node listens on, although go-libp2p would listen on the
// TCP one beside it (SO_REUSEPORT) and start on the QUIC one when any
// other address listens; and the first node still dials from its listen
// port.
func TestListenAddressInUse(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0"), ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")}
	first := nodetest.Start(t, cfg)
	var tcpAddr, quicAddr string
	for _, a := range first.Host().Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err == nil {
			quicAddr = a.String()
		} else if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			tcpAddr = a.String()
		}
	}
	if tcpAddr == "" || quicAddr == "" {
		t.Fatalf("the first node listens on %v, want a TCP and a QUIC address", first.Host().Network().ListenAddresses())
	}
	for _, tc := range []struct {
		name        string
		listen      []string
		inUse, free string
	}{
		{"tcp", []string{tcpAddr}, tcpAddr, "/ip4/127.0.0.1/tcp/0"},
		{"quic", []string{quicAddr}, quicAddr, "/ip4/127.0.0.1/udp/0/quic-v1"},
		{"quic beside tcp", []string{"/ip4/127.0.0.1/tcp/0", quicAddr}, quicAddr, "/ip4/127.0.0.1/udp/0/quic-v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := nodetest.Config(t)
			cfg.Listen = nil
			for _, a := range tc.listen {
				cfg.Listen = append(cfg.Listen, ma.StringCast(a))
			}
			n, err := node.New(nodetest.Context(t), cfg)
			if err == nil {
				_ = n.Close()
				t.Fatalf("a second node started on %v", tc.listen)
			}
			want := "another process already listens on " + tc.inUse + "; stop it, or give this node another port in the listen key or --listen (port 0, as in " + tc.free + ", takes any free one)"
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("got %q, want it to say %q", err, want)
			}
		})
	}

	other := nodetest.Start(t, nodetest.Config(t))
	ctx := nodetest.Context(t)
	if err := first.Connect(ctx, addrInfo(other)); err != nil {
		t.Fatal(err)
	}
	conns := first.Host().Network().ConnsToPeer(other.ID())
	if len(conns) == 0 || conns[0].LocalMultiaddr().String() != tcpAddr {
		t.Fatalf("the first node dialled from %v, want its listen address %s", conns, tcpAddr)
	}
}

// TestLimitsFromConfig: the [limits] keys reach libp2p's connection and
// resource managers.
func TestLimitsFromConfig(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Limits = &node.Limits{ConnLowWater: 3, ConnHighWater: 5, ConnGracePeriod: 7 * time.Second, MaxConnections: 11, MaxStreams: 13, MaxMemory: 17 << 20}
	n := nodetest.Start(t, cfg)
	cm, ok := n.Host().ConnManager().(*connmgr.BasicConnMgr)
	if !ok {
		t.Fatalf("connection manager %T", n.Host().ConnManager())
	}
	if info := cm.GetInfo(); info.LowWater != 3 || info.HighWater != 5 || info.GracePeriod != 7*time.Second {
		t.Errorf("connection manager %+v", info)
	}
	err := n.Host().Network().ResourceManager().ViewSystem(func(s network.ResourceScope) error {
		l := s.(rcmgr.ResourceScopeLimiter).Limit()
		if l.GetConnTotalLimit() != 11 || l.GetStreamTotalLimit() != 13 || l.GetMemoryLimit() != 17<<20 {
			return fmt.Errorf("system limits: conns %d, streams %d, memory %d", l.GetConnTotalLimit(), l.GetStreamTotalLimit(), l.GetMemoryLimit())
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestBandwidthReporter: a reporter in the config counts the node's
// stream traffic by protocol.
func TestBandwidthReporter(t *testing.T) {
	ctx := nodetest.Context(t)
	bw := metrics.NewBandwidthCounter()
	cfg := nodetest.Config(t)
	cfg.BandwidthReporter = bw
	a, b := nodetest.Start(t, cfg), nodetest.Start(t, nodetest.Config(t))
	connectDHT(t, ctx, a, b)
	nodetest.Eventually(t, ctx, "bytes counted for a DHT exchange", func() bool {
		for proto, st := range bw.GetBandwidthByProtocol() {
			if strings.HasSuffix(string(proto), "/kad/1.0.0") && st.TotalIn > 0 && st.TotalOut > 0 {
				return true
			}
		}
		return false
	})
}

// TestConfigOptionErrors: New refuses an option it cannot take, naming it.
func TestConfigOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *node.Config)
		want string
	}{
		{"negative limit", func(c *node.Config) { c.Limits = &node.Limits{ConnLowWater: -1} }, "node.Config.Limits.ConnLowWater is negative"},
		{"high water below low", func(c *node.Config) { c.Limits = &node.Limits{ConnLowWater: 10, ConnHighWater: 5} }, "node.Config.Limits.ConnHighWater is 5, below ConnLowWater (10)"},
		{"republish under a second", func(c *node.Config) { c.RepublishInterval = time.Millisecond }, "node.Config.RepublishInterval is 1ms; use at least 1s"},
		{"negative record age", func(c *node.Config) { c.MaxRecordAge = -time.Hour }, "node.Config.MaxRecordAge is -1h0m0s"},
		{"bootstrap peer without an ID", func(c *node.Config) {
			c.Bootstrap = []peer.AddrInfo{{Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4101")}}}
		}, "node.Config.Bootstrap holds a peer without an ID"},
		{"bad prefix", func(c *node.Config) { c.ProtocolPrefix = "netabase" }, `node.Config.ProtocolPrefix "netabase" is not a protocol prefix`},
		{"bad mode", func(c *node.Config) { c.Mode = "x" }, `node.Config.Mode "x" is not a DHT mode`},
		{"negative quota", func(c *node.Config) { c.Quota = &node.Quota{MaxBytes: -1} }, "node.Config.Quota.MaxBytes is -1"},
		{"rate without a burst", func(c *node.Config) { c.Quota = &node.Quota{PutRate: 1} }, "node.Config.Quota.PutBurst is 0, so no PUT_VALUE could ever pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := nodetest.Config(t)
			tc.edit(&cfg)
			n, err := node.New(nodetest.Context(t), cfg)
			if err == nil {
				_ = n.Close()
				t.Fatal("the node started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestConfigDefaults: options left out take their defaults: the storage is
// pebble in the data directory, the protocol prefix /netabase and the DHT
// mode auto.
func TestConfigDefaults(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Storage, cfg.ProtocolPrefix, cfg.Mode = "", "", ""
	n := nodetest.Start(t, cfg)
	info := n.Info()
	if want := node.DefaultStorage(cfg.DataDir); info.Storage != want || !strings.HasPrefix(want, "pebble://") || info.Backend.Name != "pebble" {
		t.Errorf("storage %s (backend %s), want %s", info.Storage, info.Backend.Name, want)
	}
	if info.Prefix != node.PrefixNetabase || info.Mode.Configured != node.ModeAuto {
		t.Errorf("prefix %s, mode %s; want %s and %s", info.Prefix, info.Mode.Configured, node.PrefixNetabase, node.ModeAuto)
	}
}
