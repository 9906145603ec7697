package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is a version of the reconciliation protocol: how its messages
// travel, and how a side answers a range whose fingerprints differ. Both
// versions carry the same Message; version 2 codes it in fewer bytes.
type Version uint8

// The versions of the reconciliation protocol.
const (
	// Version1 is /netabase/sync/1.0.0 (SYNC.md §5): messages of CBOR
	// arrays whose keys are written whole, and records carried beside
	// their keys.
	Version1 Version = 1
	// Version2 is /netabase/sync/2.0.0 (SYNC.md §5, "Version 2"): the
	// same session in packed ranges and wants whose keys are coded
	// relative to the one before, records as their envelopes alone, and a
	// narrower split of differing ranges.
	Version2 Version = 2
)

// Versions are the versions this package speaks, the newest first: the
// order in which a side offers them.
var Versions = []Version{Version2, Version1}

// Protocol is v's protocol ID, such as /netabase/sync/2.0.0.
func (v Version) Protocol() string { return fmt.Sprintf("/netabase/sync/%d.0.0", v) }

// VersionOf returns the version whose protocol ID is id.
func VersionOf(id string) (Version, bool) {
	for _, v := range Versions {
		if v.Protocol() == id {
			return v, true
		}
	}
	return 0, false
}

func (v Version) String() string { return v.Protocol() }

// shape is how a side of v answers a range whose fingerprints differ: with
// the list of its items when it holds at most list of them, else with
// about branching ranges of equal counts.
func (v Version) shape() shape {
	if v == Version2 {
		return shape{branching: 5, list: 5}
	}
	return shape{branching: branching, list: listThreshold}
}

// pipelines reports whether a side of v may send its reply to a message
// that carries records and no ranges before it takes the records: the
// reply cannot depend on them, so the peer prepares its next message
// while this side verifies and stores.
func (v Version) pipelines() bool { return v == Version2 }

// Encode encodes m in v's wire form.
func (v Version) Encode(m *Message) ([]byte, error) {
	if v != Version2 {
		return encMode.Marshal(m)
	}
	w := message2{Collection: m.Collection, Digest: m.Digest, Error: m.Error}
	w.Ranges = packRanges(m.Ranges)
	var prev []byte
	for _, k := range m.Wants {
		w.Wants = appendKey(w.Wants, prev, k)
		prev = k
	}
	for _, r := range m.Records {
		w.Records = append(w.Records, r.Envelope)
	}
	return encMode.Marshal(&w)
}

// Decode decodes and checks one message of v's wire form. A version 2
// record's key is its envelope's, which apply reads as it opens it.
func (v Version) Decode(b []byte) (*Message, error) {
	if v != Version2 {
		return Decode(b)
	}
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes is larger than the %d-byte limit", ErrMalformed, len(b), MaxFrame)
	}
	var w message2
	if err := decMode.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m := &Message{Collection: w.Collection, Digest: w.Digest, Error: w.Error, version: Version2}
	budget := MaxFrame // the bytes of the keys the message decodes to
	var err error
	if m.Ranges, err = unpackRanges(w.Ranges, &budget); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.Wants, err = unpackWants(w.Wants, &budget); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, e := range w.Records {
		m.Records = append(m.Records, WireRecord{Envelope: e})
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

// WriteMessage writes m as a frame of v's wire form, and returns the
// frame's size.
func (v Version) WriteMessage(w io.Writer, m *Message) (int, error) {
	b, err := v.Encode(m)
	if err != nil {
		return 0, err
	}
	return writeFrame(w, b)
}

// ReadMessage reads one frame of v's wire form from r, as ReadMessage
// does.
func (v Version) ReadMessage(r io.Reader) (*Message, int, error) {
	b, n, err := readMessageBytes(r)
	if err != nil {
		return nil, n, err
	}
	m, err := v.Decode(b)
	return m, n, err
}

// message2 is a message of version 2 as it travels: ranges and wants
// packed in byte strings, records as their envelopes.
type message2 struct {
	Collection string   `cbor:"1,keyasint,omitempty"`
	Digest     []byte   `cbor:"2,keyasint,omitempty"`
	Ranges     []byte   `cbor:"3,keyasint,omitempty"`
	Records    [][]byte `cbor:"4,keyasint,omitempty"`
	Wants      []byte   `cbor:"5,keyasint,omitempty"`
	Error      string   `cbor:"6,keyasint,omitempty"`
}

// lastRange marks, in a packed range's head byte, the range that runs to
// the end: no bound follows.
const lastRange = 0x80

// appendKey appends key coded relative to ref: the length of the prefix
// they share, the length of the rest, and the rest.
func appendKey(b, ref, key []byte) []byte {
	n := 0
	for n < len(ref) && n < len(key) && ref[n] == key[n] {
		n++
	}
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(len(key)-n))
	return append(b, key[n:]...)
}

