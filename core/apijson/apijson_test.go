package apijson_test

import (
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multihash"

	"github.com/netabase/netabase/core/apijson"
	"github.com/netabase/netabase/core/envelope"
)

// TestEnvelopeOf: an envelope's fields, its owner and name read from its
// key, its clock in UTC; a key that is no netabase record key leaves them
// empty.
func TestEnvelopeOf(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Date(2026, 12, 7, 23, 0, 0, 5, time.FixedZone("CET", 3600))
	e, err := envelope.Seal(priv, "notes", "text/plain", 3, envelope.Timestamp{Wall: wall.UnixNano(), Logical: 2}, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	got := apijson.EnvelopeOf(e)
	want := apijson.Envelope{Owner: owner.String(), Name: "notes", Schema: "text/plain", Version: 3, Clock: wall.UTC()}
	if got != want || got.Clock.Location() != time.UTC {
		t.Errorf("EnvelopeOf: %+v, want %+v", got, want)
	}
	e.Key = "/other/key"
	if got := apijson.EnvelopeOf(e); got.Owner != "" || got.Name != "" || got.Schema != "text/plain" {
		t.Errorf("EnvelopeOf under a key that is no netabase record key: %+v, want no owner or name", got)
	}
}

// TestProvidersOf: the JSON form gives the CID and each provider's ID and
// addresses, and [] (never null) for none.
func TestProvidersOf(t *testing.T) {
	mh, err := multihash.Sum([]byte("my-dataset"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV1(cid.Raw, mh)
	id, err := peer.Decode("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	if err != nil {
		t.Fatal(err)
	}
	a := ma.StringCast("/ip4/127.0.0.1/tcp/4101")
	for _, tc := range []struct {
		found []peer.AddrInfo
		want  string
	}{
		{nil, `{"cid":"` + c.String() + `","providers":[]}`},
		{[]peer.AddrInfo{{ID: id}}, `{"cid":"` + c.String() + `","providers":[{"id":"` + id.String() + `","addrs":[]}]}`},
		{[]peer.AddrInfo{{ID: id, Addrs: []ma.Multiaddr{a}}}, `{"cid":"` + c.String() + `","providers":[{"id":"` + id.String() + `","addrs":["/ip4/127.0.0.1/tcp/4101"]}]}`},
	} {
		got, err := json.Marshal(apijson.ProvidersOf(c, tc.found))
		if err != nil || string(got) != tc.want {
			t.Errorf("ProvidersOf(%v): %s %v, want %s", tc.found, got, err, tc.want)
		}
	}
}
