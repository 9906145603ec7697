package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/envelope"
)

var update = flag.Bool("update", false, "rewrite "+vectorsFile+" from the code")

// vectorsFile holds SYNC.md's test vectors, for any implementation's tests
// to read.
const vectorsFile = "testdata/vectors.json"

// The vectors file's form. Byte strings are lowercase hex; integers that
// may pass 2^53 (walls, the horizon) are decimal strings.
type (
	vectors struct {
		About        []string            `json:"about"`
		Keys         []keyVector         `json:"keys"`
		Envelopes    []envelopeVector    `json:"envelopes"`
		Collections  []collectionVector  `json:"collections"`
		Admission    []admissionVector   `json:"admission"`
		Fingerprints []fingerprintVector `json:"fingerprints"`
		Messages     []messageVector     `json:"messages"`
		Session      sessionVector       `json:"session"`
		MessagesV2   []messageVector     `json:"messages_v2"`
		SessionV2    sessionVector       `json:"session_v2"`
		Bounds       []boundsVector      `json:"bounds"`
	}
	boundsVector struct {
		Name       string        `json:"name"`
		Collection int           `json:"collection"`
		Orders     []boundsOrder `json:"orders"`
	}
	boundsOrder struct {
		Arrivals []string `json:"arrivals"`
		Held     []string `json:"held"`
	}
	keyVector struct {
		Name      string `json:"name"`
		Seed      string `json:"seed"`
		PeerID    string `json:"peer_id"`
		PublicKey string `json:"public_key"`
	}
	envelopeVector struct {
		Name   string          `json:"name"`
		Key    string          `json:"key"`
		Hex    string          `json:"hex"`
		Valid  bool            `json:"valid"`
		Reason string          `json:"reason,omitempty"`
		Fields *envelopeFields `json:"fields,omitempty"`
	}
	envelopeFields struct {
		Key     string `json:"key"`
		Schema  string `json:"schema"`
		Version uint32 `json:"version"`
		Wall    int64  `json:"wall,string"`
		Logical uint32 `json:"logical"`
		Value   string `json:"value"`
	}
	collectionVector struct {
		Name                string   `json:"name"`
		Writers             []string `json:"writers"`
		MaxRecordsPerWriter int      `json:"max_records_per_writer"`
		MaxBytesPerWriter   int64    `json:"max_bytes_per_writer"`
		MaxRecords          int      `json:"max_records"`
		MaxBytes            int64    `json:"max_bytes"`
		TombstoneHorizon    int64    `json:"tombstone_horizon_ns,string"`
		BoundsRule          int      `json:"bounds_rule,omitempty"`
		Definition          string   `json:"definition"`
		Digest              string   `json:"digest"`
		Topic               string   `json:"topic"`
	}
	admissionVector struct {
		Collection int    `json:"collection"`
		Hex        string `json:"hex"`
		Accepted   bool   `json:"accepted"`
		Reason     string `json:"reason"`
	}
	itemVector struct {
		Key     string `json:"key"`
		Wall    int64  `json:"wall,string"`
		Logical uint32 `json:"logical"`
		Hash    string `json:"hash"`
	}
	fingerprintVector struct {
		Items       []itemVector `json:"items"`
		Fingerprint string       `json:"fingerprint"`
	}
	messageVector struct {
		Name   string `json:"name"`
		Hex    string `json:"hex"`
		Valid  bool   `json:"valid"`
		Reason string `json:"reason,omitempty"`
	}
	sessionVector struct {
		Collection  int           `json:"collection"`
		Now         int64         `json:"now,string"`
		Initiator   []string      `json:"initiator"`
		Responder   []string      `json:"responder"`
		Frames      []frameVector `json:"frames"`
		Records     int           `json:"records"`
		Fingerprint string        `json:"fingerprint"`
	}
	frameVector struct {
		From  string `json:"from"`
		Frame string `json:"frame"`
	}
)

var vectorsAbout = []string{
	"Test vectors of SYNC.md (netabase sync: wire formats), made and checked by TestSpecVectors in core/replica.",
	"Byte strings are lowercase hex. Integers that may pass 2^53 (walls, the tombstone horizon, now) are decimal strings.",
	"keys: Ed25519 keys, each made from its 32-byte seed (RFC 8032); public_key is the libp2p PublicKey protobuf (SYNC.md §1).",
	"envelopes: key is the record key the bytes are filed under; valid says whether a receiver opens them (§2), reason why not; fields are the decoded fields of a valid one.",
	"collections: settings, the deterministic CBOR of their definition map, its digest and the gossip topic (§3).",
	"admission: whether a replica of collections[collection] takes the envelope hex (§3), and why; all are valid envelopes, dated in 2023.",
	"fingerprints: the fingerprint of a set of items (§5); an item's key is the record key's bytes.",
	"messages: reconciliation messages (the bytes of a frame, without its length) and whether a receiver takes them (§5).",
	"session: a whole session between replicas of collections[collection], whose clocks read now: the envelopes each holds before, every frame (length included) in the order sent, and the record count and fingerprint both hold after.",
	"messages and session are of reconciliation protocol version 1 (/netabase/sync/1.0.0); messages_v2 and session_v2 the same of version 2 (/netabase/sync/2.0.0, §5 \"Version 2\"), session_v2 from the same envelopes as session.",
	"bounds: what a replica of collections[collection] holds (§3) after taking the envelopes of arrivals one at a time, in that order: held, in key order. A collection's bounds_rule, when given, is the bounds' rule (absent: 1).",
}

