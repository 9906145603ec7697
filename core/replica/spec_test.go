package replica

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/netabase/netabase/core/envelope"
)

// specHex reads a hex block of SYNC.md's form: white space is ignored.
func specHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpecVectors checks the examples of SYNC.md against the code.
func TestSpecVectors(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	e, err := envelope.Seal(priv, "chat/hello", "chat", 1, envelope.Timestamp{Wall: 1700000000000000000}, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "/netabase/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/chat/hello"; e.Key != want {
		t.Errorf("key %s, SYNC.md says %s", e.Key, want)
	}
	got, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := specHex(t, `
    a70178492f6e657461626173652f313244334b6f6f5744704a3741733742574177524d
    6675315655325743714e6a76713338374a45594b44426a346b78366e58544e2f636861
    742f68656c6c6f026463686174030104a2011b17979cfe362a00000200055824080112
    203b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da290642
    6869075840ce991f0ca74853d493ff719ac16898945684fd377897b62185cf8cdcc37d
    505fbc5bdfba3c4c2691329763c7e556edb8b4dddf89affe8501ccf7a7e907908e04`)
	if !bytes.Equal(got, want) {
		t.Errorf("the envelope encodes as\n%x\nSYNC.md says\n%x", got, want)
	}
	if _, err := envelope.OpenRecord(want); err != nil {
		t.Errorf("SYNC.md's envelope does not open: %v", err)
	}
	s, err := Settings{Name: "chat"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Topic(), "/netabase/sync/1/chat/3d6436fdf8ded1b1edb5bf8b0461fe61"; got != want {
		t.Errorf("topic %s, SYNC.md says %s", got, want)
	}
	m := &Message{Collection: "chat", Digest: make([]byte, HashSize), Ranges: []Range{
		{Upper: []byte("/a"), Mode: ModeSkip},
		{Mode: ModeFingerprint, Fingerprint: make([]byte, HashSize)},
	}}
	mb, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if want := specHex(t, `
    a30164636861740250000000000000000000000000000000000382a101422f61a2020103
    5000000000000000000000000000000000`); !bytes.Equal(mb, want) {
		t.Errorf("the message encodes as %x, SYNC.md says %x", mb, want)
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
	if got := s.Fingerprint(); !bytes.Equal(got[:], full[:HashSize]) {
		t.Fatalf("fingerprint %x, SYNC.md's formula gives %x", got, full[:HashSize])
	}
}
