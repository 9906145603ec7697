package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Record kinds of a frame (protocol version 3; FRAMES.md specifies the
// encoding).
const (
	// KindPut is a key and a value: a put in a mutation frame, an entry
	// with its value in an entry frame.
	KindPut byte = 1
	// KindDelete is a key alone: a delete in a mutation frame.
	KindDelete byte = 2
	// KindSize is a key and a size: an entry of a keys-only query.
	KindSize byte = 3
)

// Which record kinds each frame holds.
var (
	// MutationKinds are the kinds of a mutation frame (WriteFrame).
	MutationKinds = []byte{KindPut, KindDelete}
	// EntryKinds are the kinds of an entry frame (QueryFrame).
	EntryKinds = []byte{KindPut, KindSize}
)

// Record is one record of a frame. A decoded record's Key and Value alias
// the frame they were read from.
type Record struct {
	Kind  byte
	Key   []byte
	Value []byte // KindPut: the value, possibly empty
	Size  int64  // KindSize: the value's size in bytes
}

// FrameHeader is the length of a frame's header, its record count.
const FrameHeader = 4

// RecordOverhead bounds what a record costs in a frame besides its key
// and value: its kind and two lengths.
const RecordOverhead = 1 + 2*binary.MaxVarintLen64

// ErrFrame is wrapped by the error of a frame that is not well formed.
var ErrFrame = errors.New("malformed frame")

// Frame builds a frame: the count, then the records appended in order.
// The zero value is an empty frame, ready to use.
type Frame struct {
	b []byte
	n uint32
}

// Reset empties f, keeping its memory.
func (f *Frame) Reset() { f.b, f.n = f.b[:0], 0 }

// Len is the number of records in f.
func (f *Frame) Len() int { return int(f.n) }

// Size is the length of f's encoding so far.
func (f *Frame) Size() int { return max(len(f.b), FrameHeader) }

// Grow makes room for n more bytes of records. When f's memory must grow,
// it at least doubles, so that a frame grown record by record is copied
// about once in all.
func (f *Frame) Grow(n int) {
	if len(f.b) == 0 {
		n += FrameHeader
	}
	if cap(f.b)-len(f.b) < n {
		b := make([]byte, len(f.b), len(f.b)+max(n, len(f.b)))
		copy(b, f.b)
		f.b = b
	}
}

// start appends a record's kind and key.
func start[K []byte | string](f *Frame, kind byte, key K) {
	if len(f.b) == 0 {
		f.b = append(f.b, 0, 0, 0, 0)
	}
	f.n++
	f.b = append(f.b, kind)
	f.b = binary.AppendUvarint(f.b, uint64(len(key)))
	f.b = append(f.b, key...)
}

func (f *Frame) value(value []byte) {
	f.b = binary.AppendUvarint(f.b, uint64(len(value)))
	f.b = append(f.b, value...)
}

// Put appends a record of kind KindPut.
func (f *Frame) Put(key, value []byte) {
	start(f, KindPut, key)
	f.value(value)
}

// PutString is Put of a key held in a string, which it copies into the
// frame as it is.
func (f *Frame) PutString(key string, value []byte) {
	start(f, KindPut, key)
	f.value(value)
}

// Delete appends a record of kind KindDelete.
func (f *Frame) Delete(key []byte) { start(f, KindDelete, key) }

// DeleteString is Delete of a key held in a string.
func (f *Frame) DeleteString(key string) { start(f, KindDelete, key) }

// PutSize appends a record of kind KindSize; size must not be negative.
func (f *Frame) PutSize(key []byte, size int64) {
	start(f, KindSize, key)
	f.size(size)
}

// PutSizeString is PutSize of a key held in a string.
func (f *Frame) PutSizeString(key string, size int64) {
	start(f, KindSize, key)
	f.size(size)
}

func (f *Frame) size(size int64) { f.b = binary.AppendUvarint(f.b, uint64(max(size, 0))) }

// Bytes returns f's encoding, which aliases f's memory until the next
// change of f.
func (f *Frame) Bytes() []byte {
	if len(f.b) == 0 {
		f.b = append(f.b, 0, 0, 0, 0)
	}
	binary.LittleEndian.PutUint32(f.b, f.n)
	return f.b
}

// FrameReader reads the records of a frame one by one, checking each as
// it goes. It never panics, whatever the frame holds.
type FrameReader struct {
	b     []byte
	left  uint32 // records still to read
	kinds []byte
	err   error
}

// NewFrameReader returns a reader of the frame b, whose records may be of
// the given kinds only. A frame too short for its header reads as an
// error.
func NewFrameReader(b []byte, kinds []byte) *FrameReader {
	r := &FrameReader{kinds: kinds}
	r.Reset(b)
	return r
}

// Reset makes r read the frame b.
func (r *FrameReader) Reset(b []byte) {
	r.b, r.left, r.err = nil, 0, nil
	if len(b) < FrameHeader {
		r.err = fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrFrame, len(b), FrameHeader)
		return
	}
	r.left = binary.LittleEndian.Uint32(b)
	r.b = b[FrameHeader:]
	// Every record takes two bytes at least: its kind and a key length.
	if uint64(r.left)*2 > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: it says it holds %d records in %d bytes", ErrFrame, r.left, len(r.b))
		r.left = 0
	}
}

