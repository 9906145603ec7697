package page

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/gateway/gatewayclient"
	"github.com/netabase/netabase/core/replica"
)

// SyncNamespace is the key prefix under which the page keeps the replicas
// of the collections it joins in its backend, one namespace per
// collection definition (its settings' digest), as a node does:
// replica.Namespace.
const SyncNamespace = replica.Namespace

// Options configure a Page. The zero value is a page with no gateway for
// records: FetchRecord is then unsupported.
type Options struct {
	// Gateway is the HTTP address of a daemon's gateway, such as
	// http://127.0.0.1:4180, whose record route FetchRecord reads;
	// empty: none.
	Gateway string
	// HTTPClient reaches Gateway; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Logger logs what the page's connections do; nil logs nothing.
	Logger *slog.Logger
}

// Page is a program with no libp2p host, such as a page in a browser, as
// a writer of synced collections: its identity, its clock, the backend it
// keeps its replicas in, and the collections it joined. It is the
// model.Network of such a program. Its methods are safe for concurrent
// use.
type Page struct {
	b     core.Backend
	id    Identity
	clock *envelope.Clock
	gw    *gatewayclient.Client
	log   *slog.Logger

	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	mu     sync.Mutex
	synced map[string]*Synced
}

// Open opens the page kept in b, the page's admitted store (IndexedDB in
// a browser): it loads the page's identity from b, creating it on first
// use (LoadIdentity). b belongs to the caller; Close does not close it.
// opts may be nil.
func Open(ctx context.Context, b core.Backend, opts *Options) (*Page, error) {
	if b == nil {
		return nil, errors.New("page: Open needs the page's backend, an admitted store")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	id, _, err := LoadIdentity(ctx, b)
	if err != nil {
		return nil, err
	}
	p := &Page{b: b, id: id, clock: envelope.NewClock(), log: o.Logger, synced: make(map[string]*Synced)}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if o.Gateway != "" {
		if p.gw, err = gatewayclient.New(o.Gateway, o.HTTPClient); err != nil {
			return nil, fmt.Errorf("page: Options.Gateway: %w", err)
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// ID is the page's peer ID: the writer of its records.
func (p *Page) ID() peer.ID { return p.id.ID() }

// Identity is the page's identity, which Identity.Export turns into text.
func (p *Page) Identity() Identity { return p.id }

// Datastore is the page's backend.
func (p *Page) Datastore() core.Backend { return p.b }

// Close leaves every collection the page joined. The backend stays open.
func (p *Page) Close() error {
	p.cancel()
	p.mu.Lock()
	all := slices.Collect(maps.Values(p.synced))
	clear(p.synced)
	p.mu.Unlock()
	for _, s := range all {
		s.close()
	}
	return nil
}

// ErrNoDHT is wrapped by PublishRecord's error, and by FetchRecord's for
// a page with no gateway: a page reaches no DHT of its own.
var ErrNoDHT = fmt.Errorf("%w: a page reaches no DHT", core.ErrUnsupported)

// PublishRecord is unsupported: a page has no DHT of its own, and a
// daemon's gateway takes no record but a synced collection's, over its
// sync endpoint. The error wraps core.ErrUnsupported (ErrNoDHT); write a
// synced collection's record instead (JoinSync), which reaches the
// network through its daemons.
func (p *Page) PublishRecord(_ context.Context, name, _ string, _ uint32, _ []byte) (string, error) {
	return "", fmt.Errorf("page: publishing record %q: %w; the gateway takes no record for the DHT: write it to a synced collection, which the page's daemons relay", name, ErrNoDHT)
}

// FetchRecord reads the record under key through the gateway of
// Options.Gateway (its GET /v1/record route), which finds it in the
// daemon's store or on the network, and verifies it as a node verifies a
// record from a peer (signed by the key's owner, for that key). The error
// wraps core.ErrNotFound when the daemon finds none, core.ErrRejected
// when what it served does not verify, and core.ErrUnsupported
// (ErrNoDHT) when the page has no gateway.
func (p *Page) FetchRecord(ctx context.Context, key string) (*envelope.Envelope, error) {
	if p.gw == nil {
		return nil, fmt.Errorf("page: fetching record %s: %w and has no gateway to ask: set Options.Gateway to a daemon's gateway address", key, ErrNoDHT)
	}
	rec, err := p.gw.Record(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("page: fetching record %s: %w", key, err)
	}
	return rec.Envelope, nil
}

// ReceivedRecords yields nothing, and returns when ctx ends: no record of
// the DHT reaches a page unasked. A synced collection's records reach it
// through the collection's Watch.
func (p *Page) ReceivedRecords(ctx context.Context) iter.Seq[*envelope.Envelope] {
	return func(func(*envelope.Envelope) bool) {
		select {
		case <-ctx.Done():
		case <-p.ctx.Done():
		}
	}
}

// JoinSync starts replicating the synced collection the settings define,
// kept in the page's backend and synced with the daemons o names, and
// returns it. Joining a collection already joined with the same settings
// returns it (o is then not used); with other settings, it is an error
// (Leave it first). A later join with the same settings, in this or a
// later session of the page, finds the replica again.
func (p *Page) JoinSync(ctx context.Context, settings replica.Settings, o SyncOptions) (*Synced, error) {
	settings, err := settings.Normalize()
	if err != nil {
		return nil, err
	}
	if p.ctx.Err() != nil {
		return nil, fmt.Errorf("page: %w", core.ErrClosed)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.synced[settings.Name]; ok {
		d := settings.Digest()
		if err := s.r.Settings().Agree("this join", settings, hex.EncodeToString(d[:])); err != nil {
			return nil, fmt.Errorf("%w; the page has joined it already: leave it first to join it with other settings", err)
		}
		return s, nil
	}
	r, err := replica.OpenIn(ctx, p.b, settings)
	if err != nil {
		return nil, err
	}
	s := newSynced(p, r, o)
	p.synced[settings.Name] = s
	return s, nil
}

// SyncedCollection returns the joined collection called name; the error
// wraps core.ErrNotFound when the page has not joined it.
func (p *Page) SyncedCollection(name string) (*Synced, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.synced[name]
	if !ok {
		return nil, core.Errorf(core.ErrNotFound, "the page has not joined synced collection %q", name)
	}
	return s, nil
}

// leave forgets s, at its Leave.
func (p *Page) leave(s *Synced) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.synced[s.Name()] == s {
		delete(p.synced, s.Name())
	}
}
