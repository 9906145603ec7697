package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/replica"
)

// DHTNamespace is the key prefix under which the DHT keeps its value and
// provider records in the node's backend. Applications may keep their own
// data in the backend (see [Node.Datastore]) under any other prefix.
const DHTNamespace = "/dht"

// Node is a running netabase node. Its methods are safe for concurrent use.
type Node struct {
	cfg       Config
	priv      crypto.PrivKey
	id        peer.ID
	prefix    protocol.ID
	bootstrap []peer.AddrInfo
	log       *slog.Logger

	backend   core.Backend
	admission *core.Admission
	store     *guard // the DHT's namespace of the backend, guarded
	quota     *quota
	records   *core.RecordStore
	providers *core.ProviderStore
	clock     *envelope.Clock
	opens     *openCache

	host host.Host
	mdns mdns.Service
	bus  *bus
	ps   *pubsub.PubSub
	keep *keeper

	syncMu sync.Mutex
	synced map[string]*Synced // joined collections, by name
	// inbound bounds the sessions peers start, over any transport.
	inbound *replica.Inbound
	// topics holds the joined collections by topic, for the gossip
	// tracer, which runs inside gossipsub's loop and so must not wait for
	// syncMu (JoinSync holds it while it waits for that loop).
	topics sync.Map

	// mu guards the DHT, which SetMode replaces. Operations hold it for
	// reading while they use the DHT.
	mu        sync.RWMutex
	dht       *dht.IpfsDHT
	messenger *pb.ProtocolMessenger
	mode      Mode

	modeMu   sync.Mutex
	lastMode ModeInfo

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// New starts a node: it loads (or creates) the identity key in the data
// directory, admits the storage backend through the conformance gate, and
// starts the libp2p host, the DHT and mDNS. The caller composes the node:
// cfg.Registry opens the storage URL and cfg.Suite is the admission check,
// and New refuses a Config without them (or with an option it cannot take). A backend that fails the suite
// stops start-up with an error carrying the suite's report
// (*core.AdmissionError). Close the node to stop it.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.required(); err != nil {
		return nil, err
	}
	if err := cfg.Check(Names{}); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	prefix := cfg.ProtocolPrefix
	if prefix == dht.DefaultPrefix && len(cfg.Validators) > 0 {
		return nil, fmt.Errorf("netabase: node.Config.ProtocolPrefix is %s, the public IPFS DHT, whose peers accept only pk and ipns records; validators for namespaces %v need a private prefix such as %s",
			prefix, slices.Sorted(maps.Keys(cfg.Validators)), PrefixNetabase)
	}
	for _, v := range cfg.SyncVersions {
		if _, ok := replica.VersionOf(v.Protocol()); !ok {
			return nil, fmt.Errorf("netabase: node.Config.SyncVersions holds %d, not a reconciliation protocol version this build speaks (%v)", v, replica.Versions)
		}
	}
	for ns := range cfg.Validators {
		if ns == envelope.Namespace || ns == "pk" || ns == "ipns" || ns == "providers" {
			return nil, fmt.Errorf("netabase: a validator for the %q namespace cannot be replaced", ns)
		}
	}
	n := &Node{
		cfg:    cfg,
		prefix: prefix,
		mode:   cfg.Mode,
		clock:  envelope.NewClock(),
		opens:  newOpenCache(),
		bus:    newBus(),
		log:    cfg.Logger,
		synced: make(map[string]*Synced),
	}
	n.inbound = replica.NewInbound()
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n.bootstrap = cfg.Bootstrap
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the data directory: %w", err)
	}
	priv, _, err := LoadIdentity(cfg.DataDir, true)
	if err != nil {
		return nil, err
	}
	n.priv = priv
	if n.id, err = peer.IDFromPrivateKey(priv); err != nil {
		return nil, err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.start(ctx); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	return n, nil
}

