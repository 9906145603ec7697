package replica

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
)

// The defaults of a collection's bounds.
const (
	DefaultMaxRecordsPerWriter = 100_000
	DefaultMaxBytesPerWriter   = 256 << 20
	DefaultMaxRecords          = 1_000_000
	DefaultMaxBytes            = 1 << 30
	DefaultTombstoneHorizon    = 30 * 24 * time.Hour
	// MaxNameSize is the longest collection name.
	MaxNameSize = 128
)

// Settings define a synced collection. Every replica of a collection has
// the same settings: they are part of its identity (its Digest), so nodes
// that join one name with different writers or bounds replicate different
// collections and never mix their records.
type Settings struct {
	// Name is the collection's name: printable, without "/", at most
	// MaxNameSize bytes. It is the schema of every record of the
	// collection, and their record names start with it and "/".
	Name string
	// Writers, when not empty, are the only peers whose records the
	// collection holds. Empty means open membership: any peer may write
	// its own records, so throwaway identities can use up MaxRecords and
	// MaxBytes; use a writer list where that matters.
	Writers []peer.ID
	// MaxRecordsPerWriter and MaxBytesPerWriter bound each writer's
	// records (tombstones included) and their envelope bytes: past either,
	// the writer's oldest records (by clock, then key) are dropped.
	MaxRecordsPerWriter int
	MaxBytesPerWriter   int64
	// MaxRecords and MaxBytes bound the whole collection the same way.
	MaxRecords int
	MaxBytes   int64
	// TombstoneHorizon is how long a delete is remembered. After it, the
	// tombstone is dropped, and a replica that was offline longer than
	// the horizon and still holds the deleted value brings it back.
	TombstoneHorizon time.Duration
}

// Normalize checks s, fills the bounds left zero with the defaults and
// sorts the writers.
func (s Settings) Normalize() (Settings, error) {
	if err := CheckName(s.Name); err != nil {
		return s, err
	}
	s.Writers = slices.Clone(s.Writers)
	slices.Sort(s.Writers)
	s.Writers = slices.Compact(s.Writers)
	for _, w := range s.Writers {
		if err := w.Validate(); err != nil {
			return s, core.Errorf(core.ErrInvalidKey, "writer %q is not a peer ID: %v", w, err)
		}
	}
	fill := func(name string, v *int64, def int64) error {
		switch {
		case *v < 0:
			return fmt.Errorf("collection %s: %s is %d; give a positive bound, or 0 for the default %d", s.Name, name, *v, def)
		case *v == 0:
			*v = def
		}
		return nil
	}
	recsW, recs, horizon := int64(s.MaxRecordsPerWriter), int64(s.MaxRecords), int64(s.TombstoneHorizon)
	for _, f := range []struct {
		name string
		v    *int64
		def  int64
	}{
		{"MaxRecordsPerWriter", &recsW, DefaultMaxRecordsPerWriter},
		{"MaxBytesPerWriter", &s.MaxBytesPerWriter, DefaultMaxBytesPerWriter},
		{"MaxRecords", &recs, DefaultMaxRecords},
		{"MaxBytes", &s.MaxBytes, DefaultMaxBytes},
		{"TombstoneHorizon", &horizon, int64(DefaultTombstoneHorizon)},
	} {
		if err := fill(f.name, f.v, f.def); err != nil {
			return s, err
		}
	}
	s.MaxRecordsPerWriter, s.MaxRecords, s.TombstoneHorizon = int(recsW), int(recs), time.Duration(horizon)
	return s, nil
}

// CheckName reports whether name can name a synced collection.
func CheckName(name string) error {
	switch {
	case name == "" || len(name) > MaxNameSize:
		return core.Errorf(core.ErrInvalidKey, "a collection name is 1 to %d bytes, not %d", MaxNameSize, len(name))
	case !utf8.ValidString(name):
		return core.Errorf(core.ErrInvalidKey, "collection name %q is not UTF-8", name)
	case strings.ContainsRune(name, '/'):
		return core.Errorf(core.ErrInvalidKey, "collection name %q holds a \"/\"", name)
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }):
		return core.Errorf(core.ErrInvalidKey, "collection name %q holds a space or a character that is not printable", name)
	}
	return nil
}

// Digest identifies the collection's definition: its name, writers and
// bounds. Reconciliation and gossip take place only between replicas with
// the same digest. s must be normalized.
func (s Settings) Digest() [HashSize]byte {
	def := struct {
		Name                  string   `cbor:"1,keyasint"`
		Writers               []string `cbor:"2,keyasint"`
		MaxRecordsPerWriter   int      `cbor:"3,keyasint"`
		MaxBytesPerWriter     int64    `cbor:"4,keyasint"`
		MaxRecords            int      `cbor:"5,keyasint"`
		MaxBytes              int64    `cbor:"6,keyasint"`
		TombstoneHorizonNanos int64    `cbor:"7,keyasint"`
	}{s.Name, make([]string, len(s.Writers)), s.MaxRecordsPerWriter, s.MaxBytesPerWriter, s.MaxRecords, s.MaxBytes, int64(s.TombstoneHorizon)}
	for i, w := range s.Writers {
		def.Writers[i] = w.String()
	}
	b, err := encMode.Marshal(def)
	if err != nil {
		panic(err) // plain types always encode
	}
	sum := sha256.Sum256(append([]byte("netabase/sync/v1\n"), b...))
	var d [HashSize]byte
	copy(d[:], sum[:])
	return d
}

// Topic is the gossipsub topic of the collection.
func (s Settings) Topic() string {
	d := s.Digest()
	return "/netabase/sync/1/" + s.Name + "/" + hex.EncodeToString(d[:])
}

// allows reports whether the collection takes records written by w.
func (s Settings) allows(w peer.ID) bool {
	if len(s.Writers) == 0 {
		return true
	}
	_, ok := slices.BinarySearch(s.Writers, w)
	return ok
}
