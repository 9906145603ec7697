package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/netabase/netabase/core/replica"
)

// keyColumn is how wide Keys' column of keys is; a longer label goes on a
// line of its own.
const keyColumn = 24

// Keys lists the configuration's keys, as the package doc and netabase
// init --help give them: each key (or the keys one comment covers), its
// comment and its default, table by table. It is read from Config's
// comment tags and from Default; a [[sync]] table's keys are those of
// [replica.Fields]. Each line ends in a newline; none is indented.
func Keys() string {
	var b strings.Builder
	keys(&b, reflect.TypeFor[Config](), reflect.ValueOf(Default(keysDataDir)))
	return b.String()
}

// keysDataDir is the data directory Keys gives Default, which it shows as
// "<data dir>".
const keysDataDir = "/DATA"

// keys writes the keys of t, a table whose defaults are def.
func keys(b *strings.Builder, t reflect.Type, def reflect.Value) {
	var label []string
	var comment, defaults []string
	flush := func() {
		if len(label) > 0 {
			if len(defaults) > 0 {
				comment = append(comment, "Default "+strings.Join(defaults, ", ")+".")
			}
			entry(b, strings.Join(label, ", "), comment)
		}
		label, comment, defaults = nil, nil, nil
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		doc := sf.Tag.Get("comment")
		switch {
		case sf.Type.Kind() == reflect.Struct:
			flush()
			b.WriteString("\n")
			entry(b, "["+key+"]", strings.Split(doc, "\n"))
			keys(b, sf.Type, def.Field(i))
		case sf.Type == reflect.TypeFor[[]Sync]():
			flush()
			b.WriteString("\n")
			entry(b, "[["+key+"]]", strings.Split(doc, "\n"))
			for _, f := range replica.Fields() {
				text := []string{f.Doc}
				if f.Default != "" {
					text = append(text, "Default "+f.Default+".")
				}
				entry(b, f.Key, text)
			}
		default:
			if doc != "" {
				flush()
				comment = strings.Split(doc, "\n")
			}
			label = append(label, key)
			if d := defaultText(def.Field(i)); d != "" {
				defaults = append(defaults, d)
			}
		}
	}
	flush()
}

// entry writes label in the column of keys, then text, one line each.
func entry(b *strings.Builder, label string, text []string) {
	pad := strings.Repeat(" ", keyColumn)
	if len(label) >= keyColumn-1 {
		b.WriteString(label + "\n")
	} else {
		b.WriteString(label + pad[len(label):] + text[0] + "\n")
		text = text[1:]
	}
	for _, line := range text {
		b.WriteString(pad + line + "\n")
	}
}

// defaultText is the TOML text of a key's default v, or "" when it is
// empty (the key's comment says what empty means).
func defaultText(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return ""
		}
		return strconv.Quote(strings.ReplaceAll(v.String(), keysDataDir+"/", "<data dir>/"))
	case reflect.Slice:
		if v.Len() == 0 {
			return ""
		}
		var elems []string
		for i := range v.Len() {
			elems = append(elems, defaultText(v.Index(i)))
		}
		return "[" + strings.Join(elems, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}
