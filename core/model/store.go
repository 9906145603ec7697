package model

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// ErrCorrupt is wrapped by the error for stored bytes that do not decode:
// a value, an index entry or a schema descriptor. The error names the
// collection and the key.
var ErrCorrupt = errors.New("corrupt stored data")

// Network is what collections need of a node to publish, fetch and watch
// records. *node.Node implements it; tests use a fake.
type Network interface {
	// ID is this node's peer ID, the owner of the records it publishes.
	ID() peer.ID
	// PublishRecord seals value as this node's record called name, stores
	// it locally and puts it to the DHT. It returns the record key.
	PublishRecord(ctx context.Context, name, schema string, version uint32, value []byte) (key string, err error)
	// FetchRecord returns the newest valid envelope under key, from the
	// network or the local store; the error wraps core.ErrNotFound when
	// there is none.
	FetchRecord(ctx context.Context, key string) (*envelope.Envelope, error)
	// ReceivedRecords yields every netabase record envelope accepted from
	// another peer, until ctx ends.
	ReceivedRecords(ctx context.Context) iter.Seq[*envelope.Envelope]
	// Datastore is the node's backend.
	Datastore() core.Backend
}

// Store holds the typed collections kept in one backend. Open collections
// with [Open]. A Store is safe for concurrent use.
//
// All writers of a collection must go through one Store: it serialises them
// per collection, which is what keeps indexes exact on backends without
// transactions. The backend belongs to the caller; Close does not close it.
type Store struct {
	b   ds.Batching
	txn ds.TxnFeature // b's transactions, or nil
	net Network

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	pumps  sync.WaitGroup

	mu      sync.Mutex
	colls   map[string]*state
	pumping bool
}

// state is what every Collection value opened on one Store under one name
// shares.
type state struct {
	typ     reflect.Type
	key     reflect.Type
	version uint32
	floor   uint32     // see descriptor.Floor
	sync    *syncState // nil for a local collection
	mu      sync.Mutex
	hub     hub
}

// New returns a Store over the node's datastore whose collections can
// publish, fetch and watch records through the node.
func New(n Network) *Store { return newStore(n.Datastore(), n) }

// NewLocal returns a Store over b without a network: Publish and Fetch
// report core.ErrUnsupported, and Watch sees local changes only.
func NewLocal(b ds.Batching) *Store { return newStore(b, nil) }

func newStore(b ds.Batching, n Network) *Store {
	s := &Store{b: b, net: n, colls: make(map[string]*state)}
	s.txn, _ = b.(ds.TxnFeature)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close ends every watch and stops receiving records from the network.
// Operations on the Store's collections afterwards return core.ErrClosed.
// The backend stays open.
func (s *Store) Close() error {
	s.cancel()
	s.pumps.Wait()
	return nil
}

func (s *Store) closed() error {
	if s.ctx.Err() != nil {
		return core.ErrClosed
	}
	return nil
}

// startPump starts, once, the goroutine that hands records received from
// the network to the watchers of their collection. The caller holds s.mu.
func (s *Store) startPump() {
	if s.net == nil || s.pumping {
		return
	}
	s.pumping = true
	// Subscribing here, before Open returns, means no record received
	// after Open is lost to a watcher (with a node, which subscribes when
	// ReceivedRecords is called).
	received := s.net.ReceivedRecords(s.ctx)
	s.pumps.Go(func() {
		for env := range received {
			s.mu.Lock()
			st := s.colls[env.Schema]
			s.mu.Unlock()
			if st != nil {
				st.hub.publish(change{kind: Received, env: env})
			}
		}
	})
}

// validName reports whether name can name a collection: 1 to 64 letters,
// digits, '_', '-' and '.', not starting with '.'. It appears in datastore
// keys and record names.
func validName(name string) error {
	if len(name) == 0 || len(name) > 64 || name[0] == '.' {
		return fmt.Errorf("model: collection name %q: use 1 to 64 letters, digits, '_', '-' or '.', not starting with '.'", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("model: collection name %q: %q is not allowed; use letters, digits, '_', '-' or '.'", name, r)
		}
	}
	return nil
}
