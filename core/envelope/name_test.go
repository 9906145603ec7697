package envelope_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// TestCheckName: a name given locally is 1 to MaxNameSize bytes of UTF-8
// without a control character (category Cc), while a record from a peer
// under such a name still opens (ParseKey and Open keep their rule).
func TestCheckName(t *testing.T) {
	for _, name := range []string{"a", "notes/shopping list", "café ☕", "a\u200bb", strings.Repeat("x", envelope.MaxNameSize)} {
		if err := envelope.CheckName(name); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
	for name, says := range map[string]string{
		"":               "empty",
		"a\x00b":         "control character U+0000",
		"\t":             "control character U+0009",
		"line\n":         "control character U+000A",
		"\x1b[2J":        "control character U+001B",
		"del\x7f":        "control character U+007F",
		"next\u0085line": "control character U+0085",
		"\u009f":         "control character U+009F",
		"bad\xff":        "not valid UTF-8",
		strings.Repeat("x", envelope.MaxNameSize+1): "longer than",
	} {
		if err := envelope.CheckName(name); !errors.Is(err, core.ErrInvalidKey) || !strings.Contains(err.Error(), says) {
			t.Errorf("CheckName(%q): %v; want an invalid key saying %q", name, err, says)
		}
	}

	priv, id := newKey(t)
	if err := envelope.CheckKey(envelope.Key(id, "a b")); err != nil {
		t.Errorf("CheckKey of a printable name: %v", err)
	}
	if err := envelope.CheckKey(envelope.Key(id, "a\x00b")); !errors.Is(err, core.ErrInvalidKey) || !strings.Contains(err.Error(), "U+0000") {
		t.Errorf("CheckKey of a name with NUL: %v", err)
	}
	if err := envelope.CheckKey("/netabase/" + id.String()); !errors.Is(err, core.ErrInvalidKey) || !strings.Contains(err.Error(), "no name") {
		t.Errorf("CheckKey of a key without a name: %v", err)
	}
	if err := envelope.CheckKey("/pk/\x00\x01"); err != nil {
		t.Errorf("CheckKey of another namespace's key: %v; its validator judges it", err)
	}

	key, data := seal(t, priv, "a\x00b", envelope.Timestamp{Wall: 1}, "v")
	if _, err := envelope.Open(key, data); err != nil {
		t.Errorf("a peer's record named with NUL: %v; it must stay valid", err)
	}
}
