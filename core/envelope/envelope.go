// Package envelope defines netabase's signed records: the value of every
// record in the DHT's "netabase" namespace is an Envelope, signed by the
// peer that owns the record's key.
//
// A record key names its owner: "/netabase/<owner peer ID>/<name>". An
// envelope carries the schema name and version of its value, a hybrid
// logical clock timestamp, the owner's public key and a signature over all
// of it and the key, in deterministic CBOR. The [Validator] accepts an
// envelope only when it decodes strictly, is signed by the key's owner and
// names the key it is filed under, and is dated no more than MaxClockSkew
// ahead of the local clock; its Select keeps the newest. So nobody but the
// owner can replace a record, an old record cannot be replayed over a newer
// one, and a record dated far ahead cannot outrank its owner's later
// updates.
//
// # Clocks
//
// A node stamps its records with a [Clock], a hybrid logical clock, whose
// one duty that matters for records is to order each owner's versions: a
// node's new record must outrank every record it wrote before, even one
// written before a restart by a wall clock that ran ahead. So the node
// moves its clock past its own records in full ([Clock.Advance]). Another
// owner's record moves it at most MaxObservedSkew past the wall clock
// ([Clock.Observe]): enough to keep causal order between peers whose
// clocks agree to within that, never enough to carry a stranger's skew into
// the node's records. The validator accepts a record dated up to
// MaxClockSkew ahead of the validating node's clock, and a record from
// further ahead is refused.
//
// The two bounds agree: unless a node itself wrote a record dated ahead,
// its records are dated at most MaxObservedSkew past its wall clock, so
// every peer whose clock is less than MaxClockSkew - MaxObservedSkew behind
// accepts them, whatever records the node has seen. The wide window for
// what others write costs nobody but its writer: a record dated ahead
// outranks only its own owner's later updates, until that owner's clock
// catches up.
//
// DESIGN.md places signed envelopes in core/model; they live here instead
// because both core/node (which registers the validator with the DHT) and
// core/model (which publishes typed values) need them, and model builds on
// node.
package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
)

// Namespace is the DHT record namespace of netabase records.
const Namespace = "netabase"

// Limits on what the validator accepts from the network.
const (
	// MaxSize is the largest encoded envelope accepted.
	MaxSize = 512 << 10
	// MaxNameSize is the longest record name accepted.
	MaxNameSize = 1 << 10
	// MaxClockSkew is how far ahead of the validating node's clock a
	// record's timestamp may be. A record dated further ahead is refused
	// until the node's clock catches up: accepted, it would outrank every
	// update its owner makes until then, and every node that observed its
	// clock would carry that skew into its own records.
	MaxClockSkew = time.Hour
	// MaxObservedSkew is how far past the wall clock another owner's
	// record may move a node's clock (see [Clock.Observe]). It is much
	// smaller than MaxClockSkew, so that the node's records stay within
	// the window of peers whose clocks lag its own.
	MaxObservedSkew = time.Second
)

// signingDomain separates netabase record signatures from any other use of
// a peer's key.
const signingDomain = "netabase/record/v1\n"

// Timestamp is a hybrid logical clock reading: wall time in Unix
// nanoseconds, and a counter that orders events within one wall time.
type Timestamp struct {
	Wall    int64  `cbor:"1,keyasint"`
	Logical uint32 `cbor:"2,keyasint"`
}

// Compare orders timestamps: -1 when t is earlier than o, 1 when later.
func (t Timestamp) Compare(o Timestamp) int {
	switch {
	case t.Wall < o.Wall:
		return -1
	case t.Wall > o.Wall:
		return 1
	case t.Logical < o.Logical:
		return -1
	case t.Logical > o.Logical:
		return 1
	}
	return 0
}

// Time is the wall-clock part of t.
func (t Timestamp) Time() time.Time { return time.Unix(0, t.Wall) }

func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d", t.Time().UTC().Format(time.RFC3339Nano), t.Logical)
}

// Clock is a hybrid logical clock: its readings never go backwards and move
// past every reading it observes, even when the wall clock lags. It is safe
// for concurrent use.
type Clock struct {
	mu   sync.Mutex
	last Timestamp
	now  func() time.Time
}

// NewClock returns a clock reading the system time.
func NewClock() *Clock { return &Clock{now: time.Now} }

