package node

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/simplelru"

	"github.com/netabase/netabase/core/envelope"
)

// openCache remembers the envelopes that opened, by a hash of their key
// and bytes. Opening verifies a signature; a lookup receives the same
// record from up to 20 peers, and the DHT, the guard and the node each open
// a record they store, so without it one record is verified dozens of
// times. Opening is a pure function of the key and the bytes, so a
// remembered result is the result. The cache holds at most
// openCacheBytes of envelope values.
type openCache struct {
	mu    sync.Mutex
	lru   *lru.LRU
	bytes int
}

const (
	openCacheEntries = 4096
	openCacheBytes   = 16 << 20
)

func newOpenCache() *openCache {
	c := &openCache{}
	// NewLRU fails only for a non-positive size.
	c.lru, _ = lru.NewLRU(openCacheEntries, func(_, v any) { c.bytes -= envelopeSize(v.(*envelope.Envelope)) })
	return c
}

func envelopeSize(e *envelope.Envelope) int {
	return len(e.Key) + len(e.Value) + len(e.PublicKey) + len(e.Signature) + len(e.Schema)
}

// open is envelope.Open, remembered. The envelope returned is the caller's
// own copy.
func (c *openCache) open(key string, data []byte) (*envelope.Envelope, error) {
	// The key's length comes first, so that no other key and bytes hash
	// the same: a key may hold any byte, a NUL too.
	h := sha256.New()
	h.Write(binary.AppendUvarint(nil, uint64(len(key))))
	h.Write([]byte(key))
	h.Write(data)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	c.mu.Lock()
	v, ok := c.lru.Get(sum)
	c.mu.Unlock()
	if ok {
		return clone(v.(*envelope.Envelope)), nil
	}
	e, err := envelope.Open(key, data)
	if err != nil {
		return nil, err
	}
	if size := envelopeSize(e); size <= openCacheBytes/16 {
		kept := clone(e)
		c.mu.Lock()
		if !c.lru.Contains(sum) {
			c.lru.Add(sum, kept)
			c.bytes += size
			for c.bytes > openCacheBytes {
				c.lru.RemoveOldest()
			}
		}
		c.mu.Unlock()
	}
	return e, nil
}

func clone(e *envelope.Envelope) *envelope.Envelope {
	c := *e
	c.Value = slices.Clone(e.Value)
	c.PublicKey = slices.Clone(e.PublicKey)
	c.Signature = slices.Clone(e.Signature)
	return &c
}

// cachedValidator is envelope.Validator opening through the cache.
type cachedValidator struct{ c *openCache }

// Validate accepts value for key when envelope.Validator does: when it
// opens as an envelope not dated too far ahead.
func (v cachedValidator) Validate(key string, value []byte) error {
	e, err := v.c.open(key, value)
	if err != nil {
		return err
	}
	return e.CheckClock(time.Now())
}

// Select picks what envelope.Validator.Select picks: the newest valid
// envelope by clock, ties to the larger signature.
func (v cachedValidator) Select(key string, values [][]byte) (int, error) {
	return envelope.Select(key, values, v.c.open)
}
