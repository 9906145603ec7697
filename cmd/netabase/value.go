package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"unicode"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// A value in a table is shown on one line of at most cellRunes characters;
// a longer one is cut there and its size said.
const cellRunes = 100

// isText reports whether b is text a terminal may show as it is: UTF-8
// without control characters but tabs and line ends.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// binarySummary describes a value that is not text, by its size and its
// first bytes in hex: <520 KB binary: 89504e470d0a1a0a…>.
func binarySummary(b []byte) string {
	const preview = 8
	if len(b) <= preview {
		return fmt.Sprintf("<%s binary: %x>", size(len(b)), b)
	}
	return fmt.Sprintf("<%s binary: %s…>", size(len(b)), hex.EncodeToString(b[:preview]))
}

// size is n bytes in words: 13 bytes, 520 KB, 1.5 MB (of 1024).
func size(n int) string {
	switch {
	case n == 1:
		return "1 byte"
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%d KB", (n+1<<9)>>10)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}

// cell is a value as a table shows it, on one line: text as shown, cut
// after cellRunes characters; anything else as its binarySummary.
// With asCBOR, a value that is one CBOR data item is shown as JSON first.
func cell(b []byte, asCBOR bool) string {
	if asCBOR {
		if j, ok := cborJSON(b); ok {
			return cut(shown(j), len(b))
		}
	}
	if !utf8.Valid(b) {
		return binarySummary(b)
	}
	return cut(shown(string(b)), len(b))
}

// cut cuts s after cellRunes characters, saying the size of the value of
// n bytes it shows.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= cellRunes {
		return s
	}
	i := 0
	for range cellRunes {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return fmt.Sprintf("%s… (%s)", s[:i], size(n))
}

// cborJSON is b, one CBOR data item and nothing after it, as compact JSON;
// false when b is not one.
func cborJSON(b []byte) (string, bool) {
	var v any
	if len(b) == 0 || cbor.Unmarshal(b, &v) != nil {
		return "", false
	}
	j, err := json.Marshal(jsonValue(v))
	if err != nil {
		return "", false
	}
	return string(j), true
}

// jsonValue turns a decoded CBOR item into one encoding/json writes: map
// keys that are not text are written as text (a struct's integer keys as
// "1"), byte strings in base64, a tag as {"tag": number, "value": item},
// floats JSON has no number for as text ("NaN", "+Inf").
func jsonValue(v any) any {
	switch v := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				ks = fmt.Sprint(jsonValue(k))
			}
			m[ks] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonValue(e)
		}
		return v
	case cbor.Tag:
		return map[string]any{"tag": v.Number, "value": jsonValue(v.Content)}
	case big.Int:
		return &v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v)
		}
		return v
	default:
		return v
	}
}