var (
	vectorBase = int64(1700000000000000000) // SYNC.md's example wall clock
	vectorNow  = time.Unix(0, vectorBase+int64(24*time.Hour))
)

type vectorKey struct {
	name string
	seed []byte
	priv crypto.PrivKey
	id   peer.ID
	pub  []byte
}

func vectorKeys(t *testing.T) []vectorKey {
	var keys []vectorKey
	for i, name := range []string{"alice", "bob", "carol"} {
		seed := bytes.Repeat([]byte{byte(i)}, 32)
		priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := crypto.MarshalPublicKey(priv.GetPublic())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, vectorKey{name, seed, priv, id, pub})
	}
	return keys
}

// fields is an envelope's map as SYNC.md §2 has it, without a signature.
func (k vectorKey) fields(name, schema string, version uint32, wall int64, value []byte) map[uint64]any {
	return map[uint64]any{
		1: envelope.Key(k.id, name), 2: schema, 3: version,
		4: map[uint64]any{1: wall, 2: uint32(0)}, 5: k.pub, 6: value,
	}
}

// signed adds to fields (unsigned) k's signature of their deterministic
// encoding (a nil value encodes as null) and returns them: it makes what
// envelope.Seal cannot, the deprecated form and invalid envelopes whose
// signature verifies.
func (k vectorKey) signed(t *testing.T, fields map[uint64]any) map[uint64]any {
	t.Helper()
	sig, err := k.priv.Sign(append([]byte("netabase/record/v1\n"), cborOf(t, fields)...))
	if err != nil {
		t.Fatal(err)
	}
	fields[7] = sig
	return fields
}