// start brings the node up; on error, Close undoes what it did.
func (n *Node) start(ctx context.Context) error {
	cfg := n.cfg
	certDir := cfg.CertDir
	if certDir == "" {
		certDir = cfg.DataDir
	}
	gate := &core.Gate{Registry: cfg.Registry, Suite: cfg.Suite, CertDir: certDir}
	b, adm, err := gate.Admit(ctx, cfg.Storage)
	n.admission = adm
	if err != nil {
		return err
	}
	n.backend = b
	if !cfg.NoSyncWrites && b.Info().Capabilities.Persistent {
		if err := core.SyncWrites(b); err != nil {
			return err
		}
	}
	dhtStore := namespace.Wrap(b, ds.NewKey(DHTNamespace))
	n.quota = newQuota(*cfg.Quota, n.id, n.log)
	if err := n.quota.scan(ctx, dhtStore); err != nil {
		return err
	}
	n.store = newGuard(dhtStore, n.quota, n.valueStored)
	n.records = core.NewRecordStore(n.store)
	n.providers = core.NewProviderStore(n.store, core.DefaultProvideValidity)

	if n.host, err = n.newHost(); err != nil {
		return err
	}
	n.keep = n.newKeeper(ctx)
	if err := n.watchNetwork(); err != nil {
		return err
	}
	n.keep.start()
	d, err := n.newDHT(n.mode)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.setDHT(d)
	n.mu.Unlock()
	n.checkMode()
	if n.ps, err = n.newPubSub(); err != nil {
		return fmt.Errorf("cannot start gossipsub: %w", err)
	}
	for _, v := range n.SyncVersions() {
		n.host.SetStreamHandler(protocol.ID(v.Protocol()), func(st network.Stream) { n.handleSync(st, v) })
	}
	if cfg.MDNS {
		n.mdns = mdns.NewMdnsService(n.host, n.mdnsService(), mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			return fmt.Errorf("cannot start mDNS (turn it off with mdns = false or --no-mdns): %w", err)
		}
	}
	n.watchBackend()
	if len(n.bootstrap) > 0 {
		// The one dial of the bootstrap peers at start: the keeper
		// redials those it did not reach (Bootstrap tells it of each
		// failed dial; this, of any peer not connected once it is done).
		n.wg.Go(func() {
			if _, err := n.Bootstrap(n.ctx); err != nil && n.ctx.Err() == nil {
				n.log.Warn("bootstrap at start failed", "error", err)
			}
			for _, ai := range n.bootstrap {
				if n.host.Network().Connectedness(ai.ID) != network.Connected {
					n.keep.disconnected(ai.ID)
				}
			}
		})
	}
	n.wg.Go(func() { n.republishLoop(cfg.RepublishInterval) })
	return nil
}

// syncRefusing is room, beside the streams of reconciliation sessions that
// replica.Inbound runs and lets wait, for those it is refusing with a
// message.
const syncRefusing = 4

func (n *Node) newHost() (host.Host, error) {
	cfg := n.cfg
	if err := checkListenFree(cfg.Listen); err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.Limits.ConnLowWater, cfg.Limits.ConnHighWater, connmgr.WithGracePeriod(cfg.Limits.ConnGracePeriod))
	if err != nil {
		return nil, fmt.Errorf("netabase: node.Config.Limits: %w", err)
	}
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	sys := rcmgr.ResourceLimits{}
	if v := cfg.Limits.MaxConnections; v > 0 {
		sys.Conns = rcmgr.LimitVal(v)
	}
	if v := cfg.Limits.MaxStreams; v > 0 {
		sys.Streams = rcmgr.LimitVal(v)
	}
	if v := cfg.Limits.MaxMemory; v > 0 {
		sys.Memory = rcmgr.LimitVal64(v)
	}
	// Each inbound stream may hold a window of data (256 KiB at first)
	// that its peer sent before anything read it. So streams of
	// reconciliation sessions past those replica.Inbound runs and lets
	// wait, and a few it is refusing with a message, are reset before
	// anything of them is read.
	// The bound holds for each version's protocol ID.
	syncStreams := map[protocol.ID]rcmgr.ResourceLimits{}
	syncPeerStreams := map[protocol.ID]rcmgr.ResourceLimits{}
	for _, id := range []protocol.ID{SyncProtocol, SyncProtocol2} {
		syncStreams[id] = rcmgr.ResourceLimits{StreamsInbound: replica.MaxInboundSessions + replica.MaxWaitingSessions + syncRefusing}
		syncPeerStreams[id] = rcmgr.ResourceLimits{StreamsInbound: 2*replica.MaxPeerSessions + syncRefusing}
	}
	concrete := rcmgr.PartialLimitConfig{System: sys, Protocol: syncStreams, ProtocolPeer: syncPeerStreams}.Build(limits.AutoScale())
	var rmOpts []rcmgr.Option
	if cfg.Metrics == nil {
		rmOpts = append(rmOpts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(concrete), rmOpts...)
	if err != nil {
		_ = cm.Close()
		return nil, fmt.Errorf("cannot start the resource manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(n.priv),
		libp2p.ListenAddrs(cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.UserAgent(Agent),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
	}
	if cfg.Metrics != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Metrics))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	if cfg.ConnectionGater != nil {
		opts = append(opts, libp2p.ConnectionGater(cfg.ConnectionGater))
	}
	if cfg.BandwidthReporter != nil {
		opts = append(opts, libp2p.BandwidthReporter(cfg.BandwidthReporter))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		_ = rm.Close()
		_ = cm.Close()
		return nil, fmt.Errorf("cannot start the libp2p host on %v (check the listen key or --listen; is another node using the port?): %w", cfg.Listen, err)
	}
	return h, nil
}

