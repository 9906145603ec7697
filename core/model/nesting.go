package model

import (
	"fmt"
	"reflect"
)

// maxNesting is how many levels of arrays and maps (structs included) a
// value may have, counting the value itself. The decoder refuses deeper
// data, so Put refuses to write it.
const maxNesting = 256

// mayNest reports whether values of the shape d can nest without bound or
// hold a cycle: d refers to itself or holds an interface.
func mayNest(d *typeDesc) bool {
	switch d.Kind {
	case "ref", "any":
		return true
	}
	if d.Elem != nil && mayNest(d.Elem) || d.Key != nil && mayNest(d.Key) {
		return true
	}
	for _, f := range d.Fields {
		if mayNest(f.Type) {
			return true
		}
	}
	return false
}

// checkNesting fails for a value that holds a cycle or nests deeper than
// maxNesting, which the encoder would recurse on forever or the decoder
// refuse.
func checkNesting(v reflect.Value) error {
	return walkNesting(v, 0, make(map[visit]bool))
}

// visit identifies a reference on the path being walked.
type visit struct {
	ptr uintptr
	typ reflect.Type
	len int
}

// walkNesting walks v, which sits inside depth arrays and maps.
func walkNesting(v reflect.Value, depth int, path map[visit]bool) error {
	if v.Kind() != reflect.Interface && (v.Type() == timeType || opaque(v.Type())) {
		return nil // encoded as one item, not through its fields
	}
	if isContainer(v) && depth+1 > maxNesting {
		return fmt.Errorf("the value nests more than %d levels deep", maxNesting)
	}
	ref := func() (func(), error) {
		k := visit{v.Pointer(), v.Type(), 0}
		if v.Kind() == reflect.Slice {
			k.len = v.Len()
		}
		if path[k] {
			return nil, fmt.Errorf("the value holds a cycle through a %s", v.Type())
		}
		path[k] = true
		return func() { delete(path, k) }, nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if v.Kind() == reflect.Pointer {
			done, err := ref()
			if err != nil {
				return err
			}
			defer done()
		}
		return walkNesting(v.Elem(), depth, path)
	case reflect.Struct:
		for i := range v.NumField() {
			if _, _, _, skip := wireName(v.Type().Field(i)); skip {
				continue // not encoded
			}
			if err := walkNesting(v.Field(i), depth+1, path); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		done, err := ref()
		if err != nil {
			return err
		}
		defer done()
		for it := v.MapRange(); it.Next(); {
			if err := walkNesting(it.Key(), depth+1, path); err != nil {
				return err
			}
			if err := walkNesting(it.Value(), depth+1, path); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		if v.Kind() == reflect.Slice {
			if v.IsNil() {
				return nil
			}
			done, err := ref()
			if err != nil {
				return err
			}
			defer done()
		}
		for i := range v.Len() {
			if err := walkNesting(v.Index(i), depth+1, path); err != nil {
				return err
			}
		}
	}
	return nil
}

// isContainer reports whether v encodes as a CBOR array or map.
func isContainer(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Struct, reflect.Map:
		return true
	case reflect.Slice, reflect.Array:
		return v.Type().Elem().Kind() != reflect.Uint8
	}
	return false
}