// packRanges packs ranges (SYNC.md §5, version 2): each a head byte (its
// mode, and lastRange for the last), its upper bound relative to its
// lower, then its fingerprint or its list's count and items, each item's
// key relative to the key before it (the first's to the range's lower
// bound), its wall as 8 bytes big-endian, its logical counter as a uvarint
// and its hash.
func packRanges(rs []Range) []byte {
	var b, lower []byte
	for i, r := range rs {
		head := byte(r.Mode)
		if i == len(rs)-1 {
			head |= lastRange
		}
		b = append(b, head)
		if i < len(rs)-1 {
			b = appendKey(b, lower, r.Upper)
		}
		switch r.Mode {
		case ModeFingerprint:
			b = append(b, r.Fingerprint...)
		case ModeList:
			b = binary.AppendUvarint(b, uint64(len(r.Items)))
			prev := lower
			for _, it := range r.Items {
				b = appendKey(b, prev, it.Key)
				b = binary.BigEndian.AppendUint64(b, uint64(it.Wall))
				b = binary.AppendUvarint(b, uint64(it.Logical))
				b = append(b, it.Hash...)
				prev = it.Key
			}
		}
		lower = r.Upper
	}
	return b
}

// packed reads packed ranges and wants, bounding what they decode to.
type packed struct {
	b      []byte
	budget *int
}

var errShort = errors.New("cut short")

func (p *packed) uvarint(what string, max uint64) (uint64, error) {
	x, n := binary.Uvarint(p.b)
	if n <= 0 {
		return 0, fmt.Errorf("%s: a bad or missing uvarint", what)
	}
	if x > max {
		return 0, fmt.Errorf("%s of %d, more than %d", what, x, max)
	}
	p.b = p.b[n:]
	return x, nil
}

func (p *packed) bytes(what string, n int) ([]byte, error) {
	if len(p.b) < n {
		return nil, fmt.Errorf("%s: %w", what, errShort)
	}
	out := p.b[:n:n]
	p.b = p.b[n:]
	return out, nil
}

// key reads a key coded relative to ref.
func (p *packed) key(what string, ref []byte) ([]byte, error) {
	shared, err := p.uvarint(what+": the shared prefix", uint64(len(ref)))
	if err != nil {
		return nil, err
	}
	rest, err := p.uvarint(what+": the length", MaxKeySize)
	if err != nil {
		return nil, err
	}
	n := int(shared + rest)
	if n == 0 || n > MaxKeySize {
		return nil, fmt.Errorf("%s of %d bytes: a key is 1 to %d bytes", what, n, MaxKeySize)
	}
	if *p.budget -= n; *p.budget < 0 {
		return nil, fmt.Errorf("the keys come to more than %d bytes", MaxFrame)
	}
	tail, err := p.bytes(what, int(rest))
	if err != nil {
		return nil, err
	}
	k := make([]byte, n)
	copy(k, ref[:shared])
	copy(k[shared:], tail)
	return k, nil
}

func unpackRanges(b []byte, budget *int) ([]Range, error) {
	p := packed{b: b, budget: budget}
	var out []Range
	var lower []byte
	for len(p.b) > 0 {
		if len(out) == MaxRanges {
			return nil, fmt.Errorf("more than %d ranges", MaxRanges)
		}
		head := p.b[0]
		p.b = p.b[1:]
		i := len(out) + 1
		var r Range
		r.Mode = Mode(head &^ lastRange)
		last := head&lastRange != 0
		if !last {
			var err error
			if r.Upper, err = p.key(fmt.Sprintf("range %d's bound", i), lower); err != nil {
				return nil, err
			}
		}
		switch r.Mode {
		case ModeSkip:
		case ModeFingerprint:
			fp, err := p.bytes(fmt.Sprintf("range %d's fingerprint", i), HashSize)
			if err != nil {
				return nil, err
			}
			r.Fingerprint = fp
		case ModeList:
			n, err := p.uvarint(fmt.Sprintf("range %d's count", i), MaxListItems)
			if err != nil {
				return nil, err
			}
			r.Items = make([]WireItem, 0, n)
			prev := lower
			for j := range int(n) {
				what := fmt.Sprintf("range %d's item %d", i, j+1)
				it := WireItem{}
				if it.Key, err = p.key(what, prev); err != nil {
					return nil, err
				}
				wall, err := p.bytes(what, 8)
				if err != nil {
					return nil, err
				}
				it.Wall = int64(binary.BigEndian.Uint64(wall))
				logical, err := p.uvarint(what+": the logical counter", 1<<32-1)
				if err != nil {
					return nil, err
				}
				it.Logical = uint32(logical)
				if it.Hash, err = p.bytes(what, HashSize); err != nil {
					return nil, err
				}
				r.Items = append(r.Items, it)
				prev = it.Key
			}
		default:
			return nil, fmt.Errorf("range %d has unknown mode %d", i, r.Mode)
		}
		out = append(out, r)
		if last {
			if len(p.b) > 0 {
				return nil, fmt.Errorf("%d bytes after the range that runs to the end", len(p.b))
			}
			break
		}
		lower = r.Upper
	}
	if len(out) > 0 && out[len(out)-1].Upper != nil {
		return nil, errors.New("the last range does not run to the end")
	}
	return out, nil
}

func unpackWants(b []byte, budget *int) ([][]byte, error) {
	p := packed{b: b, budget: budget}
	var out [][]byte
	var prev []byte
	for len(p.b) > 0 {
		if len(out) == MaxWants {
			return nil, fmt.Errorf("more than %d wants", MaxWants)
		}
		k, err := p.key(fmt.Sprintf("want %d", len(out)+1), prev)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
		prev = k
	}
	return out, nil
}
