package core

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeRecord checks that decoding any bytes never panics, that a
// decoded record RecordStore.Put would accept re-encodes to the same record,
// and that any record round-trips.
func FuzzDecodeRecord(f *testing.F) {
	stamp := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, seed := range []struct {
		data  []byte
		key   string
		value []byte
		nanos int64
	}{
		{appendRecord(nil, Record{Key: "/test/k", Value: []byte("v"), Received: stamp}), "/test/k", []byte("v"), stamp.UnixNano()},
		{appendRecord(nil, Record{Key: "/pk/\x00\xff", Received: stamp}), "", nil, 0},
		{nil, "/test/\x00", []byte{}, -1},
		{[]byte{0x0a, 0xff}, "/a/b", []byte{0}, 1},                                                           // a length past the end
		{[]byte{0xff, 0xff, 0xff}, "/a/b", nil, 1 << 62},                                                     // an unfinished tag
		{[]byte{0x2a, 0x03, 'b', 'a', 'd'}, "/a/b", nil, -1 << 62},                                           // a bad receive time
		{[]byte{0x08, 0x96, 0x01, 0x2a, 0x01, 'Z'}, "/a/b", nil, 0},                                          // a varint field, then a bad time
		{[]byte("\x2a\x192024-05-06T07:08:09+02:00"), "/a/b", nil, 0},                                        // a time with an offset
		{[]byte("\x2a\x190000-01-01T00:00:00+01:00"), "/a/b", nil, 0},                                        // year -1 in UTC
		{[]byte("\x0a\x02/k\x12\x01v\x0a\x02/j"), "/a/b", nil, 0},                                            // a repeated field: the last wins
		{[]byte{0x0d, 1, 2, 3, 4, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x1b, 0x1c}, "/a/b", nil, 0},                 // fixed32, fixed64, a group
		{[]byte{0x0b, 0x0a, 0x01, 'x', 0x0c, 0x0a, 0x01, 'k', 0x12, 0x00, 0x2a, 0x00}, "/a/b", []byte{1}, 0}, // a group holding a key
	} {
		f.Add(seed.data, seed.key, seed.value, seed.nanos)
	}
	f.Fuzz(func(t *testing.T, data []byte, key string, value []byte, nanos int64) {
		// A record whose receive time RFC 3339 cannot write is one
		// RecordStore.Put refuses; every other decoded record re-encodes.
		if rec, err := decodeRecord(data); err == nil && checkReceived(rec.Received) == nil {
			again, err := decodeRecord(appendRecord(nil, rec))
			if err != nil {
				t.Fatalf("%q decodes to %+v, whose encoding does not decode: %v", data, rec, err)
			}
			if !sameRecord(again, rec) {
				t.Fatalf("%q decodes to %+v, whose encoding decodes to %+v", data, rec, again)
			}
		}

		rec := Record{Key: key, Value: value, Received: time.Unix(0, nanos)}
		if err := checkReceived(rec.Received); err != nil {
			t.Fatalf("a time between 1677 and 2262 is refused: %v", err)
		}
		got, err := decodeRecord(appendRecord(nil, rec))
		if err != nil {
			t.Fatalf("%+v does not round-trip: %v", rec, err)
		}
		if !sameRecord(got, rec) {
			t.Fatalf("%+v round-trips to %+v", rec, got)
		}
	})
}

func sameRecord(a, b Record) bool {
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.Received.Equal(b.Received)
}
