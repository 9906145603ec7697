package replica

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
)

// The text form of Settings: its fields by key, read from the struct
// tags, and the conversions every form (config.toml, JSON, flags) goes
// through. Adding a field to Settings, with its tags and its default,
// gives it every form.

// A Field is one of the fields of Settings, as its text form names it.
type Field struct {
	// Key names the field in config.toml, in JSON and in errors, such as
	// "max_records".
	Key string
	// Flag is the name of netabase sync join's flag that gives it, or ""
	// for none. A list's flag is given once for each element.
	Flag string
	// Doc is a sentence that says what the field is.
	Doc string
	// Default is the text of its default, or "" when it has none.
	Default string
	// Type names what the field takes: "string", "peerID", "int" or
	// "duration".
	Type string
	// List is set for a list (the writers), Number for a whole number or a
	// duration: a field a zero leaves to its default.
	List, Number bool
	// Optional is set for a field that came after the digest was fixed:
	// at its default it is left out of the digest and of the JSON form.
	Optional bool

	index  int // in Settings
	digest int // the field's key in the digest's CBOR map
	kind   kind
}

type kind int

const (
	kindString kind = iota
	kindWriters
	kindInt
	kindDuration
)

// fields are Settings' fields, in order.
var fields = settingFields()

// Fields lists the fields of Settings, in order.
func Fields() []Field { return slices.Clone(fields) }

func settingFields() []Field {
	t := reflect.TypeFor[Settings]()
	out := make([]Field, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		key, dkey, _ := strings.Cut(sf.Tag.Get("setting"), ",")
		dkey, option, _ := strings.Cut(dkey, ",")
		d, err := strconv.Atoi(dkey)
		if key == "" || err != nil || option != "" && option != "omitdefault" {
			panic(fmt.Sprintf("replica: Settings.%s has no setting tag \"key,digest key\" (or \"key,digest key,omitdefault\")", sf.Name))
		}
		f := Field{Key: key, Doc: sf.Tag.Get("doc"), Optional: option == "omitdefault", index: i, digest: d}
		switch {
		case sf.Type == reflect.TypeFor[time.Duration]():
			f.kind, f.Type = kindDuration, "duration"
		case sf.Type == reflect.TypeFor[[]peer.ID]():
			f.kind, f.Type, f.List = kindWriters, "peerID", true
		case sf.Type.Kind() == reflect.String:
			f.kind, f.Type = kindString, "string"
		case sf.Type.Kind() == reflect.Int || sf.Type.Kind() == reflect.Int64:
			f.kind, f.Type = kindInt, "int"
		default:
			panic(fmt.Sprintf("replica: Settings.%s has a type (%s) the text form has no conversion for", sf.Name, sf.Type))
		}
		if f.kind == kindInt || f.kind == kindDuration {
			def, ok := defaults[key]
			if !ok {
				panic(fmt.Sprintf("replica: Settings.%s has no default", sf.Name))
			}
			f.Number, f.Default = true, f.text(reflect.ValueOf(def).Convert(sf.Type))
		}
		switch flag := sf.Tag.Get("flag"); flag {
		case "-":
		case "":
			f.Flag = strings.ReplaceAll(key, "_", "-")
		default:
			f.Flag = flag
		}
		out = append(out, f)
	}
	return out
}

// left reports whether the field's value v is left out of the digest and
// the JSON form: an optional field at its default.
func (f Field) left(v reflect.Value) bool {
	return f.Optional && (v.Int() == 0 || v.Int() == defaults[f.Key])
}

func fieldOf(key string) (Field, bool) {
	i := slices.IndexFunc(fields, func(f Field) bool { return f.Key == key })
	if i < 0 {
		return Field{}, false
	}
	return fields[i], true
}

