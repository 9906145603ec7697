package replica

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
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
	DefaultBoundsRule          = BoundsOldestFirst
	// MaxNameSize is the longest collection name.
	MaxNameSize = 128
)

// Settings define a synced collection. Every replica of a collection has
// the same settings: they are part of its identity (its Digest), so nodes
// that join one name with different writers or bounds replicate different
// collections and never mix their records.
//
// Settings are one value with one text form, which every program and file
// that gives a collection's settings uses: the keys of the setting tags
// below name the fields in config.toml's [[sync]] tables, in the JSON of
// the control API and the gateway, and (as --max-records and so on) in the
// flags of netabase sync join; [Fields] lists them, and [Settings.Get],
// [Settings.Set] and the JSON methods convert. A size is a whole number of
// bytes, a duration is text such as "720h" (time.ParseDuration's form).
// A field left zero takes its default, so settings that give only a name
// and writers have the digest they had before the bounds had a text form.
//
// A field's tag gives its key and its key in the digest; a flag tag, when
// the flag is not the key with "-" for "_" ("-": no flag); a doc tag, one
// sentence for the file's comments and the flags' help.
type Settings struct {
	// Name is the collection's name: printable, without "/", at most
	// MaxNameSize bytes. It is the schema of every record of the
	// collection, and their record names start with it and "/".
	Name string `setting:"name,1" flag:"-" doc:"The collection's name."`
	// Writers, when not empty, are the only peers whose records the
	// collection holds. Empty means open membership: any peer may write
	// its own records, so throwaway identities can use up MaxRecords and
	// MaxBytes; use a writer list where that matters.
	Writers []peer.ID `setting:"writers,2" flag:"writer" doc:"The peer IDs that may write to it; empty: any peer may write its own records."`
	// MaxRecordsPerWriter and MaxBytesPerWriter bound each writer's
	// records (tombstones included) and their envelope bytes: past either,
	// the writer's oldest records (by clock, then key) are dropped.
	MaxRecordsPerWriter int   `setting:"max_records_per_writer,3" doc:"Records (tombstones included) one writer may have in it; past it, the writer's oldest are dropped."`
	MaxBytesPerWriter   int64 `setting:"max_bytes_per_writer,4" doc:"Bytes of envelopes one writer may have in it; past it, the writer's oldest records are dropped."`
	// MaxRecords and MaxBytes bound the whole collection the same way.
	MaxRecords int   `setting:"max_records,5" doc:"Records the whole collection holds; past it, the oldest are dropped."`
	MaxBytes   int64 `setting:"max_bytes,6" doc:"Bytes of envelopes the whole collection holds; past it, the oldest records are dropped."`
	// TombstoneHorizon is how long a delete is remembered. After it, the
	// tombstone is dropped, and a replica that was offline longer than
	// the horizon and still holds the deleted value brings it back.
	TombstoneHorizon time.Duration `setting:"tombstone_horizon,7" doc:"How long a delete is remembered; a replica offline longer brings back what was deleted."`
	// BoundsRule is the rule the bounds keep records by (SYNC.md §3):
	// BoundsOldestFirst, the default, or BoundsSameSet. It came after the
	// digest was fixed: at its default, which normalized settings write
	// as 0, it is left out of the digest and of the JSON form, so settings
	// that leave it have the digest and the form they had.
	BoundsRule int `setting:"bounds_rule,8,omitdefault" doc:"1: past any bound the oldest records are dropped; 2: the same records give the same set in any order (a count bound drops the oldest; a record over a byte bound / its count bound is not taken)."`
}

// The rules the bounds keep records by (Settings.BoundsRule).
const (
	// BoundsOldestFirst: past any bound, count or bytes, the oldest
	// records are dropped. The set depends on the order records arrive in
	// when a key's newer version is dropped for bytes (SYNC.md §3).
	BoundsOldestFirst = 1
	// BoundsSameSet: past a count bound the oldest records are dropped,
	// and a record larger than MaxBytesPerWriter / MaxRecordsPerWriter or
	// MaxBytes / MaxRecords is not taken, so the byte bounds hold too; the
	// set is a function of the records seen, whatever their order.
	BoundsSameSet = 2
)

