package envelope

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/netabase/netabase/core"
)

// CheckName reports whether name may name a record that a node is asked to
// write, read or remove locally: on its command line, over its control API
// or through its gateway. A name given there is 1 to MaxNameSize bytes of
// UTF-8, as every record's name is, and holds no control character
// (Unicode's category Cc: U+0000 to U+001F and U+007F to U+009F), which
// terminals, logs and URLs show as nothing or act on. Records from peers
// are held to ParseKey's rule only, without this last part, so that a
// record an older node holds still opens.
func CheckName(name string) error {
	if name == "" {
		return core.Errorf(core.ErrInvalidKey, "the record name is empty; give a name of 1 to %d bytes", MaxNameSize)
	}
	if err := checkSize(name); err != nil {
		return err
	}
	if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return core.Errorf(core.ErrInvalidKey, "record name %q holds the control character %U; a name is printable text (spaces are fine)", name, r)
	}
	return nil
}

// CheckKey applies CheckName to the name in key when key is a netabase
// record key, which must then parse (ParseKey's errors). A key of another
// namespace passes: its namespace's validator judges it.
func CheckKey(key string) error {
	if !strings.HasPrefix(key, "/"+Namespace+"/") {
		return nil
	}
	_, name, err := ParseKey(key)
	if err != nil {
		return err
	}
	return CheckName(name)
}
