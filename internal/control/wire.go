// Package control is the daemon's control API: HTTP/1.1 with JSON bodies
// over a unix socket in the node's data directory, which only the socket's
// owner may open (the directory is 0700 and the socket 0600 from the moment
// it exists; see [Listen]), and on which the server serves only processes
// of its own user (checked by peer credentials on Linux; see
// [Server.Serve]). It is how the netabase command's client commands talk
// to a running daemon.
//
// HTTP and JSON over a unix socket need nothing beyond the standard
// library, are easy to drive by hand (curl --unix-socket), and stream
// events as JSON lines. The API is versioned by its path prefix, /v1.
//
// # Endpoints
//
//	GET    /v1/id                       the node: peer ID, addresses, backend, admission, mode
//	GET    /v1/peers                    connected peers
//	GET    /v1/stats                    a summary: peers, backend, held and refused records, events, synced collections
//	POST   /v1/records                  publish {name, value, schema, version} or put {key, value}
//	GET    /v1/record?key=K             get a record (local, then network)
//	DELETE /v1/record?key=K             remove the local copy
//	GET    /v1/records?namespace=N      the records in the local store, sorted by key
//	POST   /v1/provide {key}            start providing
//	POST   /v1/unprovide {key}          stop providing
//	GET    /v1/providers?key=K&limit=N  find providers
//	POST   /v1/bootstrap                bootstrap
//	POST   /v1/connect {addr}           connect to a peer; says at which address
//	POST   /v1/disconnect {peer}        disconnect from a peer
//	GET    /v1/dht/mode                 the DHT mode
//	PUT    /v1/dht/mode {mode}          change it
//	GET    /v1/protocols                protocol names
//	GET    /v1/events                   events, one JSON object per line, until the client goes
//	POST   /v1/sync {settings}          join a synced collection
//	GET    /v1/sync                     the joined collections' status
//	GET    /v1/sync/{name}              one collection's status
//	DELETE /v1/sync/{name}              leave it
//	POST   /v1/sync/{name}/records {key, value} write this node's value for a key
//	DELETE /v1/sync/{name}/record?key=K write a tombstone for this node's key
//	GET    /v1/sync/{name}/records      every writer's live records, by writer and key
//	GET    /v1/sync/{name}/follow       the live records, then every change, one SyncChange per line, until the client goes
//
// A daemon keeps the collections it joins and leaves in its configuration
// file (see [Server.KeepSyncIn]), so it joins them again at its next start.
// A collection's settings travel whole, as replica.Settings' JSON form
// ({"name", "writers", "max_records_per_writer", ..., "tombstone_horizon"};
// a bound left out of a join takes its default), and a status gives them
// normalized, every bound given, with their digest. Joining a collection
// the node has joined with other settings is refused with 409 (code
// "conflict"), saying which fields differ.
//
// A request body is one JSON value (white space around it aside) of at
// most about twice envelope.MaxSize; anything after the value, unknown
// fields, or a body larger, or a request not read within 30 s, is refused
// with 400 saying which. A connection idle for 2 minutes is closed; an
// event stream has no time limit.
//
// The event stream is lossy: a client that reads slower than events come
// loses some, and an events.lost event says how many. The follow stream
// of a collection is not: when its watch of the replica misses changes,
// it reads the replica again and sends what differs from what it sent
// (see [SyncChange]).
//
// An error is a non-2xx status with an [Error] body, whose Code survives
// the hop as a core sentinel error (see [Error.Unwrap]).
//
// The daemon serves the socket from the start. Until its node has started
// (its storage backend checked against the conformance suite, which can
// take seconds), every request is answered 503 with code "starting", which
// a client sees as [ErrStarting].
package control

import (
	"context"
	"errors"
	"time"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/apijson"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

// Error is the body of every failed request.
type Error struct {
	// Code is "not_joined", "not_found", "invalid", "rejected",
	// "conflict", "unsupported", "closed", "timeout", "starting" or
	// "failed".
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *Error) Error() string { return e.Message }

// codes maps the sentinel errors to codes, in the order they are tried.
var codes = []struct {
	code   string
	err    error
	status int
}{
	{"not_joined", node.ErrNotJoined, 404},
	{"not_found", core.ErrNotFound, 404},
	{"invalid", core.ErrInvalidKey, 400},
	{"rejected", core.ErrRejected, 422},
	{"conflict", core.ErrConflict, 409},
	{"unsupported", core.ErrUnsupported, 501},
	{"closed", core.ErrClosed, 503},
	{"timeout", context.DeadlineExceeded, 504},
	{"starting", ErrStarting, 503},
}

// Unwrap makes a remote error match the sentinel its code names, so that
// errors.Is(err, core.ErrNotFound) holds on the client.
func (e *Error) Unwrap() error {
	for _, c := range codes {
		if c.code == e.Code {
			return c.err
		}
	}
	return nil
}

// errorFor returns the status and body for err.
func errorFor(err error) (int, *Error) {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.status, &Error{Code: c.code, Message: err.Error()}
		}
	}
	return 500, &Error{Code: "failed", Message: err.Error()}
}

