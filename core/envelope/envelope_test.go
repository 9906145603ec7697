package envelope_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, id
}

func seal(t testing.TB, priv crypto.PrivKey, name string, ts envelope.Timestamp, value string) (string, []byte) {
	t.Helper()
	e, err := envelope.Seal(priv, name, "notes", 2, ts, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return e.Key, b
}

func TestSealOpen(t *testing.T) {
	priv, id := newKey(t)
	key, data := seal(t, priv, "greeting", envelope.Timestamp{Wall: 5, Logical: 1}, "hello")
	if key != envelope.Key(id, "greeting") {
		t.Fatalf("key %s", key)
	}
	e, err := envelope.Open(key, data)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value) != "hello" || e.Schema != "notes" || e.Version != 2 || e.Clock != (envelope.Timestamp{Wall: 5, Logical: 1}) {
		t.Fatalf("opened %+v", e)
	}
	owner, name, err := envelope.ParseKey(key)
	if err != nil || owner != id || name != "greeting" {
		t.Fatalf("ParseKey = %s, %q, %v", owner, name, err)
	}
}

func TestOpenRejects(t *testing.T) {
	priv, id := newKey(t)
	stranger, _ := newKey(t)
	key, data := seal(t, priv, "greeting", envelope.Timestamp{Wall: 5}, "hello")

	// A stranger signs a record and files it under the owner's key.
	forged, err := envelope.Seal(stranger, "greeting", "notes", 2, envelope.Timestamp{Wall: 9}, []byte("mine now"))
	if err != nil {
		t.Fatal(err)
	}
	forged.Key = key
	forgedBytes, _ := forged.Marshal()

	// The owner's record replayed under another of the owner's names.
	_, other := seal(t, priv, "other", envelope.Timestamp{Wall: 5}, "hello")

	// A changed value keeps the old signature.
	var tampered envelope.Envelope
	if err := cbor.Unmarshal(data, &tampered); err != nil {
		t.Fatal(err)
	}
	tampered.Value = []byte("HELLO")
	tamperedBytes, _ := tampered.Marshal()

	// The same fields, encoded non-canonically (a map with string keys).
	loose, _ := cbor.Marshal(map[string]any{"1": key})

	// The same fields, the version (2) written as a four-byte integer: it
	// decodes to the signed fields, but is not their deterministic encoding.
	version := []byte("notes\x03\x02")
	if bytes.Count(data, version) != 1 {
		t.Fatal("cannot find the version in the envelope")
	}
	longVersion := bytes.Replace(data, version, []byte("notes\x03\x1a\x00\x00\x00\x02"), 1)

	for _, tc := range []struct {
		name, key string
		data      []byte
		want      string
	}{
		{"stranger's signature", key, forgedBytes, "another peer"},
		{"replayed under another name", key, other, "signed for"},
		{"tampered value", key, tamperedBytes, "does not verify"},
		{"garbage", key, []byte("not cbor at all"), "well-formed"},
		{"empty", key, nil, "well-formed"},
		{"foreign encoding", key, loose, "well-formed"},
		{"non-minimal integer", key, longVersion, "not in deterministic CBOR"},
		{"truncated", key, data[:len(data)-1], "well-formed"},
		{"trailing bytes", key, append(slices.Clip(data), 0x00), "well-formed"},
		{"oversized", key, bytes.Repeat([]byte{0}, envelope.MaxSize+1), "larger than"},
		{"not a netabase key", "/pk/abc", data, "not a netabase record key"},
		{"key without a name", "/netabase/" + id.String(), data, "no name"},
		{"owner not a peer ID", "/netabase/nobody/greeting", data, "not a peer ID"},
		{"owner spelt as a CID", "/netabase/" + peer.ToCid(id).String() + "/greeting", data, "write it as " + id.String()},
	} {
		_, err := envelope.Open(tc.key, tc.data)
		if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Open = %v; want an ErrRejected saying %q", tc.name, err, tc.want)
		}
		if err := (envelope.Validator{}).Validate(tc.key, tc.data); err == nil {
			t.Errorf("%s: Validate accepted it", tc.name)
		}
	}
}

func TestSealRefusesOversizedValues(t *testing.T) {
	priv, _ := newKey(t)
	_, err := envelope.Seal(priv, "big", "s", 1, envelope.Timestamp{}, make([]byte, envelope.MaxSize))
	if !errors.Is(err, core.ErrTooLarge) {
		t.Fatalf("Seal of an oversized value = %v", err)
	}
	_, err = envelope.Seal(priv, "", "s", 1, envelope.Timestamp{}, nil)
	if !errors.Is(err, core.ErrInvalidKey) {
		t.Fatalf("Seal with an empty name = %v", err)
	}
}

// TestSealRefusesWhatCannotOpen: names and schemas that are not UTF-8, and
// names that are too long, are refused when sealing, saying why, rather
// than sealed into an envelope no node opens.
func TestSealRefusesWhatCannotOpen(t *testing.T) {
	priv, _ := newKey(t)
	for _, tc := range []struct{ name, schema, want string }{
		{"caf\xe9", "s", "not valid UTF-8"},
		{"n", "\xff", "not valid UTF-8"},
		{strings.Repeat("n", envelope.MaxNameSize+1), "s", "longer than"},
	} {
		_, err := envelope.Seal(priv, tc.name, tc.schema, 1, envelope.Timestamp{}, nil)
		if !errors.Is(err, core.ErrInvalidKey) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Seal(%q, schema %q) = %v; want an ErrInvalidKey saying %q", tc.name, tc.schema, err, tc.want)
		}
	}
	// Odd but valid names work.
	for _, name := range []string{"a/b/../c", "tab\there", "emoji \U0001F600", strings.Repeat("n", envelope.MaxNameSize)} {
		key, data := seal(t, priv, name, envelope.Timestamp{Wall: 1}, "v")
		if _, err := envelope.Open(key, data); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
	}
}

