package model

import (
	"bytes"
	"cmp"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fullKey is the datastore key suffix an index entry gets for the binary
// value v and key k: segments joined by "/", as in the store.
func fullKey(v, k []byte) string { return segment(v) + "/" + segment(k) }

// checkOrder checks, for values sorted ascending by the test, that their
// segments sort the same way, alone and as the value part of an index entry
// followed by any key, and that each decodes back to itself.
func checkOrder[V any](t *testing.T, values []V, equal func(a, b V) bool) {
	t.Helper()
	typ := reflect.TypeFor[V]()
	k, ok := kindOf(typ)
	if !ok {
		t.Fatalf("%s is not a key type", typ)
	}
	segs := make([]string, len(values))
	for i, v := range values {
		b := k.appendBinary(nil, reflect.ValueOf(v))
		segs[i] = segment(b)
		back, err := parseSegment(segs[i])
		if err != nil {
			t.Fatalf("%v: segment %q does not parse: %v", v, segs[i], err)
		}
		got, err := k.decodeBinary(back, typ)
		if err != nil {
			t.Fatalf("%v: does not decode: %v", v, err)
		}
		if !equal(got.Interface().(V), v) {
			t.Fatalf("%v decodes as %v", v, got.Interface())
		}
		if strings.Contains(segs[i], "/") || segs[i] == "" || segs[i] == "." || segs[i] == ".." {
			t.Fatalf("%v: segment %q is not a clean path segment", v, segs[i])
		}
	}
	// Keys for the entries: the largest first, so that a key never
	// decides an order the values should.
	keyHi, keyLo := []byte{0xff, 0xff}, []byte{}
	for i := 1; i < len(values); i++ {
		if !(segs[i-1] < segs[i]) {
			t.Errorf("%v and %v: segments %q and %q are not in order", values[i-1], values[i], segs[i-1], segs[i])
		}
		a := k.appendBinary(nil, reflect.ValueOf(values[i-1]))
		b := k.appendBinary(nil, reflect.ValueOf(values[i]))
		if !(fullKey(a, keyHi) < fullKey(b, keyLo)) {
			t.Errorf("%v and %v: index entries %q and %q are not in order", values[i-1], values[i], fullKey(a, keyHi), fullKey(b, keyLo))
		}
	}
}

func TestOrderStrings(t *testing.T) {
	checkOrder(t, []string{"", "\x00", "\x00\x00", "\x01", "/", "a", "a\x00", "a\x00b", "a/", "ab", "b", "é", "\xff"},
		func(a, b string) bool { return a == b })
}

func TestOrderBytes(t *testing.T) {
	checkOrder(t, [][]byte{{}, {0}, {0, 0}, {0, 0xff}, {1}, {'a'}, {'a', 0}, {'a', 'b'}, {0xff}, {0xff, 0}},
		bytes.Equal)
}

func TestOrderSigned(t *testing.T) {
	eq := func(a, b int64) bool { return a == b }
	checkOrder(t, []int64{math.MinInt64, math.MinInt64 + 1, -1 << 32, -256, -255, -1, 0, 1, 255, 256, 1 << 32, math.MaxInt64}, eq)
	checkOrder(t, []int8{math.MinInt8, -1, 0, 1, math.MaxInt8}, func(a, b int8) bool { return a == b })
	checkOrder(t, []int{-1000, -1, 0, 1000}, func(a, b int) bool { return a == b })
}

func TestOrderUnsigned(t *testing.T) {
	checkOrder(t, []uint64{0, 1, 255, 256, 1 << 32, math.MaxUint64}, func(a, b uint64) bool { return a == b })
	checkOrder(t, []uint16{0, 1, 255, 256, math.MaxUint16}, func(a, b uint16) bool { return a == b })
}

func TestOrderBool(t *testing.T) {
	checkOrder(t, []bool{false, true}, func(a, b bool) bool { return a == b })
}

func TestOrderTime(t *testing.T) {
	paris := time.FixedZone("Paris", 3600)
	checkOrder(t, []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Date(2026, 6, 1, 12, 0, 0, 0, paris), // 11:00 UTC, before the next
		time.Date(2026, 6, 1, 11, 30, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}, time.Time.Equal)
}

// TestOrderNamedTypes checks that named types are keyed as their kind.
func TestOrderNamedTypes(t *testing.T) {
	type ID string
	type Level int32
	checkOrder(t, []ID{"", "a", "b"}, func(a, b ID) bool { return a == b })
	checkOrder(t, []Level{-3, 0, 3}, func(a, b Level) bool { return a == b })
}

// TestWideningKeepsKeys checks that every integer width gives the same
// binary form, so widening a field keeps its keys.
func TestWideningKeepsKeys(t *testing.T) {
	a := kindInt.appendBinary(nil, reflect.ValueOf(int8(-5)))
	b := kindInt.appendBinary(nil, reflect.ValueOf(int64(-5)))
	if !bytes.Equal(a, b) {
		t.Fatalf("int8 -5 is %x, int64 -5 is %x", a, b)
	}
}

func TestParseSegmentRejects(t *testing.T) {
	for _, s := range []string{"", "0", "01", "=", "a", "W0", "-0", "--", "00="} {
		if b, err := parseSegment(s); err == nil {
			t.Errorf("parseSegment(%q) = %x, want an error", s, b)
		}
	}
}

func TestDecodeBinaryRejects(t *testing.T) {
	cases := []struct {
		typ reflect.Type
		b   []byte
	}{
		{reflect.TypeFor[int64](), []byte{1, 2, 3}},
		{reflect.TypeFor[int8](), kindInt.appendBinary(nil, reflect.ValueOf(int64(300)))},
		{reflect.TypeFor[uint8](), kindUint.appendBinary(nil, reflect.ValueOf(uint64(300)))},
		{reflect.TypeFor[uint64](), nil},
		{reflect.TypeFor[bool](), []byte{2}},
		{reflect.TypeFor[bool](), []byte{}},
		{timeType, make([]byte, 11)},
		{timeType, append(make([]byte, 8), 0xff, 0xff, 0xff, 0xff)}, // nanoseconds >= 1e9
		{timeType, append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, 0, 0, 0)},
	}
	for _, c := range cases {
		k, _ := kindOf(c.typ)
		if v, err := k.decodeBinary(c.b, c.typ); err == nil {
			t.Errorf("decoding %x as %s = %v, want an error", c.b, c.typ, v)
		}
	}
}