func (k vectorKey) seal(t *testing.T, name, schema string, version uint32, ts envelope.Timestamp, value []byte) []byte {
	t.Helper()
	e, err := envelope.Seal(k.priv, name, schema, version, ts, value)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cborOf encodes v in deterministic CBOR.
func cborOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := encMode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mapOf encodes a map from its entries as given, in their order, each
// entry a key and the encoding of its value: for the encodings a
// deterministic encoder does not make.
func mapOf(t *testing.T, fields map[uint64]any, order []uint64, raw map[uint64][]byte) []byte {
	t.Helper()
	out := []byte{0xa0 | byte(len(order))}
	for _, k := range order {
		out = append(out, cborOf(t, k)...)
		if r, ok := raw[k]; ok {
			out = append(out, r...)
		} else {
			out = append(out, cborOf(t, fields[k])...)
		}
	}
	return out
}

func makeEnvelopes(t *testing.T, keys []vectorKey) []envelopeVector {
	alice, bob := keys[0], keys[1]
	hello := envelope.Key(alice.id, "chat/hello")
	var out []envelopeVector
	valid := func(name string, data []byte) {
		e, err := envelope.OpenRecord(data)
		if err != nil {
			t.Fatalf("vector %q: %v", name, err)
		}
		out = append(out, envelopeVector{Name: name, Key: e.Key, Hex: hex.EncodeToString(data), Valid: true, Fields: &envelopeFields{
			Key: e.Key, Schema: e.Schema, Version: e.Version, Wall: e.Clock.Wall, Logical: e.Clock.Logical, Value: hex.EncodeToString(e.Value),
		}})
	}
	invalid := func(name, key string, data []byte, reason string) {
		out = append(out, envelopeVector{Name: name, Key: key, Hex: hex.EncodeToString(data), Reason: reason})
	}
	example := alice.seal(t, "chat/hello", "chat", 1, envelope.Timestamp{Wall: vectorBase}, []byte("hi"))
	valid("the example of SYNC.md §2", example)
	valid("a tombstone: version 0, the value empty bytes (40)", alice.seal(t, "chat/hello", "chat", 0, envelope.Timestamp{Wall: vectorBase + 1e9}, nil))
	legacy := alice.signed(t, alice.fields("chat/hello", "chat", 0, vectorBase+1e9, nil))
	valid("deprecated: a tombstone whose empty value is null (f6), as older nodes wrote it", cborOf(t, legacy))
	valid("the largest version and logical counter, a negative wall", bob.seal(t, "chat/edge", "chat", math.MaxUint32, envelope.Timestamp{Wall: -1, Logical: math.MaxUint32}, []byte{0}))

	mutated := func(name, reason string, change func(map[uint64]any)) {
		f := alice.fields("chat/hello", "chat", 1, vectorBase, []byte("hi"))
		change(f)
		invalid(name, hello, cborOf(t, alice.signed(t, f)), reason)
	}
	mutated("version 2^32", "the version is past 2^32 - 1", func(f map[uint64]any) { f[3] = uint64(1) << 32 })
	mutated("logical counter 2^32", "the logical counter is past 2^32 - 1", func(f map[uint64]any) { f[4] = map[uint64]any{1: vectorBase, 2: uint64(1) << 32} })
	mutated("wall 2^63", "the wall clock is outside int64", func(f map[uint64]any) { f[4] = map[uint64]any{1: uint64(1) << 63, 2: 0} })
	mutated("logical counter missing", "the clock map lacks its logical counter (re-encoded with it, the signature does not verify)", func(f map[uint64]any) { f[4] = map[uint64]any{1: vectorBase} })
	mutated("value as text", "field 6 is text, not bytes", func(f map[uint64]any) { f[6] = "hi" })
	mutated("value missing", "field 6 is missing (re-encoded with it, the signature does not verify)", func(f map[uint64]any) { delete(f, 6) })
	mutated("unknown key 8", "the map has a key other than 1 to 7", func(f map[uint64]any) { f[8] = 0 })
	mutated("null public key", "null (f6) is taken for field 6 only", func(f map[uint64]any) { f[5] = nil })
	mutated("schema not UTF-8", "text that is not UTF-8", func(f map[uint64]any) { f[2] = "\xff" })
	f := alice.fields("chat/hello", "chat", 1, vectorBase, []byte("hi"))
	f[5] = bob.pub
	invalid("another peer's public key", hello, cborOf(t, bob.signed(t, f)), "the public key's peer ID is not the key's owner")
	f = alice.fields("chat/hello", "chat", 1, vectorBase, []byte("hi"))
	invalid("signed by another key", hello, cborOf(t, bob.signed(t, f)), "the signature does not verify: bob signed under alice's public key")
	f = alice.signed(t, alice.fields("chat/hello", "chat", 1, vectorBase, []byte("hi")))
	f[6] = []byte("ho")
	invalid("a changed value", hello, cborOf(t, f), "the signature does not verify: it covers the value \"hi\"")
	f = alice.fields("chat/hello", "chat", 1, vectorBase, []byte("hi"))
	sig, err := alice.priv.Sign(cborOf(t, f))
	if err != nil {
		t.Fatal(err)
	}
	f[7] = sig
	invalid("signed without the domain", hello, cborOf(t, f), "the signature does not cover \"netabase/record/v1\\n\"")
	legacy[6] = []byte{}
	invalid("a null value re-encoded as empty bytes", hello, cborOf(t, legacy), "the signature covers field 6 as f6: a record signed so is checked exactly as received")
	invalid("filed under another key", envelope.Key(alice.id, "chat/other"), example, "field 1 is not the key it is filed under")
	cid := "/netabase/" + peer.ToCid(alice.id).String() + "/chat/hello"
	f = alice.fields("chat/hello", "chat", 1, vectorBase, []byte("hi"))
	f[1] = cid
	invalid("the owner spelt as a CID", cid, cborOf(t, alice.signed(t, f)), "the owner's peer ID is not in its canonical base58btc text")
	invalid("trailing byte", hello, append(slices.Clip(example), 0), "a byte after the map")

	// The same signed fields, encoded otherwise: the signature verifies,
	// the encoding is not the one it covers.
	f = alice.signed(t, alice.fields("chat/hello", "chat", 1, vectorBase, []byte("hi")))
	order := []uint64{1, 2, 3, 4, 5, 6, 7}
	invalid("a version not in its shortest form", hello, mapOf(t, f, order, map[uint64][]byte{3: {0x18, 0x01}}), "not deterministic: the version 1 is written 18 01")
	invalid("keys out of order", hello, mapOf(t, f, []uint64{2, 1, 3, 4, 5, 6, 7}, nil), "not deterministic: key 2 before key 1")
	invalid("a key twice", hello, mapOf(t, f, []uint64{1, 2, 2, 3, 4, 5, 6, 7}, nil), "a duplicate key")
	invalid("an indefinite-length value", hello, mapOf(t, f, order, map[uint64][]byte{6: {0x5f, 0x42, 'h', 'i', 0xff}}), "an indefinite length")
	invalid("a tagged value", hello, mapOf(t, f, order, map[uint64][]byte{6: {0xd8, 0x40, 0x42, 'h', 'i'}}), "a tag")
	return out
}

func makeCollections(t *testing.T, keys []vectorKey) ([]collectionVector, []Settings) {
	var out []collectionVector
	var all []Settings
	for _, s := range []Settings{
		{Name: "chat"},
		{Name: "board", Writers: []peer.ID{keys[1].id, keys[0].id}, MaxRecordsPerWriter: 10, MaxBytesPerWriter: 65536, MaxRecords: 100, MaxBytes: 1 << 20, TombstoneHorizon: 24 * time.Hour},
		{Name: "log", MaxBytesPerWriter: 600},
		{Name: "log", BoundsRule: BoundsSameSet, MaxRecordsPerWriter: 2, MaxBytesPerWriter: 900},
	} {
		s, err := s.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		writers := make([]string, len(s.Writers))
		for i, w := range s.Writers {
			writers[i] = w.String()
		}
		d := s.Digest()
		def := map[uint64]any{1: s.Name, 2: writers, 3: s.MaxRecordsPerWriter, 4: s.MaxBytesPerWriter, 5: s.MaxRecords, 6: s.MaxBytes, 7: int64(s.TombstoneHorizon)}
		if s.BoundsRule != 0 {
			def[8] = s.BoundsRule
		}
		out = append(out, collectionVector{
			Name: s.Name, Writers: writers, MaxRecordsPerWriter: s.MaxRecordsPerWriter, MaxBytesPerWriter: s.MaxBytesPerWriter,
			MaxRecords: s.MaxRecords, MaxBytes: s.MaxBytes, TombstoneHorizon: int64(s.TombstoneHorizon), BoundsRule: s.BoundsRule,
			Definition: hex.EncodeToString(cborOf(t, def)), Digest: hex.EncodeToString(d[:]), Topic: s.Topic(),
		})
		all = append(all, s)
	}
	return out, all
}

func makeAdmission(t *testing.T, keys []vectorKey, envs []envelopeVector) []admissionVector {
	alice, bob, carol := keys[0], keys[1], keys[2]
	ts := envelope.Timestamp{Wall: vectorBase}
	h := hex.EncodeToString
	return []admissionVector{
		{0, envs[0].Hex, true, "a record of chat"},
		{0, envs[2].Hex, true, "a tombstone with the deprecated null value: empty"},
		{0, h(alice.seal(t, "chat/k", "chat", 0, ts, []byte("x"))), false, "a tombstone (version 0) that carries a value"},
		{0, h(alice.seal(t, "chat/k", "notes", 1, ts, []byte("x"))), false, "schema notes, not chat"},
		{0, h(alice.seal(t, "notes/k", "chat", 1, ts, []byte("x"))), false, "the name is not chat/<key>"},
		{0, h(alice.seal(t, "chat/", "chat", 1, ts, []byte("x"))), false, "the key after chat/ is empty"},
		{1, h(bob.seal(t, "board/k", "board", 1, ts, []byte("x"))), true, "bob is on board's writer list"},
		{1, h(carol.seal(t, "board/k", "board", 1, ts, []byte("x"))), false, "carol is not on board's writer list"},
	}
}

func makeFingerprints(t *testing.T, envs []envelopeVector) []fingerprintVector {
	example := specHex(t, envs[0].Hex)
	var out []fingerprintVector
	for _, items := range [][]Item{
		nil,
		{ItemOf(envs[0].Key, envelope.Timestamp{Wall: vectorBase}, example)},
		{
			{Key: "a", Clock: envelope.Timestamp{Wall: -1, Logical: math.MaxUint32}, Hash: [HashSize]byte{1}},
			{Key: "ab", Clock: envelope.Timestamp{Wall: math.MinInt64}, Hash: [HashSize]byte{0xff, 0xff}},
			{Key: "b", Clock: envelope.Timestamp{Wall: math.MaxInt64, Logical: 1}},
			{Key: "b\x00", Clock: envelope.Timestamp{}, Hash: [HashSize]byte{15: 0x80}},
		},
	} {
		var s Set
		v := fingerprintVector{Items: []itemVector{}}
		for _, it := range items {
			s.Put(it)
			v.Items = append(v.Items, itemVector{Key: hex.EncodeToString([]byte(it.Key)), Wall: it.Clock.Wall, Logical: it.Clock.Logical, Hash: hex.EncodeToString(it.Hash[:])})
		}
		fp := s.Fingerprint()
		v.Fingerprint = hex.EncodeToString(fp[:])
		out = append(out, v)
	}
	return out
}

func makeMessages(t *testing.T, envs []envelopeVector) []messageVector {
	fp := make([]byte, HashSize)
	record := WireRecord{Key: []byte(envs[0].Key), Envelope: specHex(t, envs[0].Hex)}
	item := func(k string) WireItem { return WireItem{Key: []byte(k), Wall: vectorBase, Logical: 2, Hash: fp} }
	var out []messageVector
	for _, m := range []struct {
		name, reason string
		m            Message
	}{
		{"the example of SYNC.md §5", "", Message{Collection: "chat", Digest: fp, Ranges: []Range{{Upper: []byte("/a"), Mode: ModeSkip}, {Mode: ModeFingerprint, Fingerprint: fp}}}},
		{"a reply: a list, a skip to the end, a record and a want", "", Message{
			Ranges:  []Range{{Upper: []byte("/m"), Mode: ModeList, Items: []WireItem{item("/b"), item("/c")}}, {}},
			Records: []WireRecord{record}, Wants: [][]byte{[]byte("/x")},
		}},
		{"an empty message", "", Message{}},
		{"an error message", "", Message{Error: "collection \"chat\" has other settings (writers or bounds) here"}},
		{"the last range has an upper bound", "the ranges do not run to the end", Message{Ranges: []Range{{Upper: []byte("/a")}}}},
		{"upper bounds not increasing", "the second range ends before it starts", Message{Ranges: []Range{{Upper: []byte("/b")}, {Upper: []byte("/a")}, {}}}},
		{"an item past its range", "an item at or past its range's upper bound", Message{Ranges: []Range{{Upper: []byte("/b"), Mode: ModeList, Items: []WireItem{item("/c")}}, {}}}},
		{"items out of order", "a list's items are not sorted", Message{Ranges: []Range{{Mode: ModeList, Items: []WireItem{item("/c"), item("/b")}}}}},
		{"unknown mode", "mode 3", Message{Ranges: []Range{{Mode: 3}}}},
		{"a short fingerprint", "a fingerprint of 15 bytes", Message{Ranges: []Range{{Mode: ModeFingerprint, Fingerprint: fp[1:]}}}},
		{"a skip with a fingerprint", "a skipped range carries a fingerprint", Message{Ranges: []Range{{Fingerprint: fp}}}},
		{"a short digest", "a digest of 15 bytes", Message{Collection: "chat", Digest: fp[1:], Ranges: []Range{{Mode: ModeList}}}},
		{"an empty want", "a key of 0 bytes", Message{Wants: [][]byte{{}}}},
		{"a long error", "an error of 1,025 bytes", Message{Error: strings.Repeat("e", MaxErrorSize+1)}},
	} {
		out = append(out, messageVector{Name: m.name, Hex: hex.EncodeToString(cborOf(t, &m.m)), Valid: m.reason == "", Reason: m.reason})
	}
	out = append(out, messageVector{Name: "an unknown field", Hex: "a10700", Reason: "key 7"})
	return out
}

// makeMessages2 makes the messages of version 2: makeMessages' valid ones
// in version 2's wire form, and the ways a packed field can be malformed.
func makeMessages2(t *testing.T, envs []envelopeVector) []messageVector {
	fp := make([]byte, HashSize)
	record := WireRecord{Envelope: specHex(t, envs[0].Hex)}
	item := func(k string) WireItem { return WireItem{Key: []byte(k), Wall: vectorBase, Logical: 2, Hash: fp} }
	var out []messageVector
	for _, m := range []struct {
		name string
		m    Message
	}{
		{"the example of SYNC.md §5 in version 2", Message{Collection: "chat", Digest: fp, Ranges: []Range{{Upper: []byte("/a"), Mode: ModeSkip}, {Mode: ModeFingerprint, Fingerprint: fp}}}},
		{"a reply: a list, a skip to the end, a record and two wants", Message{
			Ranges:  []Range{{Upper: []byte("/m"), Mode: ModeList, Items: []WireItem{item("/b"), item("/bc")}}, {}},
			Records: []WireRecord{record}, Wants: [][]byte{[]byte("/x1"), []byte("/x2")},
		}},
		{"the first message of an empty set", Message{Collection: "chat", Digest: fp, Ranges: []Range{{Mode: ModeList}}}},
		{"an empty message", Message{}},
		{"an error message", Message{Error: "collection \"chat\" has other settings (writers or bounds) here"}},
	} {
		b, err := Version2.Encode(&m.m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, messageVector{Name: m.name, Hex: hex.EncodeToString(b), Valid: true})
	}
	// Malformed: the map of version 2 with its packed fields as given.
	bad := func(ranges, wants []byte, records ...any) []byte {
		m := map[uint64]any{}
		if ranges != nil {
			m[3] = ranges
		}
		if records != nil {
			m[4] = records
		}
		if wants != nil {
			m[5] = wants
		}
		return cborOf(t, m)
	}
	fpRange := append([]byte{0x81}, fp...) // the last range, a fingerprint
	for _, m := range []struct {
		name, reason string
		b            []byte
	}{
		{"the last range is not marked", "the ranges do not run to the end", bad([]byte{0x00, 0, 2, '/', 'a'}, nil)},
		{"bytes after the last range", "bytes follow the range that runs to the end", bad([]byte{0x80, 0x80}, nil)},
		{"a bound sharing more than the key before it has", "a shared prefix of 1 byte after the empty key", bad(append([]byte{0x00, 1, 1, 'a'}, fpRange...), nil)},
		{"upper bounds not increasing", "the second bound, /a, is not after the first, /b", bad(append([]byte{0x00, 0, 2, '/', 'b', 0x00, 1, 1, 'a'}, fpRange...), nil)},
		{"a fingerprint cut short", "a fingerprint of 15 bytes", bad(append([]byte{0x81}, fp[1:]...), nil)},
		{"unknown mode", "mode 3", bad([]byte{0x83}, nil)},
		{"a list's count past the limit", "1,025 items", bad([]byte{0x82, 0x81, 0x08}, nil)},
		{"an item without its hash", "the item is cut short", bad(append([]byte{0x82, 1, 0, 2, '/', 'b'}, make([]byte, 9)...), nil)},
		{"an empty want", "a key of 0 bytes", bad(nil, []byte{0, 0})},
		{"a record that is not bytes", "a record is a text", bad(nil, nil, "not bytes")},
		{"a key past its own length", "a shared prefix and length of 2,049 bytes", bad(nil, append([]byte{0, 0x81, 0x10}, make([]byte, 2049)...))},
	} {
		out = append(out, messageVector{Name: m.name, Hex: hex.EncodeToString(m.b), Reason: m.reason})
	}
	return out
}

// sessionRecords are the records of the session's two replicas: alice's 40
// on both, but that the responder lacks two, holds a newer version of one
// and an older of another, a tombstone of a third, bob's 3 and alice's
// tombstone of another key in the deprecated form.
func sessionRecords(t *testing.T, keys []vectorKey) (initiator, responder []string) {
	alice, bob := keys[0], keys[1]
	at := func(s int) envelope.Timestamp { return envelope.Timestamp{Wall: vectorBase + int64(s)*1e9} }
	for i := range 40 {
		key := fmt.Sprintf("chat/a%02d", i)
		rec := hex.EncodeToString(alice.seal(t, key, "chat", 1, at(i), []byte(key)))
		switch i {
		case 5, 6:
			initiator = append(initiator, rec)
		case 10:
			initiator = append(initiator, rec)
			responder = append(responder, hex.EncodeToString(alice.seal(t, key, "chat", 2, at(100), []byte("newer"))))
		case 20:
			initiator = append(initiator, rec)
			responder = append(responder, hex.EncodeToString(alice.seal(t, key, "chat", 0, at(101), nil)))
		case 30:
			initiator = append(initiator, hex.EncodeToString(alice.seal(t, key, "chat", 2, at(102), []byte("newer"))))
			responder = append(responder, rec)
		default:
			initiator = append(initiator, rec)
			responder = append(responder, rec)
		}
	}
	for i := range 3 {
		key := fmt.Sprintf("chat/b%02d", i)
		responder = append(responder, hex.EncodeToString(bob.seal(t, key, "chat", 1, at(i), []byte(key))))
	}
	gone := alice.signed(t, alice.fields("chat/gone", "chat", 0, vectorBase+103e9, nil))
	responder = append(responder, hex.EncodeToString(cborOf(t, gone)))
	return initiator, responder
}

// recorder logs the frames a side of a session writes; WriteMessage writes
// each in one call.
type recorder struct {
	*net.TCPConn
	from string
	mu   *sync.Mutex
	log  *[]frameVector
}

func (r recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	*r.log = append(*r.log, frameVector{From: r.from, Frame: hex.EncodeToString(b)})
	r.mu.Unlock()
	return r.TCPConn.Write(b)
}

// runSession fills two replicas of s, clocks reading now, with the
// envelopes given, runs a session between them and returns its frames.
func runSession(t *testing.T, s Settings, now time.Time, v Version, initiator, responder []string) ([]frameVector, *Replica, *Replica) {
	fill := func(recs []string) *Replica {
		r := newReplica(t, s)
		r.now = func() time.Time { return now }
		for _, h := range recs {
			v, err := r.Verify(specHex(t, h))
			if err != nil {
				t.Fatal(err)
			}
			insert(t, r, v)
		}
		return r
	}
	a, b := fill(initiator), fill(responder)
	var mu sync.Mutex
	var frames []frameVector
	ca, cb := conns(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		c := recorder{cb, "responder", &mu, &frames}
		first, _, err := v.ReadMessage(c)
		if err == nil {
			_, err = b.Reconcile(ctx, c, "initiator", first)
		}
		done <- err
	}()
	if _, err := a.ReconcileVersion(ctx, recorder{ca, "initiator", &mu, &frames}, v, "responder", nil); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return frames, a, b
}

func makeVectors(t *testing.T) *vectors {
	keys := vectorKeys(t)
	v := &vectors{About: vectorsAbout}
	for _, k := range keys {
		v.Keys = append(v.Keys, keyVector{k.name, hex.EncodeToString(k.seed), k.id.String(), hex.EncodeToString(k.pub)})
	}
	v.Envelopes = makeEnvelopes(t, keys)
	var settings []Settings
	v.Collections, settings = makeCollections(t, keys)
	v.Admission = makeAdmission(t, keys, v.Envelopes)
	v.Fingerprints = makeFingerprints(t, v.Envelopes)
	v.Messages = makeMessages(t, v.Envelopes)
	initiator, responder := sessionRecords(t, keys)
	session := func(version Version) sessionVector {
		frames, a, _ := runSession(t, settings[0], vectorNow, version, initiator, responder)
		fp := a.Fingerprint()
		return sessionVector{
			Collection: 0, Now: vectorNow.UnixNano(), Initiator: initiator, Responder: responder,
			Frames: frames, Records: a.Status().Records + a.Status().Tombstones, Fingerprint: hex.EncodeToString(fp[:]),
		}
	}
	v.Session = session(Version1)
	v.MessagesV2 = makeMessages2(t, v.Envelopes)
	v.SessionV2 = session(Version2)
	v.Bounds = makeBounds(t, v, keys)
	return v
}

// makeBounds makes the bounds vectors: SYNC.md §3's case, a key's newer
// version past the bytes with the writer's other record while an older,
// smaller one is not, arriving in two orders, under both rules.
func makeBounds(t *testing.T, v *vectors, keys []vectorKey) []boundsVector {
	alice := keys[0]
	ts := func(d int64) envelope.Timestamp { return envelope.Timestamp{Wall: vectorBase + d} }
	h := hex.EncodeToString
	b := h(alice.seal(t, "log/b", "log", 1, ts(20), make([]byte, 100)))
	newer := h(alice.seal(t, "log/k", "log", 1, ts(15), make([]byte, 300)))
	older := h(alice.seal(t, "log/k", "log", 1, ts(5), make([]byte, 10)))
	var out []boundsVector
	for _, c := range []struct {
		name       string
		collection int
	}{
		{"bounds rule 1: the set depends on the order", 2},
		{"bounds rule 2: the same records give the same set", 3},
	} {
		bv := boundsVector{Name: c.name, Collection: c.collection}
		for _, arrivals := range [][]string{{b, newer, older}, {b, older, newer}} {
			bv.Orders = append(bv.Orders, boundsOrder{Arrivals: arrivals, Held: heldAfter(t, v, c.collection, arrivals)})
		}
		out = append(out, bv)
	}
	return out
}

// heldAfter returns the envelopes, in key order, a replica of the file's
// collection i holds after taking arrivals one at a time.
func heldAfter(t *testing.T, v *vectors, i int, arrivals []string) []string {
	r := newReplica(t, vectorSettings(t, v, i))
	for _, a := range arrivals {
		vr, err := r.Verify(specHex(t, a))
		if err != nil {
			t.Fatal(err)
		}
		insert(t, r, vr)
	}
	held := []string{}
	for _, it := range r.Items() {
		data, err := r.Envelope(t.Context(), it.Key)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, hex.EncodeToString(data))
	}
	return held
}

