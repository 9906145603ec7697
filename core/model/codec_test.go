package model

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core"
)

type fuzzInner struct {
	X int8
	Y []string `cbor:"y,omitempty"`
}

type fuzzValue struct {
	ID    string    `netabase:"key"`
	N     int64     `netabase:"index"`
	U     uint8     `netabase:"index,unique"`
	At    time.Time `netabase:"index"`
	B     []byte
	F     float64
	M     map[string]int32
	S     []fuzzInner
	P     *fuzzInner
	Any   any
	Arr   [2]uint16
	Keyed string `cbor:"7,keyasint"`
}

func openFuzz(tb testing.TB) *Collection[string, fuzzValue] {
	s := NewLocal(dssync.MutexWrap(ds.NewMapDatastore()))
	tb.Cleanup(func() { _ = s.Close() })
	c, err := Open[string, fuzzValue](tb.Context(), s, "fuzz")
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestDeterministicEncoding(t *testing.T) {
	v := fuzzValue{ID: "k", M: map[string]int32{"b": 2, "a": 1, "aa": 3, "": 0}, At: time.Date(2026, 1, 1, 0, 0, 0, 5, time.FixedZone("z", -7200))}
	first, err := encodeStored(1, &v)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // map iteration order varies from run to run
		again, err := encodeStored(1, &v)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("encoding the same value twice: %x and %x (%v)", first, again, err)
		}
	}
	// The same instant in another zone is the same value.
	v.At = v.At.UTC()
	if utc, err := encodeStored(1, &v); err != nil || !bytes.Equal(utc, first) {
		t.Fatalf("a time in UTC encodes as %x, in another zone as %x (%v)", utc, first, err)
	}
}

// FuzzDecodeValue decodes arbitrary bytes as a stored value, and as a
// schema descriptor: never a panic; an error wraps ErrCorrupt and names the
// collection and key; a value that decodes re-encodes to bytes that decode
// to the same encoding again.
func FuzzDecodeValue(f *testing.F) {
	c := openFuzz(f)
	for _, v := range []fuzzValue{
		{ID: "k"},
		{ID: "k", N: -5, U: 7, At: time.Unix(1, 2).UTC(), B: []byte{1}, F: 1.5, M: map[string]int32{"a": 1},
			S: []fuzzInner{{X: 1, Y: []string{"y"}}}, P: &fuzzInner{X: -1}, Any: "x", Arr: [2]uint16{1, 2}, Keyed: "z"},
	} {
		data, err := encodeStored(1, &v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if d, err := valueEnc.Marshal(c.descriptor()); err == nil {
		f.Add(d)
	}
	f.Add([]byte{})
	f.Add([]byte{0x01, 0xff})
	f.Add([]byte{0x02, 0xa1, 0x62, 'I', 'D', 0x61, 'k'})
	kseg := segment([]byte("k"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d descriptor
		_ = decodeCBOR(data, &d)

		v, err := c.decodeStored(kseg, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), `collection "fuzz"`) || !strings.Contains(err.Error(), `key "k"`) {
				t.Fatalf("decoding %x: %v", data, err)
			}
			return
		}
		again, err := encodeStored(1, &v)
		if err != nil {
			t.Fatalf("%x decodes as %+v, which does not encode: %v", data, v, err)
		}
		w, err := c.decodeStored(kseg, again)
		if err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", again, err)
		}
		third, err := encodeStored(1, &w)
		if err != nil || !bytes.Equal(third, again) {
			t.Fatalf("encoding is not stable: %x then %x (%v)", again, third, err)
		}
	})
}
