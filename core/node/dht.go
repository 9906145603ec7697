package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"

	lru "github.com/hashicorp/golang-lru/simplelru"
	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// Mode is the DHT mode the node is configured with.
type Mode string

// The DHT modes.
const (
	// ModeAuto serves DHT requests unless the node learns (from AutoNAT)
	// that it is unreachable.
	ModeAuto Mode = "auto"
	// ModeClient only sends requests: other peers do not store records or
	// route queries through the node.
	ModeClient Mode = "client"
	// ModeServer sends and serves requests.
	ModeServer Mode = "server"
)

// Modes lists the valid modes.
var Modes = []Mode{ModeAuto, ModeClient, ModeServer}

// ParseMode parses "auto", "client" or "server".
func ParseMode(s string) (Mode, error) {
	if !slices.Contains(Modes, Mode(s)) {
		return "", core.Errorf(core.ErrInvalidKey, "%q is not a DHT mode; use auto, client or server", s)
	}
	return Mode(s), nil
}

func (m Mode) dhtOption() dht.ModeOpt {
	switch m {
	case ModeClient:
		return dht.ModeClient
	case ModeServer:
		return dht.ModeServer
	}
	// Serve while reachability is unknown, as on a LAN or a private
	// network; AutoNAT finding the node unreachable makes it a client.
	return dht.ModeAutoServer
}

// kadProtocol is the DHT protocol the node speaks.
func (n *Node) kadProtocol() protocol.ID { return n.prefix + "/kad/1.0.0" }

// newDHT creates a DHT on the node's host and guarded store.
func (n *Node) newDHT(m Mode) (*dht.IpfsDHT, error) {
	opts := []dht.Option{
		dht.ProtocolPrefix(n.prefix),
		dht.Mode(m.dhtOption()),
		dht.Datastore(n.store),
		dht.ValueDatastore(n.store),
		dht.ProviderDatastore(n.store),
		// No read cache in front of the provider records: the node writes
		// its own provider records (and removes them) straight into the
		// store, and the DHT must see those writes at once.
		dht.ProviderManagerOpts(records.Cache(noCache{})),
		dht.MaxRecordAge(n.cfg.MaxRecordAge),
		dht.OnRequestHook(n.onRequest),
		dht.BootstrapPeers(n.bootstrap...),
	}
	if n.prefix != dht.DefaultPrefix {
		// The /ipfs network allows only the pk and ipns namespaces, and
		// kad-dht enforces it; everywhere else netabase records live.
		opts = append(opts, dht.Validator(n.validators()))
	}
	d, err := dht.New(n.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot start the DHT: %w", err)
	}
	n.store.setValidator(d.Validator)
	return d, nil
}

// validators are the record validators of a network other than /ipfs: the
// netabase namespace's, the application's, and IPFS's pk and ipns only when
// Config.IPFSRecords asks for them. A record of any other namespace is
// refused, so no peer can fill the node with records nobody reads.
func (n *Node) validators() record.NamespacedValidator {
	v := record.NamespacedValidator{envelope.Namespace: cachedValidator{n.opens}}
	maps.Copy(v, n.cfg.Validators)
	if n.cfg.IPFSRecords {
		v["pk"] = record.PublicKeyValidator{}
		v["ipns"] = ipns.Validator{KeyBook: n.host.Peerstore()}
	}
	return v
}

func (n *Node) setDHT(d *dht.IpfsDHT) {
	n.dht = d
	// The messenger is only an encoder over the DHT's message sender, and
	// NewProtocolMessenger fails only on a bad option.
	n.messenger, _ = pb.NewProtocolMessenger(d.MessageSender())
}

// ErrClosed is returned by every operation on a closed node. It matches
// core.ErrClosed.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string { return "the node is closed" }
func (closedError) Unwrap() error { return core.ErrClosed }

// use returns the DHT for an operation, holding it until release is called,
// and a context that also ends when the node closes.
func (n *Node) use(ctx context.Context) (d *dht.IpfsDHT, opCtx context.Context, release func(), err error) {
	n.mu.RLock()
	if n.ctx.Err() != nil || n.dht == nil {
		n.mu.RUnlock()
		return nil, nil, nil, ErrClosed
	}
	opCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.ctx, cancel)
	return n.dht, opCtx, func() {
		stop()
		cancel()
		n.mu.RUnlock()
	}, nil
}

// onRequest sees every DHT request this node serves, before kad-dht handles
// it, and is where the node's quota meets the sending peer. kad-dht offers
// no way to refuse a request here, so the node refuses one by emptying it
// as kad-dht itself would refuse it: a PUT_VALUE without its record, an
// ADD_PROVIDER without its providers. The peer gets a failure.
func (n *Node) onRequest(ctx context.Context, s network.Stream, req *pb.Message) {
	from := s.Conn().RemotePeer()
	switch req.GetType() {
	case pb.Message_PUT_VALUE:
		n.onPutValue(from, req)
	case pb.Message_ADD_PROVIDER:
		n.onAddProvider(ctx, from, req)
	}
}