func TestSelectNewest(t *testing.T) {
	priv, _ := newKey(t)
	key, old := seal(t, priv, "n", envelope.Timestamp{Wall: 10}, "old")
	_, newer := seal(t, priv, "n", envelope.Timestamp{Wall: 10, Logical: 1}, "newer")
	_, newest := seal(t, priv, "n", envelope.Timestamp{Wall: 11}, "newest")
	v := envelope.Validator{}
	for _, order := range [][][]byte{{old, newer, newest}, {newest, old, newer}, {newer, newest, old}} {
		i, err := v.Select(key, order)
		if err != nil || !bytes.Equal(order[i], newest) {
			t.Fatalf("Select picked %d, %v", i, err)
		}
	}
	// Equal clocks: every peer picks the same one, whatever the order.
	_, a := seal(t, priv, "n", envelope.Timestamp{Wall: 20}, "a")
	_, b := seal(t, priv, "n", envelope.Timestamp{Wall: 20}, "b")
	i, _ := v.Select(key, [][]byte{a, b})
	j, _ := v.Select(key, [][]byte{b, a})
	if !bytes.Equal([][]byte{a, b}[i], [][]byte{b, a}[j]) {
		t.Fatal("Select of a tie depends on the order")
	}
	if _, err := v.Select(key, [][]byte{[]byte("junk")}); err == nil {
		t.Fatal("Select among no valid records succeeded")
	}
}

func TestClock(t *testing.T) {
	c := envelope.NewClock()
	prev := c.Now()
	for range 1000 {
		next := c.Now()
		if next.Compare(prev) <= 0 {
			t.Fatalf("clock went from %s to %s", prev, next)
		}
		prev = next
	}
	future := envelope.Timestamp{Wall: time.Now().Add(envelope.MaxClockSkew).UnixNano(), Logical: 7}
	c.Advance(future)
	if got := c.Now(); got.Compare(future) <= 0 {
		t.Fatalf("after advancing to %s the clock read %s", future, got)
	}
}

// TestClockObserveBound: another owner's reading moves the clock past it
// when it is within MaxObservedSkew of the wall clock, and no further than
// that bound when it is further ahead; the clock still never goes back.
func TestClockObserveBound(t *testing.T) {
	c := envelope.NewClock()
	near := envelope.Timestamp{Wall: time.Now().Add(envelope.MaxObservedSkew / 2).UnixNano(), Logical: 3}
	c.Observe(near)
	prev := c.Now()
	if prev.Compare(near) <= 0 {
		t.Fatalf("after observing %s the clock read %s", near, prev)
	}
	far := envelope.Timestamp{Wall: time.Now().Add(50 * time.Minute).UnixNano()}
	c.Observe(far)
	got := c.Now()
	if bound := time.Now().Add(envelope.MaxObservedSkew).UnixNano(); got.Wall > bound {
		t.Errorf("after observing %s the clock read %s, %s past the wall clock; want at most %s",
			far, got, time.Duration(got.Wall-time.Now().UnixNano()), envelope.MaxObservedSkew)
	}
	if got.Compare(prev) <= 0 {
		t.Errorf("the clock went from %s back to %s", prev, got)
	}
	if err := (&envelope.Envelope{Clock: got}).CheckClock(time.Now().Add(-2 * time.Second)); err != nil {
		t.Errorf("a peer 2 s behind refuses the reading: %v", err)
	}
}

// TestClockCarriesPastAFullCounter: a reading whose counter is full is
// followed by a later one, not by a wrapped-around earlier one.
func TestClockCarriesPastAFullCounter(t *testing.T) {
	c := envelope.NewClock()
	full := envelope.Timestamp{Wall: time.Now().Add(time.Minute).UnixNano(), Logical: math.MaxUint32}
	c.Advance(full)
	if got := c.Now(); got.Compare(full) <= 0 {
		t.Fatalf("after observing %s the clock read %s", full, got)
	}
}

// TestValidateRefusesFarFutureClocks: a record dated more than
// MaxClockSkew ahead is refused, saying so; one within it is accepted.
func TestValidateRefusesFarFutureClocks(t *testing.T) {
	priv, _ := newKey(t)
	v := envelope.Validator{}
	near := envelope.Timestamp{Wall: time.Now().Add(envelope.MaxClockSkew / 2).UnixNano()}
	key, data := seal(t, priv, "n", near, "near")
	if err := v.Validate(key, data); err != nil {
		t.Errorf("a record %s ahead was refused: %v", envelope.MaxClockSkew/2, err)
	}
	for _, ts := range []envelope.Timestamp{
		{Wall: time.Now().Add(2 * envelope.MaxClockSkew).UnixNano()},
		{Wall: math.MaxInt64, Logical: math.MaxUint32},
	} {
		key, data := seal(t, priv, "n", ts, "far")
		err := v.Validate(key, data)
		if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "ahead of this node's clock") {
			t.Errorf("a record dated %s: Validate = %v; want an ErrRejected saying it is ahead", ts, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	priv, _ := newKey(f)
	key, data := seal(f, priv, "fuzz", envelope.Timestamp{Wall: 1}, "v")
	f.Add(data)
	f.Add([]byte{0xa1, 0x01, 0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := envelope.Open(key, b)
		if err == nil && !bytes.Equal(b, data) {
			t.Fatalf("a forged record opened: %+v", e)
		}
	})
}
