package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// Limits on a reconciliation message, checked before and after decoding.
const (
	// MaxFrame is the largest encoded message.
	MaxFrame = 4 << 20
	// MaxRanges is the most ranges one message holds.
	MaxRanges = 4096
	// MaxListItems is the most items one list range holds.
	MaxListItems = 1024
	// MaxWants is the most record keys one message asks for.
	MaxWants = 16384
	// MaxKeySize is the longest record key or bound in a message.
	MaxKeySize = 2048
	// MaxErrorSize is the longest error text of a message.
	MaxErrorSize = 1024
	// A message's parts have byte budgets that keep it under MaxFrame
	// whatever the keys' lengths; what does not fit waits for the next
	// message. Records: about recordBudget (one record may pass it);
	// wants: wantBudget bytes of keys; ranges: rangeBudget bytes of bounds,
	// fingerprints and items, past which the rest of the key space is
	// answered by one fingerprint.
	recordBudget = 1 << 20
	wantBudget   = 1 << 20
	rangeBudget  = 3 << 19
)

// Mode says what a range of a message carries.
type Mode uint8

// The modes of a range.
const (
	// ModeSkip: the sender has nothing to say of the range.
	ModeSkip Mode = 0
	// ModeFingerprint: Fingerprint is the sender's fingerprint of the range.
	ModeFingerprint Mode = 1
	// ModeList: Items are all the sender's items in the range.
	ModeList Mode = 2
)

// WireItem is an Item on the wire.
type WireItem struct {
	_       struct{} `cbor:",toarray"`
	Key     []byte
	Wall    int64
	Logical uint32
	Hash    []byte
}

// Range is one range of keys of a message. The ranges of a message follow
// each other in key order and cover every key: each starts where the one
// before it ended (the first at the empty key) and ends before Upper; the
// last has no Upper and runs to the end.
type Range struct {
	Upper       []byte     `cbor:"1,keyasint,omitempty"`
	Mode        Mode       `cbor:"2,keyasint,omitempty"`
	Fingerprint []byte     `cbor:"3,keyasint,omitempty"`
	Items       []WireItem `cbor:"4,keyasint,omitempty"`
}

// WireRecord is a record carried by a message: its key and the bytes of its
// signed envelope.
type WireRecord struct {
	_        struct{} `cbor:",toarray"`
	Key      []byte
	Envelope []byte
}

// Message is one frame of a reconciliation session. The initiator's first
// message names the collection and its settings' digest; a message with
// Error ends the session.
type Message struct {
	Collection string       `cbor:"1,keyasint,omitempty"`
	Digest     []byte       `cbor:"2,keyasint,omitempty"`
	Ranges     []Range      `cbor:"3,keyasint,omitempty"`
	Records    []WireRecord `cbor:"4,keyasint,omitempty"`
	Wants      [][]byte     `cbor:"5,keyasint,omitempty"`
	Error      string       `cbor:"6,keyasint,omitempty"`

	// version is the version of the wire form the message was decoded
	// from: a responder answers in it (0: Version1).
	version Version
}

// empty reports whether m asks nothing of its receiver: no ranges to
// reconcile, no records, no wants.
func (m *Message) empty() bool {
	return len(m.Ranges) == 0 && len(m.Records) == 0 && len(m.Wants) == 0
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   6,
		MaxArrayElements:  MaxWants,
		MaxMapPairs:       16,
		UTF8:              cbor.UTF8RejectInvalid,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// ErrMalformed is wrapped by the errors of messages that do not decode or
// break the protocol's rules.
var ErrMalformed = core.Errorf(core.ErrRejected, "malformed reconciliation message")

// Encode encodes m in version 1's wire form.
func (m *Message) Encode() ([]byte, error) { return encMode.Marshal(m) }

// Decode decodes and checks one message of version 1's wire form.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes is larger than the %d-byte limit", ErrMalformed, len(b), MaxFrame)
	}
	var m Message
	if err := decMode.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &m, nil
}

func checkKey(what string, k []byte) error {
	if len(k) == 0 || len(k) > MaxKeySize {
		return fmt.Errorf("%s of %d bytes: a key is 1 to %d bytes", what, len(k), MaxKeySize)
	}
	return nil
}