// onPutValue refuses a PUT_VALUE over the sender's rate or of a namespace
// the node has no validator for, and otherwise tells the quota who sent the
// record, which the guard then admits or refuses.
func (n *Node) onPutValue(from peer.ID, req *pb.Message) {
	key := string(req.GetRecord().GetKey())
	if !n.quota.allowPut(from) {
		req.Record = nil
		return
	}
	if ns, _, err := cutNamespace(key); err == nil && n.prefix != dht.DefaultPrefix && !n.accepts(ns) {
		n.quota.refuse(from, RefusedNamespace)
		req.Record = nil
		return
	}
	if key != "" {
		n.quota.expect(key, from)
	}
}

// accepts says whether the node stores records of namespace ns.
func (n *Node) accepts(ns string) bool {
	switch ns {
	case envelope.Namespace:
		return true
	case "pk", "ipns":
		return n.cfg.IPFSRecords
	}
	_, ok := n.cfg.Validators[ns]
	return ok
}

// onAddProvider refuses an ADD_PROVIDER over the sender's rate, of a key
// that is not a multihash, or past the provider quota; it trims the
// addresses kept to quota.max_provider_addrs. One it accepts is written
// through to the store at once: kad-dht buffers provider writes in memory
// (up to 256, or until it closes), and the node's ProviderStore, and a
// crash, must not depend on that buffer.
func (n *Node) onAddProvider(ctx context.Context, from peer.ID, req *pb.Message) {
	key := req.GetKey()
	if len(key) == 0 || len(key) > maxMultihashSize {
		return // kad-dht refuses it
	}
	if !n.quota.allowProvide(from) {
		req.ProviderPeers = nil
		return
	}
	if _, err := multihash.Cast(key); err != nil {
		// Not the multihash of a CID: no key anyone can look up by CID.
		// kad-dht does not check; the node refuses it.
		n.quota.refuse(from, RefusedProviderKey)
		req.ProviderPeers = nil
		return
	}
	stored := false
	for _, pp := range req.GetProviderPeers() {
		if max := n.cfg.Quota.MaxProviderAddrs; max > 0 && len(pp.Addrs) > max {
			pp.Addrs = pp.Addrs[:max]
		}
	}
	for _, pi := range pb.PBPeersToPeerInfos(req.GetProviderPeers()) {
		// The rules kad-dht applies: a peer announces only itself, with
		// at least one address.
		if pi.ID != from || len(pi.Addrs) == 0 {
			continue
		}
		if err := n.providers.Add(ctx, key, from); err != nil {
			if !errors.Is(err, ErrQuota) {
				n.log.Warn("cannot store a provider record", "provider", from, "error", err)
			}
			continue
		}
		stored = true
		n.publish(ProviderAdded{At: now(), Key: cid.NewCidV1(cid.Raw, key), Provider: from})
	}
	if !stored {
		req.ProviderPeers = nil
	}
}

// valueStored is the guard's report of a value record written to the store.
func (n *Node) valueStored(ctx context.Context, key string, value []byte) {
	var env *envelope.Envelope
	if ns, _, _ := cutNamespace(key); ns == envelope.Namespace {
		e, err := n.opens.open(key, value)
		if err != nil {
			return // not valid, so not a record anyone can read
		}
		env = e
		n.observe(e)
	}
	switch originOf(ctx) {
	case originLocal:
		n.publish(RecordStored{At: now(), Key: key, Envelope: env})
	case originFetched:
		n.publish(RecordReceived{At: now(), Key: key, Via: ViaFetch, Envelope: env})
	default:
		n.publish(RecordReceived{At: now(), Key: key, Via: ViaPut, Envelope: env})
	}
}

// noCache is a provider cache that holds nothing.
type noCache struct{}

var _ lru.LRUCache = noCache{}

func (noCache) Add(key, value any) bool        { return false }
func (noCache) Get(key any) (any, bool)        { return nil, false }
func (noCache) Contains(key any) bool          { return false }
func (noCache) Peek(key any) (any, bool)       { return nil, false }
func (noCache) Remove(key any) bool            { return false }
func (noCache) RemoveOldest() (any, any, bool) { return nil, nil, false }
func (noCache) GetOldest() (any, any, bool)    { return nil, nil, false }
func (noCache) Keys() []any                    { return nil }
func (noCache) Len() int                       { return 0 }
func (noCache) Purge()                         {}
func (noCache) Resize(int) int                 { return 0 }

// redact hides the password a storage URL may carry.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	return rawURL
}