// Agent is the node's libp2p agent string, which Identify tells peers.
const Agent = "netabase/" + netabase.Version

// mdnsService is the mDNS service name: netabase networks find only each
// other; an /ipfs node finds any libp2p peer, as IPFS nodes do.
func (n *Node) mdnsService() string {
	if n.prefix == dht.DefaultPrefix {
		return mdns.ServiceName
	}
	return "_netabase._udp"
}

// watchNetwork turns the host's connection and protocol events into the
// node's events, and hands the keeper (n.keep, made before) the
// disconnections and identifications it follows. It never waits for the node's lock: SetMode holds it
// while it changes the host's protocols, whose events must flow meanwhile,
// so mode checks run on a goroutine of their own.
func (n *Node) watchNetwork() error {
	sub, err := n.host.EventBus().Subscribe([]any{
		new(event.EvtPeerConnectednessChanged),
		new(event.EvtPeerIdentificationCompleted),
		new(event.EvtLocalProtocolsUpdated),
	}, eventbus.BufSize(256))
	if err != nil {
		return err
	}
	modeCheck := make(chan struct{}, 1)
	n.wg.Go(func() {
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-modeCheck:
				n.checkMode()
			}
		}
	})
	n.wg.Go(func() {
		defer sub.Close()
		for {
			select {
			case <-n.ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				switch e := e.(type) {
				case event.EvtPeerConnectednessChanged:
					n.connectedness(e)
					if e.Connectedness == network.NotConnected {
						n.keep.disconnected(e.Peer)
					}
				case event.EvtPeerIdentificationCompleted:
					n.keep.identified(e)
				case event.EvtLocalProtocolsUpdated:
					select {
					case modeCheck <- struct{}{}:
					default: // a check is pending, and will see this change
					}
				}
			}
		}
	})
	return nil
}

func (n *Node) connectedness(e event.EvtPeerConnectednessChanged) {
	switch e.Connectedness {
	case network.Connected:
		ev := PeerConnected{At: now(), Peer: e.Peer}
		if conns := n.host.Network().ConnsToPeer(e.Peer); len(conns) > 0 {
			ev.Addr = conns[0].RemoteMultiaddr()
			ev.Inbound = conns[0].Stat().Direction == network.DirInbound
		}
		n.publish(ev)
	case network.NotConnected:
		n.publish(PeerDisconnected{At: now(), Peer: e.Peer})
	}
}

type mdnsNotifee struct{ n *Node }

// mdnsDialDelay is how long the peer with the larger ID waits for the
// other to dial, after mDNS found them both.
const mdnsDialDelay = 2 * time.Second

// HandlePeerFound connects to a peer mDNS found. Two nodes usually find
// each other at the same moment, and if both dial, TCP's simultaneous open
// (libp2p dials from its listening port) can leave neither with a
// connection. So the node with the smaller peer ID dials at once, and the
// other dials only if no connection came within mdnsDialDelay.
func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.id || n.ctx.Err() != nil {
		return
	}
	n.publish(PeerDiscovered{At: now(), Peer: ai.ID, Addrs: ai.Addrs, Source: "mdns"})
	n.wg.Go(func() {
		if n.id > ai.ID {
			t := time.NewTimer(mdnsDialDelay)
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if n.host.Network().Connectedness(ai.ID) == network.Connected {
				return
			}
		}
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		defer cancel()
		if err := n.host.Connect(ctx, ai); err != nil {
			n.log.Debug("cannot connect to a peer mDNS found", "peer", ai.ID, "error", err)
		}
	})
}

func (n *Node) publish(ev Event) { n.bus.publish(ev) }

// Subscribe returns a subscription to the node's events from now on,
// holding up to buffer events for a slow subscriber (0 means
// DefaultSubscriptionBuffer). Close it when done.
func (n *Node) Subscribe(buffer int) *Subscription { return n.bus.subscribe(buffer, nil) }

// watchBackend publishes the backend's state, and then each change of it,
// as BackendState events, and logs each change once. A backend that is no
// core.StateReporter is up until Close.
func (n *Node) watchBackend() {
	name := n.backend.Info().Name
	r, ok := n.backend.(core.StateReporter)
	if !ok {
		n.publish(BackendState{At: now(), Backend: name, State: BackendUp})
		return
	}
	changes := r.StateChanges(n.ctx) // before State: no change is missed
	n.publish(backendState(name, r.State()))
	n.wg.Go(func() {
		for st := range changes {
			n.publish(backendState(name, st))
			switch st.State {
			case core.StateUp:
				n.log.Info("the storage backend is up", "backend", name)
			case core.StateFailed:
				n.log.Error("the storage backend has failed and refuses every call", "backend", name, "detail", st.Detail)
			default:
				n.log.Warn("the storage backend is "+st.State.String(), "backend", name, "detail", st.Detail)
			}
		}
	})
}