// check enforces the rules a decoder cannot: ranges in order ending at
// +∞, items sorted inside their range, sizes.
func (m *Message) check() error {
	if len(m.Ranges) > MaxRanges {
		return fmt.Errorf("%d ranges, more than %d", len(m.Ranges), MaxRanges)
	}
	if len(m.Digest) != 0 && len(m.Digest) != HashSize {
		return fmt.Errorf("a digest of %d bytes, not %d", len(m.Digest), HashSize)
	}
	if len(m.Error) > MaxErrorSize {
		return fmt.Errorf("an error text of %d bytes, more than %d", len(m.Error), MaxErrorSize)
	}
	var lower []byte
	for i, r := range m.Ranges {
		last := i == len(m.Ranges)-1
		switch {
		case last && r.Upper != nil:
			return errors.New("the last range does not run to the end")
		case !last && r.Upper == nil:
			return fmt.Errorf("range %d of %d runs to the end", i+1, len(m.Ranges))
		case !last:
			if err := checkKey("a range bound", r.Upper); err != nil {
				return err
			}
			if bytes.Compare(r.Upper, lower) <= 0 {
				return fmt.Errorf("range %d ends at or before where it starts", i+1)
			}
		}
		switch r.Mode {
		case ModeSkip:
			if r.Fingerprint != nil || r.Items != nil {
				return fmt.Errorf("range %d is skipped but carries data", i+1)
			}
		case ModeFingerprint:
			if len(r.Fingerprint) != HashSize || r.Items != nil {
				return fmt.Errorf("range %d: a fingerprint range carries %d fingerprint bytes and %d items", i+1, len(r.Fingerprint), len(r.Items))
			}
		case ModeList:
			if r.Fingerprint != nil || len(r.Items) > MaxListItems {
				return fmt.Errorf("range %d: a list of %d items (at most %d) or with a fingerprint", i+1, len(r.Items), MaxListItems)
			}
			prev := lower
			for j, it := range r.Items {
				if err := checkKey("an item key", it.Key); err != nil {
					return err
				}
				if c := bytes.Compare(it.Key, prev); c < 0 || c == 0 && j > 0 {
					return fmt.Errorf("range %d: items out of order or before the range's start", i+1)
				}
				if !last && bytes.Compare(it.Key, r.Upper) >= 0 {
					return fmt.Errorf("range %d: an item at or past the range's end", i+1)
				}
				if len(it.Hash) != HashSize {
					return fmt.Errorf("range %d: an item hash of %d bytes, not %d", i+1, len(it.Hash), HashSize)
				}
				prev = it.Key
			}
		default:
			return fmt.Errorf("range %d has unknown mode %d", i+1, r.Mode)
		}
		lower = r.Upper
	}
	if len(m.Wants) > MaxWants {
		return fmt.Errorf("%d wants, more than %d", len(m.Wants), MaxWants)
	}
	for _, w := range m.Wants {
		if err := checkKey("a wanted key", w); err != nil {
			return err
		}
	}
	for _, r := range m.Records {
		if m.version != Version2 { // version 2 carries no key beside the envelope
			if err := checkKey("a record key", r.Key); err != nil {
				return err
			}
		}
		if len(r.Envelope) > envelope.MaxSize {
			return fmt.Errorf("a record of %d bytes, more than %d", len(r.Envelope), envelope.MaxSize)
		}
	}
	return nil
}

// WriteMessage writes m as a frame of version 1's wire form: its length
// as an unsigned varint, then its bytes. It returns the frame's size.
func WriteMessage(w io.Writer, m *Message) (int, error) { return Version1.WriteMessage(w, m) }

// writeFrame writes the message b as a frame.
func writeFrame(w io.Writer, b []byte) (int, error) {
	if len(b) > MaxFrame {
		return 0, fmt.Errorf("a reconciliation message of %d bytes is larger than the %d-byte limit", len(b), MaxFrame)
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(append(hdr[:n:n], b...)); err != nil {
		return 0, err
	}
	return n + len(b), nil
}

// ReadMessage reads one frame of version 1's wire form from r, reading no
// byte past it, and decodes it; io.EOF at a frame boundary is returned as
// is. It returns the frame's size too. Room for the frame grows as its
// bytes arrive; on a Conn from Slot.Conn, it counts against the node's
// MaxInboundBytes.
func ReadMessage(r io.Reader) (*Message, int, error) { return Version1.ReadMessage(r) }

// readMessageBytes reads one frame from r, as ReadMessage does, and
// returns the message's bytes and the frame's size.
func readMessageBytes(r io.Reader) ([]byte, int, error) {
	br := byteReader{r: r}
	size, err := binary.ReadUvarint(&br)
	if err != nil {
		if errors.Is(err, io.EOF) && br.n == 0 {
			return nil, 0, io.EOF
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, br.n, fmt.Errorf("%w: a frame cut short", ErrMalformed)
		}
		var t interface{ Timeout() bool }
		if errors.As(err, &t) {
			return nil, br.n, err
		}
		return nil, br.n, fmt.Errorf("%w: bad frame length: %v", ErrMalformed, err)
	}
	if size > MaxFrame {
		return nil, br.n, fmt.Errorf("%w: a frame of %d bytes is larger than the %d-byte limit", ErrMalformed, size, MaxFrame)
	}
	reserve := func(int) error { return nil }
	if c, ok := r.(slotConn); ok {
		c.s.free()
		reserve = c.s.reserve
	}
	b, err := readFrame(r, int(size), reserve)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, br.n + len(b), fmt.Errorf("%w: a frame cut short", ErrMalformed)
		}
		return nil, br.n + len(b), err
	}
	return b, br.n + int(size), nil
}

// firstChunk is how many bytes of a frame readFrame takes room for first.
const firstChunk = 64 << 10

// readFrame reads a frame of size bytes from r. Its buffer grows as the
// bytes arrive, doubling from firstChunk, to at most twice what arrived: a
// peer that announces a large frame and sends little of it holds about
// what it sent. reserve is called with each growth before it is
// made. On an error it returns the bytes read so far.
func readFrame(r io.Reader, size int, reserve func(int) error) ([]byte, error) {
	var b []byte
	for len(b) < size {
		grow := min(size, max(firstChunk, 2*len(b))) - len(b)
		if err := reserve(grow); err != nil {
			return b, err
		}
		nb := make([]byte, len(b), len(b)+grow)
		b = nb[:copy(nb, b)]
		k, err := io.ReadFull(r, b[len(b):len(b)+grow])
		b = b[:len(b)+k]
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// byteReader reads one byte at a time, so a frame's length is read
// without reading into the frame after it.
type byteReader struct {
	r   io.Reader
	n   int
	buf [1]byte
}

func (b *byteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(b.r, b.buf[:]); err != nil {
		return 0, err
	}
	b.n++
	return b.buf[0], nil
}