// get returns the field's value v in the form of JSON and TOML: a string,
// a []string (never nil) or an int64.
func (f Field) get(v reflect.Value) any {
	switch f.kind {
	case kindString:
		return v.String()
	case kindWriters:
		out := []string{}
		for _, id := range v.Interface().([]peer.ID) {
			out = append(out, id.String())
		}
		return out
	case kindDuration:
		return formatDuration(time.Duration(v.Int()))
	}
	return v.Int()
}

// text returns the field's value v as a sentence writes it.
func (f Field) text(v reflect.Value) string {
	switch x := f.get(v).(type) {
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	case string:
		if f.kind == kindString {
			return strconv.Quote(x)
		}
		return x
	default:
		return fmt.Sprint(x)
	}
}

// formatDuration writes d as time.Duration does, without the zero minutes
// and seconds of a whole number of hours or minutes: "720h", "90m".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// set sets v, the field's value, from x.
func (f Field) set(v reflect.Value, x any) error {
	mismatch := func() error {
		return fmt.Errorf("is %s where the key takes %s", describe(x), f.takes())
	}
	switch f.kind {
	case kindString:
		s, ok := x.(string)
		if !ok {
			return mismatch()
		}
		v.SetString(s)
	case kindWriters:
		var texts []string
		switch x := x.(type) {
		case string:
			texts = append(texts, x) // a flag's: one more writer
		case []string:
			v.SetLen(0)
			texts = x
		case []any:
			v.SetLen(0)
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("holds %s where the key takes %s", describe(e), f.takes())
				}
				texts = append(texts, s)
			}
		default:
			return mismatch()
		}
		ids := v.Interface().([]peer.ID)
		for _, s := range texts {
			id, err := peer.Decode(s)
			if err != nil {
				return fmt.Errorf("%q is not a peer ID (%v); write one as netabase id prints it", s, err)
			}
			ids = append(ids, id)
		}
		v.Set(reflect.ValueOf(ids))
	case kindInt:
		var n int64
		switch x := x.(type) {
		case string:
			var err error
			if n, err = strconv.ParseInt(x, 10, 64); err != nil {
				return fmt.Errorf("%q is not a whole number", x)
			}
		case json.Number:
			var err error
			if n, err = x.Int64(); err != nil {
				return fmt.Errorf("%s is not a whole number", x)
			}
		case int64:
			n = x
		case int:
			n = int64(x)
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return fmt.Errorf("%v is not a whole number", x)
			}
			n = int64(x)
		default:
			return mismatch()
		}
		if v.OverflowInt(n) {
			return fmt.Errorf("%d is too large", n)
		}
		v.SetInt(n)
	case kindDuration:
		s, ok := x.(string)
		if !ok {
			return mismatch()
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration; write one such as \"720h\", \"90m\" or \"30s\"", s)
		}
		v.SetInt(int64(d))
	}
	return nil
}

// takes says what the field takes.
func (f Field) takes() string {
	switch f.kind {
	case kindString:
		return "a string"
	case kindWriters:
		return `a list of peer IDs as text, such as ["12D3KooW..."]`
	case kindInt:
		return "a whole number, such as 1000"
	}
	return `a duration as text, such as "720h"`
}

// describe says what kind of value x is.
func describe(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, float64, json.Number:
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a table"
	case nil:
		return "null"
	}
	return fmt.Sprintf("a %T", x)
}