// Now returns a reading later than every earlier reading and observation.
func (c *Clock) Now() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := c.now().UnixNano()
	switch {
	case wall > c.last.Wall:
		c.last = Timestamp{Wall: wall}
	case c.last.Logical == math.MaxUint32:
		// The counter is full: move into the next nanosecond rather
		// than wrap around to a reading that is earlier.
		c.last = Timestamp{Wall: c.last.Wall + 1}
	default:
		c.last.Logical++
	}
	return c.last
}

// Observe moves the clock past t, a reading of another owner's record,
// but no further than MaxObservedSkew past the wall clock: a reading
// further ahead moves it to that bound.
func (c *Clock) Observe(t Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bound := (Timestamp{Wall: c.now().UnixNano() + int64(MaxObservedSkew)}); t.Compare(bound) > 0 {
		t = bound
	}
	if t.Compare(c.last) > 0 {
		c.last = t
	}
}

// Advance moves the clock past t, a reading of one of the clock owner's
// own records, however far ahead, so that its next reading outranks it.
func (c *Clock) Advance(t Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Compare(c.last) > 0 {
		c.last = t
	}
}

// Envelope is a signed record value.
type Envelope struct {
	// Key is the record key the envelope is signed for.
	Key string `cbor:"1,keyasint"`
	// Schema names what Value holds, such as a collection's name.
	Schema string `cbor:"2,keyasint"`
	// Version is the schema version Value was written with.
	Version uint32 `cbor:"3,keyasint"`
	// Clock is when the owner wrote it.
	Clock Timestamp `cbor:"4,keyasint"`
	// PublicKey is the owner's libp2p public key, marshalled.
	PublicKey []byte `cbor:"5,keyasint"`
	// Value is the payload, opaque to the envelope. An empty value
	// encodes as empty bytes, whether it is nil or not.
	Value []byte `cbor:"6,keyasint"`
	// Signature is the owner's signature over everything above.
	Signature []byte `cbor:"7,keyasint,omitempty"`

	// nullValue marks an envelope decoded with its empty value encoded as
	// CBOR null: a deprecated form that no node writes any more, which
	// records signed by older nodes carry. Such an envelope encodes its
	// value as null again, as it was signed, so its signature verifies
	// and it re-encodes to the bytes received.
	nullValue bool
}

var (
	// encMode encodes envelopes; legacyMode encodes those with a null
	// value (see Envelope.nullValue), as older nodes did.
	encMode    cbor.EncMode
	legacyMode cbor.EncMode
	decMode    cbor.DecMode
)

func init() {
	var err error
	opts := cbor.CoreDetEncOptions()
	if legacyMode, err = opts.EncMode(); err != nil {
		panic(err)
	}
	// SYNC.md says field 6 is bytes: a nil value encodes as empty bytes
	// (0x40), not as null (0xf6).
	opts.NilContainers = cbor.NilContainerAsEmpty
	if encMode, err = opts.EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   4,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		UTF8:              cbor.UTF8RejectInvalid,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// Key returns the record key of owner's record called name.
func Key(owner peer.ID, name string) string {
	return "/" + Namespace + "/" + owner.String() + "/" + name
}

// ParseKey splits a netabase record key into its owner and name.
func ParseKey(key string) (peer.ID, string, error) {
	rest, ok := strings.CutPrefix(key, "/"+Namespace+"/")
	if !ok {
		return "", "", core.Errorf(core.ErrInvalidKey, "%q is not a netabase record key (/%s/<owner peer ID>/<name>)", key, Namespace)
	}
	id, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return "", "", core.Errorf(core.ErrInvalidKey, "record key %q has no name after the owner", key)
	}
	if err := checkSize(name); err != nil {
		return "", "", err
	}
	owner, err := peer.Decode(id)
	if err != nil {
		return "", "", core.Errorf(core.ErrInvalidKey, "record key %q: owner %q is not a peer ID: %v", key, id, err)
	}
	// One owner, one spelling: its records are signed for the key Key
	// makes, so any other spelling names no record.
	if id != owner.String() {
		return "", "", core.Errorf(core.ErrInvalidKey, "record key %q spells its owner %s; write it as %s", key, id, owner)
	}
	return owner, name, nil
}

// checkSize is the rule for names that every record follows, from the
// network too: at most MaxNameSize bytes of UTF-8.
func checkSize(name string) error {
	if len(name) > MaxNameSize {
		return core.Errorf(core.ErrInvalidKey, "record name of %d bytes is longer than %d", len(name), MaxNameSize)
	}
	// An envelope carries its key as CBOR text, which must be UTF-8.
	if !utf8.ValidString(name) {
		return core.Errorf(core.ErrInvalidKey, "record name %q is not valid UTF-8", name)
	}
	return nil
}

