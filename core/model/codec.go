package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Values are CBOR in Core Deterministic Encoding (RFC 8949 section 4.2.1):
// the same value always gives the same bytes, so a signature over them is
// stable. Times are RFC 3339 text in UTC with nanoseconds, so they keep
// their full precision; a zero time is null.
var (
	valueEnc cbor.UserBufferEncMode
	valueDec cbor.DecMode
)

func init() {
	opts := cbor.CoreDetEncOptions()
	opts.Time = cbor.TimeRFC3339NanoUTC
	var err error
	if valueEnc, err = opts.UserBufferEncMode(); err != nil {
		panic(err) // the options are constants
	}
	if valueDec, err = (cbor.DecOptions{
		DupMapKey:       cbor.DupMapKeyEnforcedAPF,
		IndefLength:     cbor.IndefLengthForbidden,
		UTF8:            cbor.UTF8RejectInvalid,
		MaxNestedLevels: maxNesting,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// A stored value is the schema version it was written with, as an unsigned
// varint, then the value in CBOR. The version lets a collection read values
// of every version it knows, whatever state an interrupted migration left.
func encodeStored(version uint32, v any) ([]byte, error) {
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer encodeBuffers.Put(buf)
	buf.Reset()
	var head [binary.MaxVarintLen32]byte
	buf.Write(appendVersion(head[:0], version))
	if err := valueEnc.MarshalToBuffer(v, buf); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// appendVersion appends the head of a stored value of schema version
// version.
func appendVersion(dst []byte, version uint32) []byte {
	return binary.AppendUvarint(dst, uint64(version))
}

// encodeBuffers recycles encoding buffers, so that encoding a value costs
// one allocation of its exact size.
var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var errNoVersion = errors.New("no schema version before the value")

// splitStored splits a stored value into its version and its CBOR.
func splitStored(b []byte) (uint32, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<32-1 {
		return 0, nil, errNoVersion
	}
	return uint32(v), b[n:], nil
}

// decodeCBOR decodes data into *v.
func decodeCBOR(data []byte, v any) error {
	if err := valueDec.Unmarshal(data, v); err != nil {
		return fmt.Errorf("not a CBOR value of the collection's type: %w", err)
	}
	return nil
}