// Len is the number of records still to read.
func (r *FrameReader) Len() int { return int(r.left) }

// Next returns the next record, and false when there is none left or the
// frame is malformed (then Err says why).
func (r *FrameReader) Next() (Record, bool) {
	if r.err != nil {
		return Record{}, false
	}
	if r.left == 0 {
		if len(r.b) > 0 {
			r.err = fmt.Errorf("%w: %d bytes follow its last record", ErrFrame, len(r.b))
		}
		return Record{}, false
	}
	if len(r.b) == 0 {
		r.err = fmt.Errorf("%w: it ends %d records short of the count in its header", ErrFrame, r.left)
		return Record{}, false
	}
	var rec Record
	rec.Kind = r.b[0]
	r.b = r.b[1:]
	if !r.allowed(rec.Kind) {
		r.err = fmt.Errorf("%w: a record of kind %d, which this frame does not hold (it holds kinds %v)", ErrFrame, rec.Kind, r.kinds)
		return Record{}, false
	}
	var ok bool
	if rec.Key, ok = r.bytes("key"); !ok {
		return Record{}, false
	}
	switch rec.Kind {
	case KindPut:
		if rec.Value, ok = r.bytes("value"); !ok {
			return Record{}, false
		}
		rec.Size = int64(len(rec.Value))
	case KindSize:
		n, ok := r.uvarint("size")
		if !ok {
			return Record{}, false
		}
		if n > math.MaxInt64 {
			r.err = fmt.Errorf("%w: a size of %d", ErrFrame, n)
			return Record{}, false
		}
		rec.Size = int64(n)
	}
	r.left--
	return rec, true
}

// Err is the error that ended the reading, or nil.
func (r *FrameReader) Err() error { return r.err }

func (r *FrameReader) allowed(k byte) bool {
	for _, a := range r.kinds {
		if a == k {
			return true
		}
	}
	return false
}

// uvarint reads a varint in its shortest form.
func (r *FrameReader) uvarint(what string) (uint64, bool) {
	n, w := binary.Uvarint(r.b)
	switch {
	case w <= 0:
		r.err = fmt.Errorf("%w: a record's %s is cut short or overflows", ErrFrame, what)
		return 0, false
	case w > 1 && r.b[w-1] == 0:
		r.err = fmt.Errorf("%w: a record's %s is not in its shortest varint form", ErrFrame, what)
		return 0, false
	}
	r.b = r.b[w:]
	return n, true
}

// bytes reads a length and that many bytes.
func (r *FrameReader) bytes(what string) ([]byte, bool) {
	n, ok := r.uvarint(what + " length")
	if !ok {
		return nil, false
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: a record's %s of %d bytes runs past the frame's end (%d bytes left)", ErrFrame, what, n, len(r.b))
		return nil, false
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b, true
}

// DecodeFrame returns every record of the frame b, whose records may be of
// the given kinds only, or an error wrapping ErrFrame that says what is
// wrong with it.
func DecodeFrame(b []byte, kinds []byte) ([]Record, error) {
	r := NewFrameReader(b, kinds)
	recs := make([]Record, 0, r.Len())
	for {
		rec, ok := r.Next()
		if !ok {
			break
		}
		recs = append(recs, rec)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}