// signedBytes is what the signature covers: the envelope without its
// signature, in deterministic CBOR, after a domain separator.
func (e *Envelope) signedBytes() ([]byte, error) {
	unsigned := *e
	unsigned.Signature = nil
	b, err := unsigned.mode().Marshal(&unsigned)
	if err != nil {
		return nil, err
	}
	return append([]byte(signingDomain), b...), nil
}

// Seal builds and signs the envelope of value under the key of priv's peer
// and name.
func Seal(priv crypto.PrivKey, name, schema string, version uint32, ts Timestamp, value []byte) (*Envelope, error) {
	owner, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pub, err := crypto.MarshalPublicKey(priv.GetPublic())
	if err != nil {
		return nil, err
	}
	e := &Envelope{Key: Key(owner, name), Schema: schema, Version: version, Clock: ts, PublicKey: pub, Value: value}
	if _, _, err := ParseKey(e.Key); err != nil {
		return nil, err
	}
	if !utf8.ValidString(schema) {
		return nil, core.Errorf(core.ErrInvalidKey, "schema name %q is not valid UTF-8", schema)
	}
	msg, err := e.signedBytes()
	if err != nil {
		return nil, err
	}
	if e.Signature, err = priv.Sign(msg); err != nil {
		return nil, err
	}
	if size := len(msg) + len(e.Signature); size > MaxSize {
		return nil, core.Errorf(core.ErrTooLarge, "a record of about %d bytes is larger than the %d-byte limit", size, MaxSize)
	}
	return e, nil
}

// Marshal encodes e in deterministic CBOR.
func (e *Envelope) Marshal() ([]byte, error) { return e.mode().Marshal(e) }

// mode is the encoding of e: null for an empty value only when e was
// received so.
func (e *Envelope) mode() cbor.EncMode {
	if e.nullValue {
		return legacyMode
	}
	return encMode
}

// decode decodes data strictly, checking only its form. The decoder leaves
// Value nil for null (and for a missing field 6, which then re-encodes to
// other bytes than received), and empty but not nil for empty bytes: so a
// nil Value marks the deprecated null form.
func decode(data []byte) (*Envelope, error) {
	var e Envelope
	if err := decMode.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	e.nullValue = e.Value == nil
	return &e, nil
}

// ErrSignature is wrapped by the error of an envelope that the owner of
// its key did not sign: signed by another key, or with a signature that
// does not verify. It wraps core.ErrRejected.
var ErrSignature = core.Errorf(core.ErrRejected, "the envelope is not signed by the owner of its key")

// Open decodes and verifies the envelope stored under key: it must decode
// strictly, name key, and carry a valid signature by key's owner. Every
// failure wraps core.ErrRejected and says why.
func Open(key string, data []byte) (*Envelope, error) {
	owner, _, err := ParseKey(key)
	if err != nil {
		return nil, core.Errorf(core.ErrRejected, "%w", err)
	}
	if len(data) > MaxSize {
		return nil, core.Errorf(core.ErrRejected, "record %s: %d bytes is larger than the %d-byte limit", key, len(data), MaxSize)
	}
	e, err := decode(data)
	if err != nil {
		return nil, core.Errorf(core.ErrRejected, "record %s is not a well-formed envelope: %v", key, err)
	}
	if e.Key != key {
		return nil, core.Errorf(core.ErrRejected, "record filed under %s is signed for %s", key, e.Key)
	}
	pub, err := crypto.UnmarshalPublicKey(e.PublicKey)
	if err != nil {
		return nil, core.Errorf(core.ErrRejected, "record %s: bad public key: %v", key, err)
	}
	if !owner.MatchesPublicKey(pub) {
		return nil, core.Errorf(ErrSignature, "record %s is signed by another peer than its owner %s", key, owner)
	}
	msg, err := e.signedBytes()
	if err != nil {
		return nil, core.Errorf(core.ErrRejected, "record %s: %v", key, err)
	}
	ok, err := pub.Verify(msg, e.Signature)
	if err != nil || !ok {
		return nil, core.Errorf(ErrSignature, "record %s: the signature does not verify", key)
	}
	// The signature covers the re-encoding; a non-canonical encoding of the
	// same fields would let two byte strings carry one signature.
	if canonical, err := e.Marshal(); err != nil || !bytes.Equal(canonical, data) {
		return nil, core.Errorf(core.ErrRejected, "record %s is not in deterministic CBOR", key)
	}
	return e, nil
}

