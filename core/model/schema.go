package model

import (
	"encoding"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// field is the key field or an indexed field of a collection's struct.
type field struct {
	name   string // the Go field name; an index is named after its field
	index  int    // position among the struct's fields
	typ    reflect.Type
	kind   kind
	unique bool
}

// layout is what a collection's struct type means to the collection.
type layout struct {
	typ     reflect.Type
	key     field
	indexes []field // sorted by name
	value   *typeDesc
	// nests: a value may hold a cycle or nest without bound, so it is
	// checked before it is encoded.
	nests bool
}

// tagName is the struct tag netabase reads.
const tagName = "netabase"

// analyze reads the netabase tags of the struct type t.
func analyze(t reflect.Type) (*layout, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct type", t)
	}
	l := &layout{typ: t}
	haveKey := false
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup(tagName)
		if !ok {
			continue
		}
		if !sf.IsExported() {
			return nil, fmt.Errorf("%s.%s has a %s tag but is not exported", t, sf.Name, tagName)
		}
		if name, _, _, skip := wireName(sf); skip {
			return nil, fmt.Errorf("%s.%s has a %s tag but is left out of the encoded value (tag \"-\"); a key or index must be stored", t, sf.Name, tagName)
		} else if name == "" {
			return nil, fmt.Errorf("%s.%s: a key or indexed field cannot be an embedded struct", t, sf.Name)
		}
		k, ok := kindOf(sf.Type)
		if !ok {
			return nil, fmt.Errorf("%s.%s is a %s; a key or indexed field must be a string, an integer, []byte, time.Time or bool", t, sf.Name, sf.Type)
		}
		f := field{name: sf.Name, index: i, typ: sf.Type, kind: k}
		switch tag {
		case "key":
			if haveKey {
				return nil, fmt.Errorf("%s has two key fields, %s and %s", t, l.key.name, sf.Name)
			}
			l.key, haveKey = f, true
		case "index", "index,unique":
			f.unique = tag == "index,unique"
			l.indexes = append(l.indexes, f)
		default:
			return nil, fmt.Errorf("%s.%s: unknown tag %s:%q; use \"key\", \"index\" or \"index,unique\"", t, sf.Name, tagName, tag)
		}
	}
	if !haveKey {
		return nil, fmt.Errorf("%s has no key field; tag one with %s:\"key\"", t, tagName)
	}
	slices.SortFunc(l.indexes, func(a, b field) int { return strings.Compare(a.name, b.name) })
	var err error
	if l.value, err = describe(t, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	l.nests = mayNest(l.value)
	return l, nil
}

// wireName returns the name fxamacker/cbor gives a struct field in the
// encoded value: its cbor tag's name, else its json tag's name, else the
// field name. name is "" for an untagged embedded struct, whose fields are
// promoted; skip is true for a field left out of the value.
func wireName(sf reflect.StructField) (name string, keyAsInt, omit, skip bool) {
	tag := sf.Tag.Get("cbor")
	if tag == "" {
		tag = sf.Tag.Get("json")
	}
	if tag == "-" {
		return "", false, false, true
	}
	name, opts, _ := strings.Cut(tag, ",")
	for o := range strings.SplitSeq(opts, ",") {
		switch o {
		case "keyasint":
			keyAsInt = true
		case "omitempty", "omitzero":
			omit = true
		}
	}
	ft := sf.Type
	for ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
		return "", false, false, false
	}
	if !sf.IsExported() {
		return "", false, false, true
	}
	if name == "" {
		name = sf.Name
	}
	return name, keyAsInt, omit, false
}

// typeDesc describes the shape of a Go type as it is encoded in CBOR. It is
// stored with a collection, so that opening the collection with another
// struct can tell whether the stored values still fit.
type typeDesc struct {
	// Kind is one of bool, int, uint, float, string, bytes, time, slice
	// (slices and arrays), map, struct, tuple (a struct encoded as an
	// array), any, opaque (a type with its own encoding) and ref (a type
	// being described already, further up). A pointer is described as what
	// it points to: CBOR encodes it so, with nil as null.
	Kind string `cbor:"1,keyasint"`
	// Name is the Go type of an opaque or ref kind.
	Name string `cbor:"2,keyasint,omitempty"`
	// Elem is the element type of a slice or map.
	Elem *typeDesc `cbor:"3,keyasint,omitempty"`
	// Key is the key type of a map.
	Key *typeDesc `cbor:"4,keyasint,omitempty"`
	// Fields are the fields of a struct, by wire name, or of a tuple, in
	// order.
	Fields []fieldDesc `cbor:"5,keyasint,omitempty"`
}

type fieldDesc struct {
	Name string    `cbor:"1,keyasint"`
	Type *typeDesc `cbor:"2,keyasint"`
}

var (
	binaryMarshaler = reflect.TypeFor[encoding.BinaryMarshaler]()
	cborMarshaler   = reflect.TypeFor[cbor.Marshaler]()
	bigIntType      = reflect.TypeFor[big.Int]()
)

// opaque reports whether t has an encoding of its own, rather than its
// fields'.
func opaque(t reflect.Type) bool {
	return t == bigIntType || t.Implements(cborMarshaler) || t.Implements(binaryMarshaler) ||
		reflect.PointerTo(t).Implements(cborMarshaler) || reflect.PointerTo(t).Implements(binaryMarshaler)
}

