// Package wsync is the WebSocket binding of sync (SYNC.md §6): a program
// that cannot speak libp2p, such as a page in a browser, replicates a
// synced collection through a daemon that has joined it, over one
// WebSocket connection. Reconciliation sessions run over it as over a
// libp2p stream, by core/replica's one session code (Session is its
// replica.Conn), and live records travel both ways on the same
// connection.
//
// Sync is the client side; core/gateway serves the daemon side. The
// package builds for GOOS=js GOARCH=wasm, and imports neither core/node
// nor libp2p's host.
package wsync

import (
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/replica"
)

// Subprotocols are the WebSocket subprotocols of sync, one per
// reconciliation protocol version, the newest first: a client offers those
// it speaks, and the daemon picks the first of its own the client offers.
var Subprotocols = []string{Subprotocol2, Subprotocol1}

// The subprotocols of the reconciliation protocol versions.
const (
	// Subprotocol1 carries reconciliation protocol /netabase/sync/1.0.0.
	Subprotocol1 = "netabase.sync.1.0.0"
	// Subprotocol2 carries reconciliation protocol /netabase/sync/2.0.0.
	Subprotocol2 = "netabase.sync.2.0.0"
)

// Subprotocol is the subprotocol of reconciliation protocol version v.
func Subprotocol(v replica.Version) string {
	return fmt.Sprintf("netabase.sync.%d.0.0", v)
}

// SubprotocolsOf are the subprotocols of versions, in their order; nil
// stands for every version this build speaks (replica.Versions).
func SubprotocolsOf(versions []replica.Version) []string {
	if len(versions) == 0 {
		versions = replica.Versions
	}
	out := make([]string, 0, len(versions))
	for _, v := range versions {
		out = append(out, Subprotocol(v))
	}
	return out
}

// VersionOf returns the reconciliation protocol version that subprotocol
// carries.
func VersionOf(subprotocol string) (replica.Version, bool) {
	for _, v := range replica.Versions {
		if Subprotocol(v) == subprotocol {
			return v, true
		}
	}
	return 0, false
}

// The kinds of binary message: the message's first byte.
const (
	// KindFrame carries one reconciliation message (SYNC.md §5), its
	// bytes without the frame's length.
	KindFrame byte = 0
	// KindEnd ends the sender's side of the session under way, as
	// closing a stream's sending side does.
	KindEnd byte = 1
	// KindRecord carries one record, its envelope's bytes.
	KindRecord byte = 2
)

// MaxMessage is the largest message either side reads: a kind byte and a
// reconciliation frame. A live record's message is at most 1 +
// envelope.MaxSize bytes.
const MaxMessage = 1 + replica.MaxFrame

// Close codes, besides WebSocket's own (1000 normal, 1001 going away, 1008
// a message the binding does not allow, 1009 a message too big, 1011 a
// failure of the daemon).
const (
	// CodeBadHello: the first message was not a hello.
	CodeBadHello = 4400
	// CodeNotJoined: the daemon does not replicate the collection.
	CodeNotJoined = 4404
	// CodeOtherSettings: the daemon has other settings for the
	// collection.
	CodeOtherSettings = 4409
)

// Hello is the client's first message, a text message of JSON: the
// collection's settings whole, in their text form with their digest
// (SYNC.md §3), and the client's peer ID, which names it in the daemon's
// figures (it is not authenticated: records are, by their signatures).
// The daemon answers with its own Hello, or an Error and a close.
type Hello struct {
	Settings replica.Settings `json:"settings"`
	Digest   string           `json:"digest"`
	Peer     peer.ID          `json:"peer"`
}

// NewHello is the hello of settings and p.
func NewHello(settings replica.Settings, p peer.ID) (Hello, error) {
	n, err := settings.Normalize()
	if err != nil {
		return Hello{}, err
	}
	return Hello{Settings: n, Digest: fmt.Sprintf("%x", n.Digest()), Peer: p}, nil
}

// Notice is a text message of JSON after the hellos: an error the sender
// closes the connection after, or a live record the daemon refused.
type Notice struct {
	Error   string   `json:"error,omitempty"`
	Refused *Refusal `json:"refused,omitempty"`
}

// Refusal names a live record the daemon did not take, and why.
type Refusal struct {
	// Key is the record's key, as the envelope names it.
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// EncodeNotice is the text message of n.
func EncodeNotice(n Notice) []byte {
	b, _ := json.Marshal(n) // of strings only: it cannot fail
	return b
}