// defaults are the values of the fields a zero means the default of.
var defaults = map[string]int64{
	"max_records_per_writer": DefaultMaxRecordsPerWriter,
	"max_bytes_per_writer":   DefaultMaxBytesPerWriter,
	"max_records":            DefaultMaxRecords,
	"max_bytes":              DefaultMaxBytes,
	"tombstone_horizon":      int64(DefaultTombstoneHorizon),
	"bounds_rule":            DefaultBoundsRule,
}

// Normalize checks s, fills the bounds left zero with the defaults and
// sorts the writers; an optional field (the bounds' rule) at its default
// is set to zero, the form its default is left out of the digest in. An error about one field is a *FieldError.
func (s Settings) Normalize() (Settings, error) {
	if err := CheckName(s.Name); err != nil {
		return s, &FieldError{Key: "name", Err: err}
	}
	s.Writers = slices.Clone(s.Writers)
	slices.Sort(s.Writers)
	s.Writers = slices.Compact(s.Writers)
	for _, w := range s.Writers {
		if err := w.Validate(); err != nil {
			return s, &FieldError{Key: "writers", Err: core.Errorf(core.ErrInvalidKey, "writer %q is not a peer ID: %v", w, err)}
		}
	}
	if s.BoundsRule != 0 && s.BoundsRule != BoundsOldestFirst && s.BoundsRule != BoundsSameSet {
		return s, &FieldError{Key: "bounds_rule", Err: fmt.Errorf("is %d; give %d (past any bound the oldest records are dropped), %d (the same records give the same set) or 0 for the default %d", s.BoundsRule, BoundsOldestFirst, BoundsSameSet, DefaultBoundsRule)}
	}
	if s.BoundsRule == DefaultBoundsRule {
		s.BoundsRule = 0 // an optional field's default is written 0
	}
	v := reflect.ValueOf(&s).Elem()
	for _, f := range fields {
		if f.kind != kindInt && f.kind != kindDuration || f.Optional {
			continue
		}
		fv := v.Field(f.index)
		switch def := defaults[f.Key]; {
		case fv.Int() < 0:
			return s, &FieldError{Key: f.Key, Err: fmt.Errorf("is %s; give a positive bound, or 0 for the default %s", f.text(fv), f.text(reflect.ValueOf(def).Convert(fv.Type())))}
		case fv.Int() == 0:
			fv.SetInt(def)
		}
	}
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
//
// It is the SHA-256, cut to HashSize bytes, of "netabase/sync/v1\n" and
// the deterministic CBOR map of every field by its digest key: text for the
// name, text peer IDs for the writers, integers for the bounds and the
// horizon (in nanoseconds), and the bounds' rule unless it is the default.
// SYNC.md specifies it.
func (s Settings) Digest() [HashSize]byte {
	def := make(map[int]any, len(fields))
	v := reflect.ValueOf(s)
	for _, f := range fields {
		fv := v.Field(f.index)
		if f.left(fv) {
			continue
		}
		switch f.kind {
		case kindString:
			def[f.digest] = fv.String()
		case kindWriters:
			def[f.digest] = f.get(fv)
		default:
			def[f.digest] = fv.Int()
		}
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

// recordCap is the largest envelope a collection under BoundsSameSet
// takes: its byte bounds divided by its count bounds, so that the count
// bounds keep the byte bounds too. Under BoundsOldestFirst it is the
// smaller byte bound. s must be normalized.
func (s Settings) recordCap() int64 {
	if s.BoundsRule == BoundsSameSet {
		return min(s.MaxBytesPerWriter/int64(s.MaxRecordsPerWriter), s.MaxBytes/int64(s.MaxRecords))
	}
	return min(s.MaxBytesPerWriter, s.MaxBytes)
}

// allows reports whether the collection takes records written by w.
func (s Settings) allows(w peer.ID) bool {
	if len(s.Writers) == 0 {
		return true
	}
	_, ok := slices.BinarySearch(s.Writers, w)
	return ok
}