func backendState(name string, st core.BackendState) BackendState {
	return BackendState{At: now(), Backend: name, State: st.State.String(), Detail: st.Detail}
}

// BackendState returns the backend's state: up, unless the backend reports
// otherwise (see core.StateReporter).
func (n *Node) BackendState() core.BackendState {
	if r, ok := n.backend.(core.StateReporter); ok {
		return r.State()
	}
	return core.BackendState{}
}

// CallStats returns the figures of the backend's calls to another process
// (a storage plugin's), and ok false when the backend makes none (see
// core.CallReporter).
func (n *Node) CallStats() (stats core.CallStats, ok bool) {
	if r, ok := n.backend.(core.CallReporter); ok {
		return r.CallStats()
	}
	return core.CallStats{}, false
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.id }

// Host is the node's libp2p host, for protocols of the application's own.
func (n *Node) Host() host.Host { return n.host }

// Datastore returns the admitted backend, for applications that keep their
// own data next to the DHT's (the DHT's data lives under DHTNamespace in
// it, synced collections under SyncNamespace and the node's own under
// NodeNamespace). The node closes it at Close.
func (n *Node) Datastore() core.Backend { return n.backend }

// Records is the node's local view of the DHT's value records.
func (n *Node) Records() *core.RecordStore { return n.records }

// Providers is the node's local view of the DHT's provider records.
func (n *Node) Providers() *core.ProviderStore { return n.providers }

// SyncInbound is the node's bound on the reconciliation sessions peers
// start with it. A transport that carries sessions besides the node's
// libp2p streams takes their slots from it (Admit, then Slot.Conn), so
// the bounds hold for the whole node.
func (n *Node) SyncInbound() *replica.Inbound { return n.inbound }

// Info describes a running node.
type Info struct {
	ID      peer.ID
	Agent   string
	Addrs   []ma.Multiaddr // listen addresses, each ending in /p2p/<ID>
	Prefix  protocol.ID
	Mode    ModeInfo
	Backend core.Info
	// BackendState is the backend's state: up, down, restarting or failed.
	BackendState core.BackendState
	Storage      string // the storage URL, redacted
	Admission    *core.Admission
	// Refused counts the writes from peers the node refused, by reason
	// (see Refused).
	Refused map[string]uint64
}

// Info describes the node.
func (n *Node) Info() Info {
	return Info{
		ID:           n.id,
		Agent:        Agent,
		Addrs:        n.Addrs(),
		Prefix:       n.prefix,
		Mode:         n.Mode(),
		Backend:      n.backend.Info(),
		BackendState: n.BackendState(),
		Storage:      redact(n.cfg.Storage),
		Admission:    n.admission,
		Refused:      n.Refused(),
	}
}

// Refused counts the writes and requests from peers that the node refused
// since it started, by reason: RefusedPutRate, RefusedTotalRecords and the
// other Refused constants. A reason with none is left out.
func (n *Node) Refused() map[string]uint64 { return n.quota.refusedCounts() }

// Accepted counts the writes from peers that the node accepted since it
// started: value records (a PUT_VALUE) and provider records of other peers
// (an ADD_PROVIDER, or one the DHT learnt).
func (n *Node) Accepted() Accepted { return n.quota.acceptedCounts() }

// Held returns what the node stores for other peers: the figures its
// quota bounds. The node's own records are not in them.
func (n *Node) Held() Held { return n.quota.heldCounts() }

// Addrs returns the node's listen addresses, each ending in /p2p/<ID>, so
// another node can dial or bootstrap from any of them.
func (n *Node) Addrs() []ma.Multiaddr {
	self, _ := ma.NewComponent("p2p", n.id.String())
	var out []ma.Multiaddr
	for _, a := range n.host.Addrs() {
		out = append(out, a.Encapsulate(self.Multiaddr()))
	}
	return out
}

// Close stops the node: mDNS, the DHT (which flushes its buffered provider
// records to the backend), the host, and then the backend. It is safe to
// call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		errs = append(errs, n.closeSyncs())
		if n.cancel != nil {
			n.cancel()
		}
		if n.mdns != nil {
			errs = append(errs, n.mdns.Close())
		}
		n.mu.Lock()
		if n.dht != nil {
			errs = append(errs, n.dht.Close())
		}
		n.mu.Unlock()
		if n.host != nil {
			errs = append(errs, n.host.Close())
		}
		n.wg.Wait()
		if n.backend != nil {
			n.publish(BackendState{At: now(), Backend: n.backend.Info().Name, State: BackendDown, Detail: "the node closed"})
			errs = append(errs, n.backend.Close())
		}
		n.bus.close()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