// describe describes t; outer holds the types being described further up,
// so that a recursive type ends in a ref.
func describe(t reflect.Type, outer []reflect.Type) (*typeDesc, error) {
	switch {
	case t == timeType:
		return &typeDesc{Kind: "time"}, nil
	case opaque(t):
		return &typeDesc{Kind: "opaque", Name: t.String()}, nil
	case slices.Contains(outer, t):
		return &typeDesc{Kind: "ref", Name: t.String()}, nil
	}
	simple := func(k string) (*typeDesc, error) { return &typeDesc{Kind: k}, nil }
	switch t.Kind() {
	case reflect.Bool:
		return simple("bool")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return simple("int")
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return simple("uint")
	case reflect.Float32, reflect.Float64:
		return simple("float")
	case reflect.String:
		return simple("string")
	case reflect.Interface:
		return simple("any")
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return simple("bytes")
		}
		elem, err := describe(t.Elem(), append(outer, t))
		if err != nil {
			return nil, err
		}
		return &typeDesc{Kind: "slice", Elem: elem}, nil
	case reflect.Pointer:
		return describe(t.Elem(), outer)
	case reflect.Map:
		key, err := describe(t.Key(), append(outer, t))
		if err != nil {
			return nil, err
		}
		elem, err := describe(t.Elem(), append(outer, t))
		if err != nil {
			return nil, err
		}
		return &typeDesc{Kind: "map", Key: key, Elem: elem}, nil
	case reflect.Struct:
		return describeStruct(t, append(outer, t))
	}
	return nil, fmt.Errorf("a %s cannot be encoded in CBOR", t)
}

func describeStruct(t reflect.Type, outer []reflect.Type) (*typeDesc, error) {
	d := &typeDesc{Kind: "struct"}
	if f, ok := t.FieldByName("_"); ok && strings.Contains(f.Tag.Get("cbor"), "toarray") {
		d.Kind = "tuple"
	}
	if err := appendFieldDescs(d, t, outer); err != nil {
		return nil, err
	}
	if d.Kind == "struct" {
		slices.SortFunc(d.Fields, func(a, b fieldDesc) int { return strings.Compare(a.Name, b.Name) })
	}
	return d, nil
}

// appendFieldDescs appends the fields of the struct t to d, promoting the
// fields of untagged embedded structs as fxamacker/cbor does.
func appendFieldDescs(d *typeDesc, t reflect.Type, outer []reflect.Type) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Name == "_" {
			continue
		}
		name, keyAsInt, _, skip := wireName(sf)
		if skip {
			continue
		}
		if name == "" {
			et := sf.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if slices.Contains(outer, et) {
				continue
			}
			if err := appendFieldDescs(d, et, append(outer, et)); err != nil {
				return err
			}
			continue
		}
		if keyAsInt {
			name = "#" + name
		}
		ft, err := describe(sf.Type, outer)
		if err != nil {
			return fmt.Errorf("field %s: %w", sf.Name, err)
		}
		d.Fields = append(d.Fields, fieldDesc{Name: name, Type: ft})
	}
	return nil
}

// fits reports, as an error saying where and why, whether values stored
// with the shape stored can be decoded into the shape cur. A struct may gain
// fields; with dropFields it may also lose them (their data is then left
// behind when a value is rewritten). Anything else must stay as it was.
func fits(stored, cur *typeDesc, dropFields bool, path string) error {
	if stored.Kind != cur.Kind || stored.Name != cur.Name {
		return fmt.Errorf("%s was %s and is now %s", path, stored, cur)
	}
	switch stored.Kind {
	case "slice":
		return fits(stored.Elem, cur.Elem, dropFields, path+"[]")
	case "map":
		if err := fits(stored.Key, cur.Key, dropFields, path+" key"); err != nil {
			return err
		}
		return fits(stored.Elem, cur.Elem, dropFields, path+"[]")
	case "tuple":
		if len(stored.Fields) != len(cur.Fields) {
			return fmt.Errorf("%s was an array of %d fields and now has %d", path, len(stored.Fields), len(cur.Fields))
		}
		for i, sf := range stored.Fields {
			if err := fits(sf.Type, cur.Fields[i].Type, dropFields, path+"."+sf.Name); err != nil {
				return err
			}
		}
	case "struct":
		for _, sf := range stored.Fields {
			i := slices.IndexFunc(cur.Fields, func(f fieldDesc) bool { return f.Name == sf.Name })
			if i < 0 {
				if dropFields {
					continue
				}
				return fmt.Errorf("%s.%s is stored but no longer in the struct", path, sf.Name)
			}
			if err := fits(sf.Type, cur.Fields[i].Type, dropFields, path+"."+sf.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *typeDesc) String() string {
	switch d.Kind {
	case "slice":
		return "[]" + d.Elem.String()
	case "map":
		return "map[" + d.Key.String() + "]" + d.Elem.String()
	case "opaque", "ref":
		return d.Name
	case "struct", "tuple":
		names := make([]string, len(d.Fields))
		for i, f := range d.Fields {
			names[i] = f.Name
		}
		return d.Kind + "{" + strings.Join(names, ",") + "}"
	}
	return d.Kind
}