// A FieldError is about one field of a collection's settings.
type FieldError struct {
	Key string // the field's key, such as "max_records"
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Get returns the field called key in the form of JSON and TOML: a string
// (the name; a duration, such as "720h"), a []string of peer IDs (the
// writers, never nil) or an int64. It returns nil for a key that is not a
// field's.
func (s Settings) Get(key string) any {
	f, ok := fieldOf(key)
	if !ok {
		return nil
	}
	return f.get(reflect.ValueOf(s).Field(f.index))
}

// Set sets the field called key from x: for the name, a string; for the
// writers, a list of peer IDs ([]string or []any of strings), or one peer
// ID as a string, which is added to them (a flag's form); for a bound, a
// whole number (int64, int, a whole float64, json.Number or its decimal
// text); for the horizon, a duration as text, such as "720h". An error is a
// *FieldError that says what is wrong and what the field takes.
func (s *Settings) Set(key string, x any) error {
	f, ok := fieldOf(key)
	if !ok {
		keys := make([]string, len(fields))
		for i, f := range fields {
			keys[i] = f.Key
		}
		return &FieldError{Key: key, Err: fmt.Errorf("is not a setting of a synced collection; they are %s", strings.Join(keys, ", "))}
	}
	if err := f.set(reflect.ValueOf(s).Elem().Field(f.index), x); err != nil {
		return &FieldError{Key: key, Err: err}
	}
	return nil
}

// MarshalJSON writes s as a JSON object of every field by its key, in
// order: {"name": "chat", "writers": [], "max_records_per_writer": 0, ...,
// "tombstone_horizon": "720h"}; an optional field at its default (the
// bounds' rule) is left out.
func (s Settings) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	v := reflect.ValueOf(s)
	for _, f := range fields {
		if f.left(v.Field(f.index)) {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		x, err := json.Marshal(f.get(v.Field(f.index)))
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(x)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads s from a JSON object of fields by their keys; a key
// left out leaves its field zero, an unknown key is an error.
func (s *Settings) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("the settings of a synced collection are a JSON object: %w", err)
	}
	var out Settings
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := out.Set(k, m[k]); err != nil {
			return err
		}
	}
	*s = out
	return nil
}

// Diff returns the keys of the fields in which s and o differ, in order.
// Both must be normalized.
func (s Settings) Diff(o Settings) []string {
	var out []string
	a, b := reflect.ValueOf(s), reflect.ValueOf(o)
	for _, f := range fields {
		if !reflect.DeepEqual(f.get(a.Field(f.index)), f.get(b.Field(f.index))) {
			out = append(out, f.Key)
		}
	}
	return out
}

// ErrOtherSettings is what an error of [Settings.Agree] is: another side
// holds other settings of a collection, so the two replicate different
// collections. Such an error is a core.ErrConflict too.
var ErrOtherSettings = errors.New("the collection's settings differ")

type otherSettings struct{ msg string }

func (e *otherSettings) Error() string { return e.msg }

func (e *otherSettings) Is(target error) bool {
	return target == ErrOtherSettings || target == core.ErrConflict
}

// Agree checks that theirs and digest, the settings and the digest (in
// hex) another side gives for the collection s defines, define the same
// collection; s must be normalized. Otherwise the error is ErrOtherSettings
// with a sentence that names each field that differs and its value on
// each side; there names the other side in it, such as "the gateway's
// daemon". It gives no advice: the caller knows what to do.
func (s Settings) Agree(there string, theirs Settings, digest string) error {
	t, err := theirs.Normalize()
	if err != nil {
		return fmt.Errorf("%s gives settings of collection %q that are not valid: %w", there, theirs.Name, err)
	}
	mine := s.Digest()
	own := hex.EncodeToString(mine[:])
	diff := s.Diff(t)
	switch {
	case len(diff) == 0 && digest == own:
		return nil
	case len(diff) == 0:
		return &otherSettings{fmt.Sprintf("collection %s: %s gives the same settings as here with the digest %s, where this side computes %s: the two sides compute the digest differently (another version of netabase?)", s.Name, there, digest, own)}
	}
	a, b := reflect.ValueOf(s), reflect.ValueOf(t)
	parts := make([]string, len(diff))
	for i, key := range diff {
		f, _ := fieldOf(key)
		parts[i] = fmt.Sprintf("%s is %s there and %s here", key, f.text(b.Field(f.index)), f.text(a.Field(f.index)))
	}
	return &otherSettings{fmt.Sprintf("collection %s: %s has other settings than this side, so the two replicate different collections: %s",
		s.Name, there, strings.Join(parts, "; "))}
}