// Newer reports whether e wins over o, another version of the same
// record: the later clock wins, and of equal clocks the larger signature,
// so every peer picks the same one. The DHT's Select and sync both decide
// by it.
func (e *Envelope) Newer(o *Envelope) bool {
	c := e.Clock.Compare(o.Clock)
	return c > 0 || c == 0 && bytes.Compare(e.Signature, o.Signature) > 0
}

// Decode decodes data, the bytes of an envelope filed under key, strictly
// but without verifying its signature: it is for bytes this node verified
// before it stored them. Use Open for anything else.
func Decode(key string, data []byte) (*Envelope, error) {
	e, err := decode(data)
	if err != nil {
		return nil, core.Errorf(core.ErrRejected, "record %s is not a well-formed envelope: %v", key, err)
	}
	if e.Key != key {
		return nil, core.Errorf(core.ErrRejected, "record filed under %s is signed for %s", key, e.Key)
	}
	return e, nil
}

// OpenRecord is Open for envelope bytes that arrive without the key they
// are filed under, such as a gossip message: the key is the one the
// envelope is signed for.
func OpenRecord(data []byte) (*Envelope, error) {
	if len(data) > MaxSize {
		return nil, core.Errorf(core.ErrRejected, "a record of %d bytes is larger than the %d-byte limit", len(data), MaxSize)
	}
	e, err := decode(data)
	if err != nil {
		return nil, core.Errorf(core.ErrRejected, "not a well-formed envelope: %v", err)
	}
	return Open(e.Key, data)
}

// ClaimedKey is the key data says it is signed for, decoded but not
// verified: for naming a record in the answer to whoever sent it, such as
// a refusal, without paying for a signature check. Never trust it for
// anything else; Open and OpenRecord verify.
func ClaimedKey(data []byte) (string, error) {
	if len(data) > MaxSize {
		return "", core.Errorf(core.ErrRejected, "a record of %d bytes is larger than the %d-byte limit", len(data), MaxSize)
	}
	e, err := decode(data)
	if err != nil {
		return "", core.Errorf(core.ErrRejected, "not a well-formed envelope: %v", err)
	}
	return e.Key, nil
}

// CheckClock refuses an envelope dated more than MaxClockSkew after now.
// The error wraps core.ErrRejected.
func (e *Envelope) CheckClock(now time.Time) error {
	if ahead := e.Clock.Wall - now.UnixNano(); ahead > int64(MaxClockSkew) {
		return core.Errorf(core.ErrRejected, "record %s is dated %s, %s ahead of this node's clock, more than the %s allowed: the clock of the peer that wrote it runs ahead; it is accepted from %s", e.Key, e.Clock, time.Duration(ahead).Round(time.Second), MaxClockSkew,
			e.Clock.Time().Add(-MaxClockSkew).UTC().Format(time.RFC3339))
	}
	return nil
}

// Validator validates and selects netabase records for the DHT; register it
// under Namespace in a record.NamespacedValidator.
type Validator struct{}

// Validate accepts value for key when it opens as an Envelope dated no more
// than MaxClockSkew ahead of the local clock.
func (Validator) Validate(key string, value []byte) error {
	e, err := Open(key, value)
	if err != nil {
		return err
	}
	return e.CheckClock(time.Now())
}

// Select returns the index of the newest valid envelope among values; ties
// go to the larger signature, so every peer picks the same one.
func (Validator) Select(key string, values [][]byte) (int, error) {
	return Select(key, values, Open)
}

// Select returns the index of the newest of values, by [Envelope.Newer],
// among those that open opens for key; it fails when open opens none. It
// is the DHT selector's rule, whatever opens the envelopes: [Open], or a
// cache in front of it.
func Select(key string, values [][]byte, open func(key string, data []byte) (*Envelope, error)) (int, error) {
	best := -1
	var bestEnv *Envelope
	for i, v := range values {
		e, err := open(key, v)
		if err != nil {
			continue
		}
		if bestEnv == nil || e.Newer(bestEnv) {
			best, bestEnv = i, e
		}
	}
	if best < 0 {
		return 0, errors.New("no valid record among the candidates")
	}
	return best, nil
}
