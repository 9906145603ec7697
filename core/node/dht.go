package node

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	lru "github.com/hashicorp/golang-lru/simplelru"
	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/envelope"
)

// Mode is the DHT mode the node is configured with.
type Mode string

// The DHT modes.
const (
	// ModeAuto serves DHT requests unless the node learns (from AutoNAT)
	// that it is unreachable.
	ModeAuto Mode = config.ModeAuto
	// ModeClient only sends requests: other peers do not store records or
	// route queries through the node.
	ModeClient Mode = config.ModeClient
	// ModeServer sends and serves requests.
	ModeServer Mode = config.ModeServer
)

// ParseMode parses "auto", "client" or "server".
func ParseMode(s string) (Mode, error) {
	if !slices.Contains(config.Modes, s) {
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
	maxAge, _ := n.cfg.MaxRecordAge() // checked by New
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
		dht.MaxRecordAge(maxAge),
		dht.OnRequestHook(n.onRequest),
		dht.BootstrapPeers(n.bootstrap...),
	}
	if n.prefix != dht.DefaultPrefix {
		// The /ipfs network allows only the pk and ipns namespaces, and
		// kad-dht enforces it; everywhere else netabase records live.
		opts = append(opts, dht.NamespacedValidator(envelope.Namespace, cachedValidator{n.opens}))
		for ns, v := range n.cfg.Validators {
			opts = append(opts, dht.NamespacedValidator(ns, v))
		}
	}
	d, err := dht.New(n.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot start the DHT: %w", err)
	}
	n.store.setValidator(d.Validator)
	return d, nil
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
// it. An ADD_PROVIDER that kad-dht will accept is written through to the
// store at once: kad-dht buffers provider writes in memory (up to 256, or
// until it closes), and the node's ProviderStore, and a crash, must not
// depend on that buffer.
func (n *Node) onRequest(ctx context.Context, s network.Stream, req *pb.Message) {
	if req.GetType() != pb.Message_ADD_PROVIDER {
		return
	}
	key := req.GetKey()
	if len(key) == 0 || len(key) > maxMultihashSize {
		return // kad-dht refuses it
	}
	if _, err := multihash.Cast(key); err != nil {
		// Not the multihash of a CID: no key anyone can look up by
		// CID, and no CID to report. kad-dht, which does not check,
		// stores it in its own time.
		return
	}
	from := s.Conn().RemotePeer()
	for _, pi := range pb.PBPeersToPeerInfos(req.GetProviderPeers()) {
		// The rules kad-dht applies: a peer announces only itself, with
		// at least one address.
		if pi.ID != from || len(pi.Addrs) == 0 {
			continue
		}
		if err := n.providers.Add(ctx, key, from); err != nil {
			n.log.Warn("cannot store a provider record", "provider", from, "error", err)
			continue
		}
		n.publish(ProviderAdded{At: now(), Key: cid.NewCidV1(cid.Raw, key), Provider: from})
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
