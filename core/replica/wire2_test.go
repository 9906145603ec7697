package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomMessage makes a message of every field, of keys that share
// prefixes of every length.
func randomMessage(rng *rand.Rand) *Message {
	key := func() []byte {
		k := []byte("/netabase/12D3KooW/coll/")
		k = k[:rng.IntN(len(k))+1]
		for range rng.IntN(6) {
			k = append(k, "ab/\xff\x00"[rng.IntN(5)])
		}
		return k
	}
	var keys [][]byte
	for range rng.IntN(40) {
		keys = append(keys, key())
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	m := &Message{version: Version2}
	if rng.IntN(2) == 0 {
		m.Collection, m.Digest = "coll", bytes.Repeat([]byte{7}, HashSize)
	}
	// Bounds every few keys; the keys between go in lists.
	var lower []byte
	for i := 0; i <= len(keys); {
		j := min(len(keys), i+rng.IntN(4)+1)
		var r Range
		if j < len(keys) {
			r.Upper = keys[j]
		}
		r.Mode = Mode(rng.IntN(3))
		switch r.Mode {
		case ModeFingerprint:
			r.Fingerprint = bytes.Repeat([]byte{byte(i)}, HashSize)
		case ModeList:
			for _, k := range keys[i:j] {
				if bytes.Compare(k, lower) >= 0 {
					r.Items = append(r.Items, WireItem{Key: k, Wall: rng.Int64() - rng.Int64(), Logical: rng.Uint32(), Hash: bytes.Repeat([]byte{byte(len(k))}, HashSize)})
				}
			}
		}
		m.Ranges = append(m.Ranges, r)
		lower = r.Upper
		if j == len(keys) {
			break
		}
		i = j + 1
	}
	for range rng.IntN(5) {
		m.Wants = append(m.Wants, key())
	}
	for range rng.IntN(3) {
		m.Records = append(m.Records, WireRecord{Envelope: []byte{byte(rng.IntN(256))}})
	}
	return m
}

// TestVersion2RoundTrip: a message of version 2 decodes to what was
// encoded.
func TestVersion2RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range 500 {
		m := randomMessage(rng)
		if err := m.check(); err != nil {
			t.Fatalf("message %d is not valid: %v", i, err)
		}
		b, err := Version2.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Version2.Decode(b)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(m) {
			t.Fatalf("message %d decodes as\n%+v\nnot\n%+v", i, got, m)
		}
	}
}

// TestVersion2KeysBounded: keys coded relative to the one before cannot
// make a small frame decode to more than MaxFrame bytes of keys.
func TestVersion2KeysBounded(t *testing.T) {
	var wants []byte
	wants = binary.AppendUvarint(wants, 0)
	wants = binary.AppendUvarint(wants, MaxKeySize)
	wants = append(wants, strings.Repeat("k", MaxKeySize)...)
	for i := range MaxWants - 1 {
		// The key before, its last byte changed: 2,048 bytes from 4.
		wants = binary.AppendUvarint(wants, MaxKeySize-1)
		wants = binary.AppendUvarint(wants, 1)
		wants = append(wants, byte(i))
	}
	b := cborOf(t, map[uint64]any{5: wants})
	if len(b) > MaxFrame/8 {
		t.Fatalf("the test's frame is %d bytes", len(b))
	}
	if _, err := Version2.Decode(b); err == nil || !strings.Contains(err.Error(), "the keys come to more than") {
		t.Fatalf("a frame of %d bytes decoding to %d bytes of keys: %v", len(b), MaxWants*MaxKeySize, err)
	}
}

// FuzzVersion2Decode: any bytes decode to a valid message or an error
// wrapping ErrMalformed, never a panic; a message that decodes encodes to
// bytes that decode to the same message.
func FuzzVersion2Decode(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 3))
	for range 20 {
		b, err := Version2.Encode(randomMessage(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Version2.Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		again, err := Version2.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Version2.Decode(again)
		if err != nil || fmt.Sprint(m2) != fmt.Sprint(m) {
			t.Fatalf("re-encoded, it decodes as %+v, %v", m2, err)
		}
	})
}