// ID describes the node.
type ID struct {
	ID      string    `json:"id"`
	Agent   string    `json:"agent"`
	Addrs   []string  `json:"addrs"`
	Prefix  string    `json:"protocol_prefix"`
	Mode    Mode      `json:"mode"`
	Backend core.Info `json:"backend"`
	// BackendState is "up", "down", "restarting" or "failed".
	BackendState string `json:"backend_state"`
	// BackendDetail says why, for any state but up.
	BackendDetail string     `json:"backend_detail,omitempty"`
	Storage       string     `json:"storage"`
	Admission     *Admission `json:"admission,omitempty"`
	DataDir       string     `json:"data_dir"`
	// Refused counts the writes from peers refused by the quota, by
	// reason (node.Refused).
	Refused map[string]uint64 `json:"refused"`
}

// Admission says how the backend was admitted.
type Admission struct {
	Suite  string    `json:"suite"`
	Cached bool      `json:"cached"`
	Passed time.Time `json:"passed"`
}

// Mode is the DHT mode.
type Mode struct {
	Configured string `json:"configured"`
	Effective  string `json:"effective"`
}

// Peer is a connected peer.
type Peer struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	Inbound   bool     `json:"inbound"`
	Agent     string   `json:"agent,omitempty"`
	LatencyMS float64  `json:"latency_ms,omitempty"`
	Routing   bool     `json:"in_routing_table"`
}

// PutRequest publishes the node's own record (Name set) or puts a record
// under a full key (Key set).
type PutRequest struct {
	Name    string `json:"name,omitempty"`
	Key     string `json:"key,omitempty"`
	Value   []byte `json:"value"`
	Schema  string `json:"schema,omitempty"`
	Version uint32 `json:"version,omitempty"`
}

// PutResult says where a record went.
type PutResult struct {
	Key      string `json:"key"`
	Peers    int    `json:"peers"`
	Accepted int    `json:"accepted"`
}

// Envelope is what a netabase record's envelope says besides its value:
// apijson's fields, and the clock's logical counter when it is not 0.
type Envelope struct {
	apijson.Envelope
	Logical uint32 `json:"clock_logical,omitempty"`
}

// Record is a record that was got. The Value of a netabase record is its
// envelope's payload.
type Record struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
	// Record is the record as stored: the signed envelope of a netabase
	// record.
	Record   []byte    `json:"record"`
	Source   string    `json:"source"`
	Envelope *Envelope `json:"envelope,omitempty"`
}

// LocalRecord is a record in the local store.
type LocalRecord struct {
	Key      string    `json:"key"`
	Size     int       `json:"size"`
	Received time.Time `json:"received"`
	Envelope *Envelope `json:"envelope,omitempty"`
}

// KeyRequest names a provider key.
type KeyRequest struct {
	Key string `json:"key"`
}

// ProvideResult says where a provider record went.
type ProvideResult struct {
	CID   string `json:"cid"`
	Peers int    `json:"peers"`
	Sent  int    `json:"sent"`
}

// BootstrapResult says how a bootstrap went.
type BootstrapResult struct {
	Connected    int      `json:"connected"`
	Failed       []string `json:"failed,omitempty"`
	RoutingTable int      `json:"routing_table"`
}

// ConnectRequest names a peer by multiaddr, ending in /p2p/<peer ID>.
type ConnectRequest struct {
	Addr string `json:"addr"`
}

// Connected says which peer a connect reached, and at which address.
type Connected struct {
	Peer string `json:"peer"`
	// Addr is the remote address of the connection: the one asked for
	// (AtAddrGiven), or another one the node knew.
	Addr        string `json:"addr"`
	AtAddrGiven bool   `json:"at_addr_given"`
	// Already is true when the node was connected to the peer before.
	Already bool `json:"already_connected"`
}

// PeerRequest names a peer by ID.
type PeerRequest struct {
	Peer string `json:"peer"`
}

// ModeRequest changes the DHT mode.
type ModeRequest struct {
	Mode string `json:"mode"`
}

// Protocols are the protocol names the node uses.
type Protocols struct {
	DHT    string   `json:"dht"`
	Prefix string   `json:"prefix"`
	Host   []string `json:"host"`
}

