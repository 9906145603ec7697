package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/core/envelope"
)

// countingReader yields zeros, up to left bytes, and counts what it yields.
type countingReader struct{ read, left int }

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	clear(p[:n])
	r.read += n
	r.left -= n
	return n, nil
}

// TestPutRefusesOversizedValues: a value larger than a record holds is
// refused as bad usage, naming the limit, before the command looks for a
// daemon (there is none here); standard input is read no further than the
// limit.
func TestPutRefusesOversizedValues(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, envelope.MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	limit := strconv.Itoa(envelope.MaxSize)

	code, _, stderr := runIn(ctx, nil, "--data-dir", dir, "put", "k", "@"+big)
	if code != exitUsage || !strings.Contains(stderr, big) || !strings.Contains(stderr, limit) {
		t.Errorf("put @big: exit %d, stderr %q; want exit %d naming the file and the %s-byte limit", code, stderr, exitUsage, limit)
	}

	stdin := &countingReader{left: 64 << 20}
	code, _, stderr = runIn(ctx, stdin, "--data-dir", dir, "put", "k", "-")
	if code != exitUsage || !strings.Contains(stderr, "standard input") || !strings.Contains(stderr, limit) {
		t.Errorf("put - of 64 MiB: exit %d, stderr %q; want exit %d naming the %s-byte limit", code, stderr, exitUsage, limit)
	}
	if stdin.read > 2*envelope.MaxSize {
		t.Errorf("put read %d bytes of standard input; a record holds %d", stdin.read, envelope.MaxSize)
	}
}

// TestPutRefusesNonUTF8: a name that is not UTF-8 is refused by put as get
// refuses it, and nothing is stored (JSON would have carried it changed).
func TestPutRefusesNonUTF8(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://")
	const name = "bad\xffname"
	want := `record name "bad\xffname" is not valid UTF-8`
	for _, args := range [][]string{{"get", name}, {"put", name, "v"}} {
		code, _, stderr := runIn(ctx, nil, append(args, "--data-dir", d.dir)...)
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d saying %s", args[0], code, stderr, exitUsage, want)
		}
	}
	if got := d.cli(t, ctx, "records"); strings.Contains(got, "bad") {
		t.Errorf("the node stored a record: %s", got)
	}
}

// TestNamesWithControlCharacters: a record name or key, or a synced
// record's key, holding a control character is refused as bad usage by
// put, get and sync put, before the command looks for a daemon (there is
// none here).
func TestNamesWithControlCharacters(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const id = "12D3KooWGRUVh7TmVTNNfckbuMsL4tH2Bu1fvWBFBFNsG3gXvs7q"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"put", "a\x1b[2Jb", "v"}, `record name "a\x1b[2Jb" holds the control character U+001B`},
		{[]string{"put", "/netabase/" + id + "/a\tb", "v"}, `record name "a\tb" holds the control character U+0009`},
		{[]string{"get", "a\x00b"}, `record name "a\x00b" holds the control character U+0000`},
		{[]string{"get", "/netabase/" + id + "/\u0085"}, `record name "\u0085" holds the control character U+0085`},
		{[]string{"sync", "put", "notes", "a\nb", "v"}, `record name "notes/a\nb" holds the control character U+000A`},
	} {
		code, _, stderr := runIn(ctx, nil, append(tc.args, "--data-dir", dir)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d saying %s", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}
