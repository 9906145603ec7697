package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultProvideValidity is how long a provider record lasts unless renewed:
// the value the Amino DHT uses.
const DefaultProvideValidity = 48 * time.Hour

// providersPrefix is the datastore prefix of every provider record.
const providersPrefix = "/" + providersNamespace + "/"

// Provider is one peer that provides a key.
type Provider struct {
	ID    peer.ID
	Added time.Time // when the record was written; it expires a validity later
}

// ProviderStore keeps provider records in a datastore, laid out exactly as
// go-libp2p-kad-dht v0.42's records.ProviderManager lays them out:
// "/providers/<base32 key>/<base32 peer ID>" holding the write time as a
// varint of Unix nanoseconds. A node handing the same datastore to the DHT
// (dht.ProviderDatastore) sees the DHT's flushed provider records here, and
// the DHT sees these (after its read cache for the key expires).
//
// Records older than the validity are expired: no method returns them, and
// CollectExpired deletes them.
type ProviderStore struct {
	d        ds.Batching
	validity time.Duration
}

// NewProviderStore returns a ProviderStore over d whose records last
// validity; a non-positive validity means DefaultProvideValidity.
func NewProviderStore(d ds.Batching, validity time.Duration) *ProviderStore {
	if validity <= 0 {
		validity = DefaultProvideValidity
	}
	return &ProviderStore{d: d, validity: validity}
}

func providerKeyPrefix(key []byte) string {
	return providersPrefix + b32.EncodeToString(key)
}

func providerKey(key []byte, p peer.ID) ds.Key {
	return ds.RawKey(providerKeyPrefix(key) + "/" + b32.EncodeToString([]byte(p)))
}

func encodeTime(t time.Time) []byte {
	return binary.AppendVarint(nil, t.UnixNano())
}

func decodeTime(b []byte) (time.Time, error) {
	ns, n := binary.Varint(b)
	if n <= 0 {
		return time.Time{}, errors.New("bad provider record time")
	}
	return time.Unix(0, ns), nil
}

// parseProviderKey splits a provider datastore key into the provided key and
// the provider's peer ID.
func parseProviderKey(dsKey string) ([]byte, peer.ID, error) {
	rest, ok := strings.CutPrefix(dsKey, providersPrefix)
	if !ok {
		return nil, "", fmt.Errorf("%q is not a provider record key", dsKey)
	}
	k, p, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, "", fmt.Errorf("%q is not a provider record key", dsKey)
	}
	key, err := b32.DecodeString(k)
	if err != nil {
		return nil, "", fmt.Errorf("provider record key %q: %w", dsKey, err)
	}
	pb, err := b32.DecodeString(p)
	if err != nil {
		return nil, "", fmt.Errorf("provider record key %q: %w", dsKey, err)
	}
	id, err := peer.IDFromBytes(pb)
	if err != nil {
		return nil, "", fmt.Errorf("provider record key %q: %w", dsKey, err)
	}
	return key, id, nil
}

// Add records that p provides key, as of now.
func (s *ProviderStore) Add(ctx context.Context, key []byte, p peer.ID) error {
	return s.AddAt(ctx, key, p, time.Now())
}

// AddAt records that p provides key, as of t; the record expires a validity
// after t.
func (s *ProviderStore) AddAt(ctx context.Context, key []byte, p peer.ID, t time.Time) error {
	if len(key) == 0 {
		return Errorf(ErrInvalidKey, "a provided key may not be empty")
	}
	if err := p.Validate(); err != nil {
		return Errorf(ErrInvalidKey, "the provider is not a valid peer ID: %v", err)
	}
	return s.d.Put(ctx, providerKey(key, p), encodeTime(t))
}

// Remove deletes the record that p provides key. Removing a missing record is
// not an error.
func (s *ProviderStore) Remove(ctx context.Context, key []byte, p peer.ID) error {
	return s.d.Delete(ctx, providerKey(key, p))
}

func (s *ProviderStore) expired(added, now time.Time) bool {
	return now.Sub(added) > s.validity
}

// Providers returns the unexpired providers of key, sorted by peer ID.
func (s *ProviderStore) Providers(ctx context.Context, key []byte) ([]Provider, error) {
	now := time.Now()
	var out []Provider
	for e, err := range queryEntries(ctx, s.d, dsq.Query{Prefix: providerKeyPrefix(key)}) {
		if err != nil {
			return nil, err
		}
		_, id, err := parseProviderKey(e.Key)
		if err != nil {
			continue
		}
		added, err := decodeTime(e.Value)
		if err != nil || s.expired(added, now) {
			continue
		}
		out = append(out, Provider{ID: id, Added: added})
	}
	slices.SortFunc(out, func(a, b Provider) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out, nil
}

// ProvidedBy yields every key that p provides, in the datastore's key order.
// The node passes its own ID to list the keys it provides.
func (s *ProviderStore) ProvidedBy(ctx context.Context, p peer.ID) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		now := time.Now()
		for e, err := range queryEntries(ctx, s.d, dsq.Query{Prefix: providersPrefix, Orders: []dsq.Order{dsq.OrderByKey{}}}) {
			if err != nil {
				yield(nil, err)
				return
			}
			key, id, err := parseProviderKey(e.Key)
			if err != nil || id != p {
				continue
			}
			added, err := decodeTime(e.Value)
			if err != nil || s.expired(added, now) {
				continue
			}
			if !yield(key, nil) {
				return
			}
		}
	}
}

// CollectExpired deletes every expired or malformed provider record and says
// how many it deleted.
func (s *ProviderStore) CollectExpired(ctx context.Context) (int, error) {
	now := time.Now()
	var doomed []ds.Key
	for e, err := range queryEntries(ctx, s.d, dsq.Query{Prefix: providersPrefix}) {
		if err != nil {
			return 0, err
		}
		added, err := decodeTime(e.Value)
		if _, _, kerr := parseProviderKey(e.Key); kerr != nil || err != nil || s.expired(added, now) {
			doomed = append(doomed, ds.RawKey(e.Key))
		}
	}
	if len(doomed) == 0 {
		return 0, nil
	}
	b, err := s.d.Batch(ctx)
	if err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := b.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return 0, err
	}
	return len(doomed), nil
}
