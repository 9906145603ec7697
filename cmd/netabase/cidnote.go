package main

import (
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// noteNotCID tells the user, on stderr, when a provider key looks like a
// CID yet does not parse as one: the node has then used the CID of the
// key's bytes, used, and announced (or looked up) another key than the
// user most likely meant. It does not refuse: the key is a valid one.
func noteNotCID(e *env, key, used string) {
	if !looksLikeCID(key) {
		return
	}
	_, err := cid.Decode(key)
	if err == nil {
		return
	}
	fmt.Fprintf(e.stderr, "netabase: note: %s looks like a CID but is not one (%v), so it was taken as a plain key, whose CID is %s; check the CID if you meant one\n",
		key, err, used)
}

// looksLikeCID reports whether key has the look of a CID: a CIDv0
// (base58, "Qm", 46 characters) or a base32 CIDv1 ("bafy", "bafk", 59
// characters for a sha2-256), give or take a few characters, and nothing
// but letters and digits.
func looksLikeCID(key string) bool {
	for _, r := range key {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	switch {
	case strings.HasPrefix(key, "Qm"):
		return len(key) >= 40 && len(key) <= 52
	case strings.HasPrefix(key, "bafy"), strings.HasPrefix(key, "bafk"):
		return len(key) >= 50 && len(key) <= 70
	}
	return false
}
