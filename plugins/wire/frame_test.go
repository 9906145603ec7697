package wire_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/netabase/netabase/plugins/wire"
)

// TestFrameVector pins the encoding FRAMES.md specifies with its example.
func TestFrameVector(t *testing.T) {
	var f wire.Frame
	f.Put([]byte("/a"), []byte("xyz"))
	f.Delete([]byte("/b"))
	want := []byte{
		2, 0, 0, 0, // two records
		1, 2, '/', 'a', 3, 'x', 'y', 'z', // put /a = "xyz"
		2, 2, '/', 'b', // delete /b
	}
	if got := f.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("the frame is % x, want % x", got, want)
	}
	var e wire.Frame
	e.PutSize([]byte("/k"), 300)
	if got, want := e.Bytes(), []byte{1, 0, 0, 0, 3, 2, '/', 'k', 0xac, 0x02}; !bytes.Equal(got, want) {
		t.Fatalf("the entry frame is % x, want % x", got, want)
	}
	// The string variants encode as the others do.
	var fs, es wire.Frame
	fs.PutString("/a", []byte("xyz"))
	fs.Delete([]byte("/b"))
	es.PutSizeString("/k", 300)
	if !bytes.Equal(fs.Bytes(), want) || !bytes.Equal(es.Bytes(), e.Bytes()) {
		t.Fatalf("PutString and PutSizeString make % x and % x, want % x and % x", fs.Bytes(), es.Bytes(), want, e.Bytes())
	}
	if got, want := (&wire.Frame{}).Bytes(), []byte{0, 0, 0, 0}; !bytes.Equal(got, want) {
		t.Fatalf("the empty frame is % x, want % x", got, want)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var f wire.Frame
	big := bytes.Repeat([]byte{7}, 70000)
	f.Put([]byte("/k/1"), nil)
	f.Put([]byte("/k/2"), big)
	f.Delete([]byte("/k/3"))
	recs, err := wire.DecodeFrame(f.Bytes(), wire.MutationKinds)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || f.Len() != 3 {
		t.Fatalf("decoded %d records (the frame counts %d), want 3", len(recs), f.Len())
	}
	for i, want := range []wire.Record{
		{Kind: wire.KindPut, Key: []byte("/k/1"), Value: []byte{}},
		{Kind: wire.KindPut, Key: []byte("/k/2"), Value: big, Size: int64(len(big))},
		{Kind: wire.KindDelete, Key: []byte("/k/3")},
	} {
		got := recs[i]
		if got.Kind != want.Kind || !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) || got.Size != want.Size {
			t.Errorf("record %d is %+v, want %+v", i, got, want)
		}
	}
	if recs[0].Value == nil {
		t.Error("an empty value decodes as nil; it must stay a present, empty value")
	}
	f.Reset()
	if f.Len() != 0 || !bytes.Equal(f.Bytes(), []byte{0, 0, 0, 0}) {
		t.Errorf("a reset frame is % x with %d records", f.Bytes(), f.Len())
	}
}

// TestFrameRefused checks that every malformed frame is refused with an
// error wrapping wire.ErrFrame that says what is wrong.
func TestFrameRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		kinds []byte
		want  string
	}{
		{"short header", []byte{1, 0}, wire.MutationKinds, "shorter than"},
		{"count over bytes", []byte{9, 0, 0, 0, 2, 0}, wire.MutationKinds, "holds 9 records in 2 bytes"},
		{"trailing bytes", []byte{1, 0, 0, 0, 2, 1, 'x', 0xff}, wire.MutationKinds, "follow its last record"},
		{"unknown kind", []byte{1, 0, 0, 0, 9, 0}, wire.MutationKinds, "kind 9"},
		{"size in a mutation frame", []byte{1, 0, 0, 0, 3, 0, 1}, wire.MutationKinds, "kind 3"},
		{"delete in an entry frame", []byte{1, 0, 0, 0, 2, 0}, wire.EntryKinds, "kind 2"},
		{"key past the end", []byte{1, 0, 0, 0, 2, 5, 'a'}, wire.MutationKinds, "runs past"},
		{"value past the end", []byte{1, 0, 0, 0, 1, 1, 'a', 9, 'b'}, wire.MutationKinds, "runs past"},
		{"value length cut", []byte{1, 0, 0, 0, 1, 1, 'a'}, wire.MutationKinds, "cut short"},
		{"long varint", []byte{1, 0, 0, 0, 2, 0x81, 0x00, 'a'}, wire.MutationKinds, "shortest"},
		{"size overflow", append([]byte{1, 0, 0, 0, 3, 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), wire.EntryKinds, "a size of"},
		{"too few records", []byte{2, 0, 0, 0, 2, 0, 0, 0}, wire.MutationKinds, "kind 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wire.DecodeFrame(tc.frame, tc.kinds)
			if !errors.Is(err, wire.ErrFrame) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decoding % x: %v; want an error wrapping ErrFrame saying %q", tc.frame, err, tc.want)
			}
		})
	}
}

// FuzzFrame checks that decoding never panics, that what decodes encodes
// back to the same bytes (the encoding is canonical), and that what
// encodes decodes back.
func FuzzFrame(f *testing.F) {
	var seed wire.Frame
	seed.Put([]byte("/a"), []byte("xyz"))
	seed.Delete([]byte("/b"))
	seed.PutSize([]byte("/c"), 1<<20)
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 0, 2, 0x81, 0x00, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		all := []byte{wire.KindPut, wire.KindDelete, wire.KindSize}
		recs, err := wire.DecodeFrame(b, all)
		if err != nil {
			if !errors.Is(err, wire.ErrFrame) {
				t.Fatalf("an error that does not wrap ErrFrame: %v", err)
			}
			return
		}
		var out wire.Frame
		for _, r := range recs {
			switch r.Kind {
			case wire.KindPut:
				out.Put(r.Key, r.Value)
			case wire.KindDelete:
				out.Delete(r.Key)
			case wire.KindSize:
				out.PutSize(r.Key, r.Size)
			default:
				t.Fatalf("decoded a record of kind %d", r.Kind)
			}
		}
		if !bytes.Equal(out.Bytes(), b) {
			t.Fatalf("% x decodes to %d records that encode to % x", b, len(recs), out.Bytes())
		}
	})
}