// The fuzz targets run in CI for a bounded time each:
//
//	go test ./core/model -run '^$' -fuzz '^FuzzKeyEncoding$' -fuzztime 20s
//	go test ./core/model -run '^$' -fuzz '^FuzzDecodeValue$' -fuzztime 20s
//
// Without -fuzz, go test runs their seed corpora as ordinary tests.

// FuzzKeyEncoding checks, for two values of each kind made from the fuzzed
// bytes, that the order of their segments is the order of the values, that
// each decodes back to itself, and that parsing arbitrary text as a segment
// and decoding it never panics and accepts only canonical forms.
func FuzzKeyEncoding(f *testing.F) {
	f.Add([]byte(""), []byte("a"), int64(-1), int64(1), "-")
	f.Add([]byte("a"), []byte("a\x00"), int64(math.MinInt64), int64(math.MaxInt64), "C4")
	f.Add([]byte("ab"), []byte("a\x00"), int64(0), int64(-1<<40), "00000000000FU")
	f.Add([]byte{0xff}, []byte{}, int64(1e18), int64(-1e18), "VVVVVVVVVVVVU")
	f.Fuzz(func(t *testing.T, a, b []byte, i, j int64, text string) {
		check := func(what string, ka, kb reflect.Value, want int) {
			k, _ := kindOf(ka.Type())
			sa, sb := segment(k.appendBinary(nil, ka)), segment(k.appendBinary(nil, kb))
			if got := cmp.Compare(sa, sb); got != want {
				t.Fatalf("%s %v vs %v: segments %q vs %q compare %d, want %d", what, ka, kb, sa, sb, got, want)
			}
			for _, s := range []string{sa, sb} {
				bin, err := parseSegment(s)
				if err != nil {
					t.Fatalf("%s: segment %q: %v", what, s, err)
				}
				if _, err := k.decodeBinary(bin, ka.Type()); err != nil {
					t.Fatalf("%s: segment %q: %v", what, s, err)
				}
			}
		}
		check("bytes", reflect.ValueOf(a), reflect.ValueOf(b), bytes.Compare(a, b))
		check("string", reflect.ValueOf(string(a)), reflect.ValueOf(string(b)), strings.Compare(string(a), string(b)))
		check("int", reflect.ValueOf(i), reflect.ValueOf(j), cmp.Compare(i, j))
		check("uint", reflect.ValueOf(uint64(i)), reflect.ValueOf(uint64(j)), cmp.Compare(uint64(i), uint64(j)))
		ta, tb := time.Unix(i%(1<<40), j%1e9).UTC(), time.Unix(j%(1<<40), i%1e9).UTC()
		check("time", reflect.ValueOf(ta), reflect.ValueOf(tb), ta.Compare(tb))

		// Compound entries order by value first, then by key.
		ea, eb := fullKey(a, b), fullKey(b, a)
		if want := cmp.Or(bytes.Compare(a, b), bytes.Compare(b, a)); cmp.Compare(ea, eb) != want {
			t.Fatalf("entries (%x, %x) and (%x, %x): %q vs %q", a, b, b, a, ea, eb)
		}

		bin, err := parseSegment(text)
		if err != nil {
			return
		}
		if segment(bin) != text {
			t.Fatalf("segment %q parses as %x, which encodes as %q", text, bin, segment(bin))
		}
		for _, typ := range []reflect.Type{reflect.TypeFor[string](), reflect.TypeFor[[]byte](), reflect.TypeFor[int16](),
			reflect.TypeFor[int64](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](), reflect.TypeFor[bool](), timeType} {
			k, _ := kindOf(typ)
			v, err := k.decodeBinary(bin, typ)
			if err != nil {
				continue
			}
			if again := k.appendBinary(nil, v); !bytes.Equal(again, bin) {
				t.Fatalf("%x decodes as %s %v, which encodes as %x", bin, typ, v, again)
			}
		}
	})
}

// TestSegmentsSortLikeBinary checks base32hex's order on binary values of
// different lengths, where the last character carries padding bits.
func TestSegmentsSortLikeBinary(t *testing.T) {
	bins := [][]byte{{}, {0}, {0, 0}, {0, 0, 0, 0, 0, 0}, {0, 1}, {0, 0xff, 0xff}, {1}, {0x7f}, {0x80}, {0xff}, {0xff, 0}, {0xff, 0xff, 0xff, 0xff, 0xff}}
	segs := make([]string, len(bins))
	for i, b := range bins {
		segs[i] = segment(b)
	}
	if !slices.IsSorted(segs) {
		t.Fatalf("segments of sorted binary values are not sorted: %q", segs)
	}
}