// checkBounds replays the bounds vectors: each order holds what the file
// says; under bounds rule 2 every order holds the same.
func checkBounds(t *testing.T, v *vectors) {
	if len(v.Bounds) == 0 {
		t.Fatal("the file has no bounds vectors")
	}
	for _, bv := range v.Bounds {
		for i, o := range bv.Orders {
			if got := heldAfter(t, v, bv.Collection, o.Arrivals); !slices.Equal(got, o.Held) {
				t.Errorf("%s: order %d holds %d envelopes, the file says %d, or others", bv.Name, i, len(got), len(o.Held))
			}
			if v.Collections[bv.Collection].BoundsRule == BoundsSameSet && !slices.Equal(o.Held, bv.Orders[0].Held) {
				t.Errorf("%s: under bounds rule 2, order %d holds another set than order 0", bv.Name, i)
			}
		}
	}
}

// specHex reads a hex block of SYNC.md's form: white space is ignored.
func specHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpecVectors makes SYNC.md's test vectors from the code and compares
// them with testdata/vectors.json (-update rewrites it), then checks what
// the file says against the code: each vector by the code's own rules, and
// SYNC.md's examples as vectors of the file.
func TestSpecVectors(t *testing.T) {
	made, err := json.MarshalIndent(makeVectors(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	made = append(made, '\n')
	if *update {
		if err := os.WriteFile(vectorsFile, made, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, made) {
		fl, ml := strings.Split(string(file), "\n"), strings.Split(string(made), "\n")
		i := 0
		for i < min(len(fl), len(ml)) && fl[i] == ml[i] {
			i++
		}
		t.Errorf("%s is not what the code makes, from line %d (the code makes %.100q): run go test ./core/replica -run TestSpecVectors -update, and check the change", vectorsFile, i+1, ml[min(i, len(ml)-1)])
	}
	var v vectors
	if err := json.Unmarshal(file, &v); err != nil {
		t.Fatal(err)
	}
	t.Run("envelopes", func(t *testing.T) { checkEnvelopes(t, v.Envelopes) })
	t.Run("collections", func(t *testing.T) { checkCollections(t, &v) })
	t.Run("admission", func(t *testing.T) { checkAdmission(t, v) })
	t.Run("fingerprints", func(t *testing.T) { checkFingerprints(t, v.Fingerprints) })
	t.Run("messages", func(t *testing.T) { checkMessages(t, Version1, v.Messages) })
	t.Run("session", func(t *testing.T) { checkSession(t, v, Version1, v.Session) })
	t.Run("messages_v2", func(t *testing.T) { checkMessages(t, Version2, v.MessagesV2) })
	t.Run("session_v2", func(t *testing.T) { checkSession(t, v, Version2, v.SessionV2) })
	t.Run("bounds", func(t *testing.T) { checkBounds(t, &v) })
	t.Run("SYNC.md", func(t *testing.T) { checkSpecExamples(t, &v) })
}

func checkEnvelopes(t *testing.T, envs []envelopeVector) {
	for _, ev := range envs {
		data := specHex(t, ev.Hex)
		e, err := envelope.Open(ev.Key, data)
		switch {
		case !ev.Valid && err == nil:
			t.Errorf("%s: opened, though %s", ev.Name, ev.Reason)
		case ev.Valid && err != nil:
			t.Errorf("%s: %v", ev.Name, err)
		case ev.Valid:
			got := envelopeFields{Key: e.Key, Schema: e.Schema, Version: e.Version, Wall: e.Clock.Wall, Logical: e.Clock.Logical, Value: hex.EncodeToString(e.Value)}
			if got != *ev.Fields {
				t.Errorf("%s: opened as %+v, the file says %+v", ev.Name, got, *ev.Fields)
			}
			if again, err := e.Marshal(); err != nil || !bytes.Equal(again, data) {
				t.Errorf("%s: re-encodes as %x, %v", ev.Name, again, err)
			}
		}
		if _, err := envelope.OpenRecord(data); ev.Valid && err != nil {
			t.Errorf("%s: does not open as gossip: %v", ev.Name, err)
		}
	}
}

func checkCollections(t *testing.T, v *vectors) {
	for i, c := range v.Collections {
		s := vectorSettings(t, v, i)
		sum := sha256.Sum256(append([]byte("netabase/sync/v1\n"), specHex(t, c.Definition)...))
		d := s.Digest()
		if hex.EncodeToString(sum[:HashSize]) != c.Digest || hex.EncodeToString(d[:]) != c.Digest {
			t.Errorf("collection %s: the definition hashes to %x and the settings' digest is %x; the file says %s", c.Name, sum[:HashSize], d, c.Digest)
		}
		if s.Topic() != c.Topic {
			t.Errorf("collection %s: topic %s, the file says %s", c.Name, s.Topic(), c.Topic)
		}
	}
}

// vectorSettings returns the settings of the file's collection i.
func vectorSettings(t *testing.T, v *vectors, i int) Settings {
	t.Helper()
	c := v.Collections[i]
	var writers []peer.ID
	for _, w := range c.Writers {
		id, err := peer.Decode(w)
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, id)
	}
	s, err := Settings{Name: c.Name, Writers: writers, MaxRecordsPerWriter: c.MaxRecordsPerWriter, MaxBytesPerWriter: c.MaxBytesPerWriter,
		MaxRecords: c.MaxRecords, MaxBytes: c.MaxBytes, TombstoneHorizon: time.Duration(c.TombstoneHorizon), BoundsRule: c.BoundsRule}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkAdmission(t *testing.T, v vectors) {
	for _, a := range v.Admission {
		r := newReplica(t, vectorSettings(t, &v, a.Collection))
		r.now = func() time.Time { return vectorNow }
		_, err := r.Verify(specHex(t, a.Hex))
		if a.Accepted != (err == nil) {
			t.Errorf("%s: Verify = %v", a.Reason, err)
		}
	}
}

// specFingerprint computes a fingerprint as SYNC.md defines it, with big
// integers.
func specFingerprint(items []Item) []byte {
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	sum := new(big.Int)
	for _, it := range items {
		var b []byte
		b = binary.AppendUvarint(b, uint64(len(it.Key)))
		b = append(b, it.Key...)
		b = binary.BigEndian.AppendUint64(b, uint64(it.Clock.Wall))
		b = binary.BigEndian.AppendUint32(b, it.Clock.Logical)
		b = append(b, it.Hash[:]...)
		w := sha256.Sum256(b)
		slices.Reverse(w[:]) // little-endian to big.Int's big-endian
		sum.Add(sum, new(big.Int).SetBytes(w[:]))
		sum.Mod(sum, mod)
	}
	le := make([]byte, 32)
	sum.FillBytes(le)
	slices.Reverse(le)
	full := sha256.Sum256(binary.AppendUvarint(le, uint64(len(items))))
	return full[:HashSize]
}

func checkFingerprints(t *testing.T, fps []fingerprintVector) {
	for i, f := range fps {
		var s Set
		var items []Item
		for _, iv := range f.Items {
			it := Item{Key: string(specHex(t, iv.Key)), Clock: envelope.Timestamp{Wall: iv.Wall, Logical: iv.Logical}}
			copy(it.Hash[:], specHex(t, iv.Hash))
			s.Put(it)
			items = append(items, it)
		}
		got := s.Fingerprint()
		if want := specHex(t, f.Fingerprint); !bytes.Equal(got[:], want) || !bytes.Equal(specFingerprint(items), want) {
			t.Errorf("fingerprint %d: the set's is %x, SYNC.md's formula gives %x; the file says %x", i, got, specFingerprint(items), want)
		}
	}
}

func checkMessages(t *testing.T, version Version, msgs []messageVector) {
	for _, m := range msgs {
		b := specHex(t, m.Hex)
		got, err := version.Decode(b)
		switch {
		case !m.Valid && err == nil:
			t.Errorf("%s: decoded, though %s", m.Name, m.Reason)
		case m.Valid && err != nil:
			t.Errorf("%s: %v", m.Name, err)
		case m.Valid:
			if again, err := version.Encode(got); err != nil || !bytes.Equal(again, b) {
				t.Errorf("%s: re-encodes as %x, %v", m.Name, again, err)
			}
		}
	}
}

// checkSession replays the session from the envelopes of the file: the
// same frames, then both replicas hold the same set.
func checkSession(t *testing.T, v vectors, version Version, sv sessionVector) {
	frames, a, b := runSession(t, vectorSettings(t, &v, sv.Collection), time.Unix(0, sv.Now), version, sv.Initiator, sv.Responder)
	if !slices.Equal(frames, sv.Frames) {
		t.Errorf("the session ran in %d frames, not the file's %d", len(frames), len(sv.Frames))
	}
	for _, f := range sv.Frames {
		m, _, err := version.ReadMessage(bytes.NewReader(specHex(t, f.Frame)))
		if err != nil || m.Error != "" {
			t.Errorf("a frame from the %s: %+v, %v", f.From, m, err)
		}
	}
	for _, r := range []*Replica{a, b} {
		fp := r.Fingerprint()
		if st := r.Status(); st.Records+st.Tombstones != sv.Records || hex.EncodeToString(fp[:]) != sv.Fingerprint {
			t.Errorf("after the session a replica holds %d records, fingerprint %x; the file says %d, %s", st.Records+st.Tombstones, fp, sv.Records, sv.Fingerprint)
		}
	}
	if !slices.Equal(a.Items(), b.Items()) {
		t.Error("after the session the replicas differ")
	}
}

// specBlock is a hex block of SYNC.md: indented lines of hex digits.
var specBlock = regexp.MustCompile(`(?m)(?:^    [0-9a-f]+\n)+`)

// checkSpecExamples checks that every hex block of SYNC.md is an envelope
// or message of the file, and the example's key and topic are the file's.
func checkSpecExamples(t *testing.T, v *vectors) {
	spec, err := os.ReadFile("../../SYNC.md")
	if err != nil {
		t.Fatal(err)
	}
	known := make(map[string]bool)
	for _, e := range v.Envelopes {
		known[e.Hex] = known[e.Hex] || e.Valid
	}
	for _, m := range append(slices.Clone(v.Messages), v.MessagesV2...) {
		known[m.Hex] = known[m.Hex] || m.Valid
	}
	blocks := specBlock.FindAll(spec, -1)
	if len(blocks) == 0 {
		t.Fatal("SYNC.md has no hex blocks")
	}
	for _, b := range blocks {
		if h := strings.Join(strings.Fields(string(b)), ""); !known[h] {
			t.Errorf("SYNC.md's example %s… is no valid vector of %s", h[:min(len(h), 32)], vectorsFile)
		}
	}
	for _, s := range []string{v.Envelopes[0].Key, v.Collections[0].Topic, vectorsFile} {
		if !bytes.Contains(spec, []byte(s)) {
			t.Errorf("SYNC.md does not say %s", s)
		}
	}
}

// TestSpecFingerprint computes fingerprints as SYNC.md defines them, with
// big integers, and compares them with the set's.
func TestSpecFingerprint(t *testing.T) {
	var s Set
	var items []Item
	for i := range 50 {
		it := Item{Key: strings.Repeat("k", i%7+1) + string(rune('a'+i%26)), Clock: envelope.Timestamp{Wall: int64(i) * -7777777, Logical: uint32(i)}}
		it.Hash[0], it.Hash[15] = byte(i), byte(3*i)
		if _, dup := s.Get(it.Key); dup {
			continue
		}
		s.Put(it)
		items = append(items, it)
	}
	if got := s.Fingerprint(); !bytes.Equal(got[:], specFingerprint(items)) {
		t.Fatalf("fingerprint %x, SYNC.md's formula gives %x", got, specFingerprint(items))
	}
}
