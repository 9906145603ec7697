package model

import (
	"bytes"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

// kind is the type of a key or index field, as far as the key encoding is
// concerned. Named types count as their underlying kind.
type kind uint8

const (
	kindString kind = iota + 1
	kindBytes
	kindInt
	kindUint
	kindBool
	kindTime
)

var timeType = reflect.TypeFor[time.Time]()

// kindOf returns the key kind of t, or false when t cannot be a key or an
// indexed field.
func kindOf(t reflect.Type) (kind, bool) {
	if t == timeType {
		return kindTime, true
	}
	switch t.Kind() {
	case reflect.String:
		return kindString, true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return kindBytes, true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindInt, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return kindUint, true
	case reflect.Bool:
		return kindBool, true
	}
	return 0, false
}

func (k kind) String() string {
	switch k {
	case kindString:
		return "string"
	case kindBytes:
		return "bytes"
	case kindInt:
		return "int"
	case kindUint:
		return "uint"
	case kindBool:
		return "bool"
	case kindTime:
		return "time"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// The binary form of a field value sorts, byte by byte, exactly as the values
// do:
//
//   - string and []byte: the bytes themselves;
//   - signed integers: 8 bytes big-endian, with the sign bit flipped, so
//     negative numbers come before positive ones;
//   - unsigned integers: 8 bytes big-endian;
//   - bool: one byte, 0 for false and 1 for true;
//   - time.Time: the Unix seconds as a signed integer above, then 4 bytes of
//     nanoseconds, so earlier instants come first whatever their location.
//
// Every integer width takes 8 bytes, so widening a field keeps its keys.
const (
	intSize  = 8
	timeSize = 12
	signBit  = 1 << 63
	// maxUnixSeconds is the latest second time.Time holds: it counts
	// seconds from year 1 in an int64.
	maxUnixSeconds = math.MaxInt64 - 62135596800
)

// appendBinary appends the binary form of v, whose kind is k.
func (k kind) appendBinary(dst []byte, v reflect.Value) []byte {
	switch k {
	case kindString:
		return append(dst, v.String()...)
	case kindBytes:
		return append(dst, v.Bytes()...)
	case kindInt:
		return binary.BigEndian.AppendUint64(dst, uint64(v.Int())^signBit)
	case kindUint:
		return binary.BigEndian.AppendUint64(dst, v.Uint())
	case kindBool:
		if v.Bool() {
			return append(dst, 1)
		}
		return append(dst, 0)
	case kindTime:
		t := v.Interface().(time.Time)
		dst = binary.BigEndian.AppendUint64(dst, uint64(t.Unix())^signBit)
		return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
	}
	return dst
}

// decodeBinary turns the binary form b back into a value of type t, whose
// kind is k. It fails, and never panics, on bytes that are not the binary
// form of a value of t.
func (k kind) decodeBinary(b []byte, t reflect.Type) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	switch k {
	case kindString:
		v.SetString(string(b))
	case kindBytes:
		v.SetBytes(bytes.Clone(b))
	case kindInt:
		if len(b) != intSize {
			return v, fmt.Errorf("a signed integer takes %d bytes, not %d", intSize, len(b))
		}
		n := int64(binary.BigEndian.Uint64(b) ^ signBit)
		if v.OverflowInt(n) {
			return v, fmt.Errorf("%d overflows %s", n, t)
		}
		v.SetInt(n)
	case kindUint:
		if len(b) != intSize {
			return v, fmt.Errorf("an unsigned integer takes %d bytes, not %d", intSize, len(b))
		}
		n := binary.BigEndian.Uint64(b)
		if v.OverflowUint(n) {
			return v, fmt.Errorf("%d overflows %s", n, t)
		}
		v.SetUint(n)
	case kindBool:
		if len(b) != 1 || b[0] > 1 {
			return v, fmt.Errorf("a bool is one byte, 0 or 1, not %x", b)
		}
		v.SetBool(b[0] == 1)
	case kindTime:
		if len(b) != timeSize {
			return v, fmt.Errorf("a time takes %d bytes, not %d", timeSize, len(b))
		}
		sec := int64(binary.BigEndian.Uint64(b) ^ signBit)
		nsec := binary.BigEndian.Uint32(b[intSize:])
		if nsec >= 1e9 {
			return v, fmt.Errorf("%d nanoseconds is not below one second", nsec)
		}
		if sec > maxUnixSeconds {
			return v, fmt.Errorf("%d seconds is outside the range of time.Time", sec)
		}
		v.Set(reflect.ValueOf(time.Unix(sec, int64(nsec)).UTC()))
	default:
		return v, fmt.Errorf("no key encoding for %s", t)
	}
	return v, nil
}

// A segment is the text form of a binary field value: one path segment of a
// datastore key or record name. It is "-" for the empty value and otherwise
// the value in unpadded base32hex (RFC 4648), whose alphabet (0-9, A-V) is in
// ASCII order. So segments sort as the values do, and every segment sorts
// after "/": a key made of segments joined by "/" sorts by its first segment,
// then by the next, as a tuple — "a" < "a\x00" < "ab", and an index entry
// (value, primary key) never mixes up where the value ends.
var segEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

const emptySegment = "-"

// appendSegment appends the segment of the binary value b.
func appendSegment(dst []byte, b []byte) []byte {
	if len(b) == 0 {
		return append(dst, emptySegment...)
	}
	return segEncoding.AppendEncode(dst, b)
}

func segment(b []byte) string { return string(appendSegment(nil, b)) }

var errSegment = errors.New("not a key segment")

// parseSegment returns the binary value of the segment s. It accepts only
// the one segment appendSegment makes of that value.
func parseSegment(s string) ([]byte, error) {
	if s == emptySegment {
		return []byte{}, nil
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty", errSegment)
	}
	b, err := segEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", errSegment, s, err)
	}
	if len(b) == 0 || segEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("%w: %q is not in canonical form", errSegment, s)
	}
	return b, nil
}

// formatValue shows a key or index value in an error message.
func formatValue(v reflect.Value) string {
	switch {
	case v.Type() == timeType:
		return v.Interface().(time.Time).UTC().Format(time.RFC3339Nano)
	case v.Kind() == reflect.String:
		return strconv.Quote(v.String())
	case v.Kind() == reflect.Slice:
		return fmt.Sprintf("0x%x", v.Bytes())
	}
	return fmt.Sprint(v.Interface())
}
