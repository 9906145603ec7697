package envelope

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// field6 returns the encoding of an envelope's value field.
func field6(t *testing.T, data []byte) []byte {
	t.Helper()
	var m map[uint64]cbor.RawMessage
	if err := cbor.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m[6]
}

// swap6 returns data with its value field encoded as v instead.
func swap6(t *testing.T, data, v []byte) []byte {
	t.Helper()
	var m map[uint64]cbor.RawMessage
	if err := cbor.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m[6] = v
	b, err := encMode.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEmptyValueIsEmptyBytes: an empty value, nil or not (a tombstone, an
// empty put), is sealed as empty bytes (0x40), the type SYNC.md gives
// field 6, never as null (0xf6).
func TestEmptyValueIsEmptyBytes(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range [][]byte{nil, {}} {
		e, err := Seal(priv, "chat/k", "chat", 0, Timestamp{Wall: 1}, value)
		if err != nil {
			t.Fatal(err)
		}
		data, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got := field6(t, data); !bytes.Equal(got, []byte{0x40}) {
			t.Errorf("an empty value (nil: %t) is sealed as %x, not as empty bytes (40)", value == nil, got)
		}
		opened, err := Open(e.Key, data)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := opened.Marshal(); err != nil || !bytes.Equal(again, data) {
			t.Errorf("the opened envelope re-encodes as %x, %v; received %x", again, err, data)
		}
	}
}

// TestNullValueStillOpens: a record an older node signed with its empty
// value as null (0xf6) opens and verifies, and re-encodes to exactly the
// bytes received; the same record with the value swapped for the other
// form of empty does not verify, so one signature has one encoding.
func TestNullValueStillOpens(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Sealed as older nodes did.
	e, err := Seal(priv, "chat/k", "chat", 0, Timestamp{Wall: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.nullValue = true
	msg, err := e.signedBytes()
	if err != nil {
		t.Fatal(err)
	}
	if e.Signature, err = priv.Sign(msg); err != nil {
		t.Fatal(err)
	}
	old, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got := field6(t, old); !bytes.Equal(got, []byte{0xf6}) {
		t.Fatalf("the old form's value is %x, not null", got)
	}
	for name, open := range map[string]func() (*Envelope, error){
		"Open":       func() (*Envelope, error) { return Open(e.Key, old) },
		"OpenRecord": func() (*Envelope, error) { return OpenRecord(old) },
		"Decode":     func() (*Envelope, error) { return Decode(e.Key, old) },
	} {
		got, err := open()
		if err != nil {
			t.Fatalf("%s of a record with a null value: %v", name, err)
		}
		if len(got.Value) != 0 {
			t.Errorf("%s: value %x", name, got.Value)
		}
		if again, err := got.Marshal(); err != nil || !bytes.Equal(again, old) {
			t.Errorf("%s: the record re-encodes as\n%x, %v; received\n%x", name, again, err, old)
		}
	}
	if _, err := Open(e.Key, swap6(t, old, []byte{0x40})); err == nil {
		t.Error("a record signed with a null value opened with empty bytes instead")
	}
	e.nullValue = false
	current, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(e.Key, current); err == nil {
		t.Error("a record signed with a null value opened re-encoded with empty bytes")
	}
}
