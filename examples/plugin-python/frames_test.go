package pluginpython

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/netabase/netabase/plugins/wire"
)

// framesPy loads the plugin's script as a module and, for each line of
// stdin, either decodes a mutation frame ("d <hex>": "ok" and its records,
// or "err") or encodes an entry frame ("e" and records kind:key:payload,
// hex; a size record's payload decimal).
const framesPy = `
import sys
from importlib.machinery import SourceFileLoader
m = SourceFileLoader("plugin", sys.argv[1]).load_module()
for line in sys.stdin:
    op, _, rest = line.strip().partition(" ")
    if op == "d":
        try:
            recs = m.decode_mutations(bytes.fromhex(rest))
        except m.FrameError:
            print("err")
            continue
        print(" ".join(["ok"] + ["p%s.%s" % (k.hex(), v.hex()) if v is not None else "d%s" % k.hex() for k, v in recs]))
    else:
        recs = []
        for r in rest.split():
            kind, key, payload = r.split(":")
            key = bytes.fromhex(key)
            recs.append((m.KIND_PUT, key, bytes.fromhex(payload)) if kind == "1" else (m.KIND_SIZE, key, int(payload)))
        print(m.encode_entries(recs).hex())
`

// goDecode is what plugins/wire makes of a mutation frame, in framesPy's
// notation.
func goDecode(b []byte) string {
	recs, err := wire.DecodeFrame(b, wire.MutationKinds)
	if err != nil {
		return "err"
	}
	out := []string{"ok"}
	for _, r := range recs {
		if r.Kind == wire.KindDelete {
			out = append(out, "d"+hex.EncodeToString(r.Key))
		} else {
			out = append(out, "p"+hex.EncodeToString(r.Key)+"."+hex.EncodeToString(r.Value))
		}
	}
	return strings.Join(out, " ")
}

// TestFramesMatchGo checks the plugin's frame code against plugins/wire's,
// the reference of FRAMES.md: it decodes the same mutation frames to the
// same records and refuses the same malformed ones (every truncation and
// many one-byte changes of well-formed frames, varints not in their
// shortest form or past 64 bits), and encodes entry frames byte for byte
// as plugins/wire does.
func TestFramesMatchGo(t *testing.T) {
	needPython(t)
	rng := rand.New(rand.NewPCG(24, 3))
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	lengths := []int{0, 1, 2, 127, 128, 300, 16384, 20000}

	var decode [][]byte
	for range 60 {
		var f wire.Frame
		for range rng.IntN(4) {
			key := bytesOf(lengths[rng.IntN(4)] + 1)
			if rng.IntN(3) == 0 {
				f.Delete(key)
			} else {
				f.Put(key, bytesOf(lengths[rng.IntN(len(lengths))]))
			}
		}
		good := bytes.Clone(f.Bytes())
		decode = append(decode, good)
		if len(good) > 600 {
			continue
		}
		for i := range len(good) {
			decode = append(decode, good[:i])
			for _, c := range []byte{0x00, 0x02, 0x03, 0x7f, 0x80, 0xff} {
				b := bytes.Clone(good)
				b[i] = c
				decode = append(decode, b)
			}
		}
		decode = append(decode, append(bytes.Clone(good), 0), append(bytes.Clone(good), 2, 0))
	}
	for _, h := range []string{
		"", "000000", "00000000", "0000000000", "01000000", "0100000002", "010000000200",
		"01000000028000", "0100000002810061", // a key length not in its shortest form
		"010000000102612f00", "01000000010100" + "80808080808080808001", // a value length past 64 bits
		"01000000010100ffffffffffffffffff01", "01000000010100ffffffffffffffffff7f",
		"ffffffff0200", "02000000020161",
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		decode = append(decode, b)
	}

	type entries struct {
		line string
		want []byte
	}
	var encode []entries
	for range 40 {
		var f wire.Frame
		var line []string
		sizes := rng.IntN(2) == 0
		for range rng.IntN(5) {
			key := bytesOf(lengths[rng.IntN(5)] + 1)
			if sizes {
				size := []int64{0, 1, 127, 128, 1 << 20, math.MaxInt64}[rng.IntN(6)]
				f.PutSize(key, size)
				line = append(line, fmt.Sprintf("3:%x:%d", key, size))
			} else {
				v := bytesOf(lengths[rng.IntN(len(lengths))])
				f.Put(key, v)
				line = append(line, fmt.Sprintf("1:%x:%x", key, v))
			}
		}
		encode = append(encode, entries{strings.Join(line, " "), bytes.Clone(f.Bytes())})
	}

	var in bytes.Buffer
	for _, b := range decode {
		fmt.Fprintf(&in, "d %x\n", b)
	}
	for _, e := range encode {
		fmt.Fprintf(&in, "e %s\n", e.line)
	}
	cmd := exec.Command(python, "-c", framesPy, script)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the plugin's frame code: %v\n%s", err, &stderr)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if len(got) != len(decode)+len(encode) {
		t.Fatalf("the plugin's frame code answered %d lines for %d frames\n%s", len(got), len(decode)+len(encode), &stderr)
	}
	refused := 0
	for i, b := range decode {
		want := goDecode(b)
		if want == "err" {
			refused++
		}
		if got[i] != want {
			t.Errorf("mutation frame %x: the plugin decodes %.200s; plugins/wire %.200s", b[:min(len(b), 64)], got[i], want)
		}
	}
	for i, e := range encode {
		if g := got[len(decode)+i]; g != hex.EncodeToString(e.want) {
			t.Errorf("entry frame of %.200s: the plugin encodes %.200s; plugins/wire %.200x", e.line, g, e.want)
		}
	}
	if refused == 0 || refused == len(decode) {
		t.Fatalf("%d of %d frames refused: the cases do not cover both well-formed and malformed frames", refused, len(decode))
	}
	t.Logf("%d mutation frames (%d malformed) and %d entry frames agree with plugins/wire", len(decode), refused, len(encode))
}
