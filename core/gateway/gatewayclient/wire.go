// Package gatewayclient reads a netabase daemon's read-only HTTP gateway
// (core/gateway) and verifies everything it reads: every record envelope
// must decode strictly, be signed by the owner its key names and name the
// key it was asked for, exactly as a node's DHT validator checks a record
// from a peer. So a program that reads through a gateway — a page in a
// browser, compiled with GOOS=js GOARCH=wasm — trusts each record's owner,
// not the gateway: a gateway that alters an envelope is refused with an
// error wrapping core.ErrRejected.
//
// The package builds for js/wasm (net/http goes through the browser's
// fetch there, and a streamed body arrives as it is written) and natively.
// It imports core/envelope and core/replica, never core/node.
//
// # The gateway's API
//
// All routes answer GET and HEAD (and OPTIONS, for CORS preflights); any
// other method gets 405. Errors are a status and one plain sentence
// (text/plain).
//
//	GET /v1/info                        JSON Info: the daemon's peer ID and synced collections,
//	                                    each with its settings whole and their digest
//	GET /v1/record?key=<key>            the record's envelope, as stored (EnvelopeType);
//	                                    &format=json: a Record as JSON
//	GET /v1/providers?key=<key>[&limit=n]  JSON apijson.Providers
//	GET /v1/sync/<name>/events[?since=<id>] Server-Sent Events of a synced collection
//
// A key is a record key, /netabase/<owner peer ID>/<name>, or a bare name,
// which names one of the daemon's own records (as netabase get takes it).
// A record's name holds no control character (SYNC.md §2): one that does
// gets 400.
//
// The event stream of a synced collection starts with the records the
// daemon's replica holds, as events "record" without an id, then an event
// "ready" whose data is a JSON ReadyData and whose id is a cursor; then
// every record that enters the replica, as events "record", the last of
// each batch sent with a cursor id (a record changed twice before it is
// sent is sent once, as it then is). An event's data is the envelope's
// bytes in standard base64. A cursor is the daemon's clock when it took
// what it then sent. A client that reconnects with the header
// Last-Event-ID (or ?since=) set to the last cursor it saw gets, instead of
// the whole replica, the records the daemon stored from a minute before
// that cursor on, in the order it stored them (the daemon reads only
// those, through its replica's arrival order, however large the
// collection), then the live ones: it may see a record twice, and misses
// none stored before the cursor unless the daemon's clock stepped back by
// more than that minute. The daemon ends the stream when its watch of the
// replica missed changes (a burst faster than the stream takes them): the
// client reconnects from its last cursor, as after any break, and gets
// them then.
package gatewayclient

import (
	"github.com/netabase/netabase/core/apijson"
	"github.com/netabase/netabase/core/replica"
)

// EnvelopeType is the content type of a netabase record envelope as
// stored: deterministic CBOR (see core/envelope and SYNC.md).
const EnvelopeType = "application/vnd.netabase.envelope+cbor"

// Headers of a record response.
const (
	// HeaderKey is the record key the envelope is filed under.
	HeaderKey = "X-Netabase-Key"
	// HeaderSource says where the daemon found it: "local" or "network".
	HeaderSource = "X-Netabase-Source"
)

// Event names of a synced collection's stream.
const (
	EventRecord = "record"
	EventReady  = "ready"
)

// Info describes the daemon behind a gateway. It is what the daemon says:
// nothing in it is verified.
type Info struct {
	ID     string       `json:"id"`
	Synced []Collection `json:"synced"`
}

// Collection is a synced collection the daemon replicates: its settings
// whole, normalized (replica.Settings' JSON form, every bound given), and
// their digest in hex. Follow checks them against its replica's own.
type Collection struct {
	Settings replica.Settings `json:"settings"`
	Digest   string           `json:"digest"`
}

// RecordJSON is a record as /v1/record?format=json gives it.
type RecordJSON struct {
	Key string `json:"key"`
	// Record is the envelope as stored (base64 in JSON).
	Record []byte `json:"record"`
	// Source is "local" or "network".
	Source string `json:"source"`
	// Envelope is the daemon's reading of Record, for convenience; a
	// client verifies Record instead of trusting it.
	Envelope *EnvelopeJSON `json:"envelope,omitempty"`
}

// EnvelopeJSON is an envelope's fields: apijson's, the clock's logical
// counter and the payload.
type EnvelopeJSON struct {
	apijson.Envelope
	Logical uint32 `json:"logical"`
	Value   []byte `json:"value"`
}

// ReadyData is the data of a stream's ready event.
type ReadyData struct {
	// Records is how many records the catch-up sent.
	Records int `json:"records"`
}
