package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// TestNoteNotCID: provide, findprovs and unprovide take a key that looks
// like a CID but does not parse as one, and say so on standard error,
// naming the parse error and the CID they used; a CID or a plain key gets
// no note.
func TestNoteNotCID(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://")
	mh, err := multihash.Sum([]byte("a dataset"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	v1, v0 := cid.NewCidV1(cid.Raw, mh).String(), cid.NewCidV0(mh).String()
	// "1" is not base32, "0" not base58.
	badV1, badV0 := v1[:10]+"1"+v1[11:], v0[:10]+"0"+v0[11:]

	for _, tc := range []struct {
		key      string
		noted    bool
		parseErr string
	}{
		{key: "a dataset"},
		{key: v1},
		{key: v0},
		{key: "bafkfoo"}, // too short to be a mistyped CID
		{key: badV1, noted: true, parseErr: "illegal base32 data"},
		{key: badV0, noted: true, parseErr: "invalid cid"},
	} {
		for _, cmd := range []string{"provide", "findprovs", "unprovide"} {
			code, out, errOut := runIn(ctx, nil, cmd, "--data-dir", d.dir, tc.key)
			used, _, _ := strings.Cut(out, "\n")
			if code != 0 || used == "" {
				t.Errorf("%s %q: exit %d\n%s%s", cmd, tc.key, code, out, errOut)
				continue
			}
			if !tc.noted {
				if strings.Contains(errOut, "note:") {
					t.Errorf("%s %q: stderr %q; want no note", cmd, tc.key, errOut)
				}
				continue
			}
			for _, want := range []string{"netabase: note: " + tc.key + " looks like a CID but is not one", tc.parseErr, "whose CID is " + used} {
				if !strings.Contains(errOut, want) {
					t.Errorf("%s %q: stderr %q; want %q", cmd, tc.key, errOut, want)
				}
			}
		}
	}
}