// Event is one line of the event stream: Type names the event, and the
// fields that event has are set.
type Event struct {
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Peer     string    `json:"peer,omitempty"`
	Addr     string    `json:"addr,omitempty"`
	Addrs    []string  `json:"addrs,omitempty"`
	Inbound  *bool     `json:"inbound,omitempty"`
	Source   string    `json:"source,omitempty"`
	Key      string    `json:"key,omitempty"`
	Via      string    `json:"via,omitempty"`
	Envelope *Envelope `json:"envelope,omitempty"`
	Provider string    `json:"provider,omitempty"`
	Local    *bool     `json:"local,omitempty"`
	Mode     *Mode     `json:"mode,omitempty"`
	Backend  string    `json:"backend,omitempty"`
	State    string    `json:"state,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Count    uint64    `json:"count,omitempty"`
	// The fields of a sync.stored event.
	Collection string     `json:"collection,omitempty"`
	Writer     string     `json:"writer,omitempty"`
	Clock      *time.Time `json:"clock,omitempty"`
	Deleted    *bool      `json:"deleted,omitempty"`
	From       string     `json:"from,omitempty"`
}

// SyncJoinRequest joins the synced collection its settings define; a
// bound left zero takes its default.
type SyncJoinRequest struct {
	Settings replica.Settings `json:"settings"`
}

// SyncPutRequest writes this node's value for a key of a synced
// collection.
type SyncPutRequest struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// SyncRecord is a record of a synced collection: a writer's value for a
// key, or a tombstone (Deleted, Version 0, no Value).
type SyncRecord struct {
	Writer  string    `json:"writer"`
	Key     string    `json:"key"`
	Version uint32    `json:"version"`
	Clock   time.Time `json:"clock"`
	Value   []byte    `json:"value"`
	Deleted bool      `json:"deleted,omitempty"`
}

// SyncPutReply is the record a sync put wrote, and SentTo the peers
// sharing the collection's topic it was sent to at once; the others get it
// when they next reconcile.
type SyncPutReply struct {
	SyncRecord
	SentTo int `json:"sent_to"`
}

// The types of the lines of a follow stream (GET /v1/sync/{name}/follow).
const (
	// FollowRecord: a record the replica holds, or a change to it.
	FollowRecord = "record"
	// FollowReady: the snapshot of what the replica held is complete;
	// every line after it is a change.
	FollowReady = "ready"
	// FollowMissed: the stream fell behind and missed Count changes; the
	// lines that follow are what the replica holds that differs from what
	// the stream sent, read again, before the next changes.
	FollowMissed = "missed"
	// FollowError: the stream ends, since reading the replica failed
	// with Error.
	FollowError = "error"
)

// SyncChange is a line of a follow stream: first the records the replica
// holds (tombstones left out), then a FollowReady line, then every change,
// in order. A record that the replica no longer holds at all (dropped by
// its bounds), found when the stream reads it again, is sent as Deleted
// with a zero Clock.
type SyncChange struct {
	Type string `json:"type"`
	*SyncRecord
	// From is the peer that sent a change; empty for this node's writes
	// and for records read from the replica.
	From  string `json:"from,omitempty"`
	Count uint64 `json:"count,omitempty"`
	Error string `json:"error,omitempty"`
}

// SyncStatus describes a synced collection on this node.
type SyncStatus struct {
	Name string `json:"name"`
	// Settings are the collection's, normalized (every bound given), and
	// Digest is theirs, in hex.
	Settings replica.Settings `json:"settings"`
	Digest   string           `json:"digest"`
	// Open is true when any peer may write; else only Settings.Writers may.
	Open bool `json:"open"`
	// Records and Tombstones are what the replica holds, Bytes their
	// size, from WritersSeen writers.
	Records     int    `json:"records"`
	Tombstones  int    `json:"tombstones"`
	Bytes       int64  `json:"bytes"`
	WritersSeen int    `json:"writers_seen"`
	Fingerprint string `json:"fingerprint"`
	// TopicPeers are the peers known to share the collection's topic.
	TopicPeers []string `json:"topic_peers"`
	// Peers are those this node has reconciled with, by ID.
	Peers []SyncPeer `json:"peers"`
	// Pages are the clients connected now to the gateway's sync endpoint
	// of the collection (pages in browsers, or any wsync client), by the
	// time they connected; a page also appears in Peers once it has
	// reconciled.
	Pages []SyncPage `json:"pages"`
	// Refused counts the records from peers the replica refused since
	// the node started, by reason (replica.Reasons), whatever carried
	// them: gossip, reconciliation or a gateway's sync connection.
	Refused map[string]uint64 `json:"refused"`
}

// SyncPage is a client connected to the gateway's sync endpoint.
type SyncPage struct {
	// ID is the peer ID the page named itself by; its records are
	// authenticated by their signatures, not by it.
	ID string `json:"id"`
	// Remote is the page's address, as the gateway saw it.
	Remote string `json:"remote"`
	// Since is when it connected.
	Since time.Time `json:"since"`
	// Sessions counts its reconciliation sessions that ended.
	Sessions int64 `json:"sessions"`
	// RecordsIn and RecordsOut count the records it sent and was sent,
	// by sessions and live; BytesIn and BytesOut the connection's message
	// bytes each way.
	RecordsIn  int64 `json:"records_in"`
	RecordsOut int64 `json:"records_out"`
	BytesIn    int64 `json:"bytes_in"`
	BytesOut   int64 `json:"bytes_out"`
}

// SyncPeer is what a replica knows of its reconciliations with one peer.
type SyncPeer struct {
	ID string `json:"id"`
	// Connected says whether the node is connected to the peer now: the
	// figures may be of a peer met before the daemon last started.
	Connected bool `json:"connected"`
	replica.PeerStats
}
