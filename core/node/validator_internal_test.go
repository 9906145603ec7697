package node

import (
	"bytes"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/envelope"
)

// TestCachedValidatorAgrees: the cached validator accepts, refuses and
// selects exactly as envelope.Validator does, however often it is asked.
func TestCachedValidatorAgrees(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(wall int64, logical uint32, value string) []byte {
		e, err := envelope.Seal(priv, "x", "s", 1, envelope.Timestamp{Wall: wall, Logical: logical}, []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	older, newer, tie1, tie2 := seal(100, 0, "a"), seal(200, 0, "b"), seal(300, 1, "c"), seal(300, 1, "d")
	tampered := bytes.Replace(slicesClone(newer), []byte("b"), []byte("z"), 1)
	owner, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	key := envelope.Key(owner, "x")

	plain, cached := envelope.Validator{}, cachedValidator{newOpenCache()}
	future := seal(time.Now().Add(2*envelope.MaxClockSkew).UnixNano(), 0, "f")
	values := [][]byte{older, newer, tie1, tie2, tampered, future, []byte("junk"), nil}
	for round := range 2 { // the second round answers from the cache
		for i, v := range values {
			if (plain.Validate(key, v) == nil) != (cached.Validate(key, v) == nil) {
				t.Errorf("round %d: Validate disagrees on value %d", round, i)
			}
		}
		for _, set := range [][][]byte{
			{older, newer}, {newer, older}, {tie1, tie2}, {tie2, tie1}, {tampered, older}, {older, tampered, newer, tie1},
		} {
			p, perr := plain.Select(key, set)
			c, cerr := cached.Select(key, set)
			if p != c || (perr == nil) != (cerr == nil) {
				t.Errorf("round %d: Select picks %d (%v), envelope.Validator %d (%v)", round, c, cerr, p, perr)
			}
		}
		if _, err := cached.Select(key, [][]byte{tampered, []byte("junk")}); err == nil {
			t.Error("Select found a valid record among invalid ones")
		}
	}
	// A caller's copy is its own.
	oc := newOpenCache()
	first, err := oc.open(key, newer)
	if err != nil {
		t.Fatal(err)
	}
	first.Value[0] = 'Q'
	again, _ := oc.open(key, newer)
	if string(again.Value) != "b" {
		t.Errorf("a caller's change reached the cache: %q", again.Value)
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// TestOpenCacheKeysAreUnambiguous: a record whose name holds a NUL byte
// opens under its own key only. Remembering it must not make another key,
// with the rest of the name moved into the bytes, open as well.
func TestOpenCacheKeysAreUnambiguous(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := envelope.Seal(priv, "n\x00tail", "s", 1, envelope.Timestamp{Wall: 1}, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	owner, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	c := newOpenCache()
	if _, err := c.open(e.Key, data); err != nil {
		t.Fatal(err)
	}
	shifted := append([]byte("tail\x00"), data...)
	if got, err := c.open(envelope.Key(owner, "n"), shifted); err == nil {
		t.Fatalf("bytes that are no envelope opened under another key, as the envelope of %q", got.Key)
	}
}
