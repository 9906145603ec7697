// Package gateway is a node's read-only HTTP gateway: it serves the
// node's records (the signed envelopes, as stored), the providers of a key
// and the records of its synced collections as Server-Sent Events, to
// programs that cannot speak libp2p, such as a page in a browser. The API
// is documented in core/gateway/gatewayclient, its client, which verifies
// every envelope so that a reader trusts each record's owner and not the
// gateway.
//
// The read routes offer no way to write: the gateway answers GET, HEAD
// and OPTIONS (CORS preflights) only, and nothing they serve changes the
// node, except that a record looked up on the network is stored as
// `netabase get` stores it. The one way to write is the sync endpoint,
// /v1/sync/<name>/ws, served only when Options.Sync is on: over a
// WebSocket (SYNC.md §6, core/gateway/wsync) a client such as a page
// replicates a collection the node has joined, by the node's own
// reconciliation sessions, and sends records live, each admitted exactly
// as a gossiped record (node.Synced.Admit), stored and published on the
// collection's topic. At most MaxSyncConns such connections are open at
// once, each with one session at a time; their sessions take slots of the
// node's bound on the sessions peers start, and the messages they read
// room of its bound on those sessions' frames (replica.Inbound), as
// sessions over libp2p streams do; pages of other origins than the
// gateway's own and the listed ones are refused (403) on the handshake;
// the gateway pings each connection every Options.SyncPing and closes one
// that gives no pong, which a browser gives with no script of the page
// running, so that a page in a background tab stays connected. Any other method gets 405, a request with a body 413, a URL
// longer than 8 KiB 414, a bad key 400 (among them a record name with a
// control character, which envelope.CheckName refuses before any lookup),
// each with one plain sentence.
// Cross-origin reads are allowed only to the origins the operator lists.
// At most MaxLookups lookups (each may ask the network, for at most
// LookupTimeout) and MaxStreams event streams run at once; past that a
// request gets 503.
//
// The daemon serves it with --gateway <host:port> (the [gateway] table of
// config.toml); it is off by default, and its default address is loopback.
package gateway

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/apijson"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/gateway/gatewayclient"
	"github.com/netabase/netabase/core/node"
)

// Bounds on what a request may ask.
const (
	// MaxURL is the longest request URI accepted (path and query).
	MaxURL = 8 << 10
	// MaxStreams is how many event streams may be open at once.
	MaxStreams = 64
	// MaxLookups is how many record and provider lookups may run at once:
	// each may ask the network, so a client cannot make the node flood it.
	MaxLookups = 32
	// DefaultProviders is how many providers a lookup returns unless the
	// request asks for fewer; MaxProviders is the most it may ask for.
	DefaultProviders = 20
	MaxProviders     = 100
	// LookupTimeout bounds a record or provider lookup on the network.
	LookupTimeout = 30 * time.Second
)

// Timings of an event stream.
const (
	// keepAlive is how often an idle stream gets a comment, so that the
	// client and proxies see it is alive and the gateway sees a client
	// that left.
	keepAlive = 15 * time.Second
	// writeTimeout bounds one write to a stream: a client that stops
	// reading is dropped.
	writeTimeout = 30 * time.Second
	// resumeMargin is how far before a client's cursor a resumed stream
	// starts, so that a record stored with a clock that stepped back is
	// still sent.
	resumeMargin = time.Minute
)

// Options configure a gateway.
type Options struct {
	// AllowedOrigins are the origins (scheme://host[:port]) whose pages
	// may read the gateway across origins; "*" allows any. Empty: none,
	// only pages served from the gateway's own origin.
	AllowedOrigins []string
	// Sync serves the sync endpoint, /v1/sync/<name>/ws (SYNC.md §6),
	// through which a client replicates the collections n has joined
	// and writes records into them. Off: the gateway writes nothing.
	Sync bool
	// SyncRecordsPerSecond and SyncBytesPerSecond bound what one sync
	// connection sends: live records past either rate are refused, each
	// with a notice and counted in the replica's refusals under
	// replica.RefusedRate, and reconciliation past the byte rate is read more
	// slowly, never refused. 0: DefaultSyncRecordsPerSecond and
	// DefaultSyncBytesPerSecond. Each allows a burst of one second's
	// worth (of bytes, at least one message of the largest size).
	SyncRecordsPerSecond float64
	SyncBytesPerSecond   float64
	// SyncPing is how often the gateway pings each sync connection, which
	// it closes when a ping gets no pong before the next is due; the
	// client's WebSocket answers (a browser does so itself, with no script
	// of the page running, so a page in a background tab keeps its
	// connection). 0: DefaultSyncPing.
	SyncPing time.Duration
	// Logger logs streams that fail; nil logs nothing.
	Logger *slog.Logger
}

// Handler returns the gateway of n.
func Handler(n *node.Node, opts Options) http.Handler {
	g := &gateway{n: n, opts: opts, streams: make(chan struct{}, MaxStreams), lookups: make(chan struct{}, MaxLookups), syncs: make(chan struct{}, MaxSyncConns)}
	if g.opts.Logger == nil {
		g.opts.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", g.info)
	mux.HandleFunc("GET /v1/record", g.record)
	mux.HandleFunc("GET /v1/providers", g.providers)
	mux.HandleFunc("GET /v1/sync/{name}/events", g.events)
	if opts.Sync {
		mux.HandleFunc("GET /v1/sync/{name}/ws", g.sync)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "the gateway has no %s; its routes are /v1/info, /v1/record?key=<key>, /v1/providers?key=<key> and /v1/sync/<name>/events", r.URL.Path)
	})
	g.mux = mux
	if g.opts.SyncRecordsPerSecond <= 0 {
		g.opts.SyncRecordsPerSecond = DefaultSyncRecordsPerSecond
	}
	if g.opts.SyncBytesPerSecond <= 0 {
		g.opts.SyncBytesPerSecond = DefaultSyncBytesPerSecond
	}
	if g.opts.SyncPing <= 0 {
		g.opts.SyncPing = DefaultSyncPing
	}
	return g
}

type gateway struct {
	n       *node.Node
	opts    Options
	mux     *http.ServeMux
	streams chan struct{} // a token per open event stream
	lookups chan struct{} // a token per lookup under way
	syncs   chan struct{} // a token per sync connection
}

// lookup takes a lookup token, or answers 503 and returns false.
func (g *gateway) lookup(w http.ResponseWriter) (release func(), ok bool) {
	select {
	case g.lookups <- struct{}{}:
		return func() { <-g.lookups }, true
	default:
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusServiceUnavailable, "the gateway runs %d lookups already; try again in a moment", MaxLookups)
		return nil, false
	}
}

// allowed is the methods the gateway answers.
const allowed = "GET, HEAD, OPTIONS"

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.cors(w, r)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.Header().Set("Allow", allowed)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", allowed)
		fail(w, http.StatusMethodNotAllowed, "the gateway is read-only: it answers GET, HEAD and OPTIONS, not %s", r.Method)
		return
	}
	if r.ContentLength != 0 {
		fail(w, http.StatusRequestEntityTooLarge, "a gateway request carries no body; send the key in the query, such as /v1/record?key=<key>")
		return
	}
	if len(r.RequestURI) > MaxURL {
		fail(w, http.StatusRequestURITooLong, "the request URI of %d bytes is longer than the %d bytes the gateway accepts", len(r.RequestURI), MaxURL)
		return
	}
	g.mux.ServeHTTP(w, r)
}

// cors adds the CORS headers for an allowed origin, and for a preflight
// of one.
func (g *gateway) cors(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(g.opts.AllowedOrigins, origin) && !slices.Contains(g.opts.AllowedOrigins, "*") {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", gatewayclient.HeaderKey+", "+gatewayclient.HeaderSource)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD")
		h.Set("Access-Control-Allow-Headers", "Last-Event-ID, Accept, Cache-Control")
		h.Set("Access-Control-Max-Age", "600")
	}
}

// fail answers with status and one plain sentence.
func fail(w http.ResponseWriter, status int, format string, args ...any) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, format+"\n", args...)
}

// failErr answers with the status err's kind calls for.
func failErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, node.ErrNotJoined), errors.Is(err, core.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, core.ErrInvalidKey), errors.Is(err, core.ErrUnsupported):
		status = http.StatusBadRequest
	case errors.Is(err, core.ErrRejected):
		status = http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	case errors.Is(err, core.ErrClosed), errors.Is(err, core.ErrFailed):
		status = http.StatusServiceUnavailable
	}
	fail(w, status, "%s", err)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_ = json.NewEncoder(w).Encode(v)
}

func (g *gateway) info(w http.ResponseWriter, _ *http.Request) {
	out := gatewayclient.Info{ID: g.n.ID().String(), Synced: []gatewayclient.Collection{}}
	for _, s := range g.n.SyncedCollections() {
		d := s.Replica().Digest()
		out.Synced = append(out.Synced, gatewayclient.Collection{Settings: s.Settings(), Digest: hex.EncodeToString(d[:])})
	}
	reply(w, out)
}

// keyParam reads the key parameter: a record key, or a bare name for one of
// the node's own records, as netabase get takes it.
func keyParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	q := r.URL.Query()
	if len(q["key"]) != 1 || q.Get("key") == "" {
		fail(w, http.StatusBadRequest, "give one key parameter: a record key such as /netabase/<peer ID>/<name>, or the name of one of this node's records")
		return "", false
	}
	return q.Get("key"), true
}

func (g *gateway) record(w http.ResponseWriter, r *http.Request) {
	key, ok := keyParam(w, r)
	if !ok {
		return
	}
	if !strings.HasPrefix(key, "/") {
		key = envelope.Key(g.n.ID(), key)
	}
	if err := envelope.CheckKey(key); err != nil {
		failErr(w, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "cbor" {
		fail(w, http.StatusBadRequest, "format %q is not one the gateway serves: leave it out (or cbor) for the envelope as stored, or give json", format)
		return
	}
	release, ok := g.lookup(w)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), LookupTimeout)
	defer cancel()
	res, err := g.n.GetRecord(ctx, key)
	if err != nil {
		failErr(w, err)
		return
	}
	if format == "json" {
		out := gatewayclient.RecordJSON{Key: res.Key, Record: res.Record, Source: string(res.Source)}
		if e := res.Envelope; e != nil {
			out.Envelope = &gatewayclient.EnvelopeJSON{Envelope: apijson.EnvelopeOf(e), Logical: e.Clock.Logical, Value: e.Value}
		}
		reply(w, out)
		return
	}
	h := w.Header()
	if res.Envelope != nil {
		h.Set("Content-Type", gatewayclient.EnvelopeType)
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Content-Length", strconv.Itoa(len(res.Record)))
	h.Set("Cache-Control", "no-cache")
	h.Set(gatewayclient.HeaderKey, res.Key)
	h.Set(gatewayclient.HeaderSource, string(res.Source))
	if r.Method != http.MethodHead {
		_, _ = w.Write(res.Record)
	}
}

func (g *gateway) providers(w http.ResponseWriter, r *http.Request) {
	key, ok := keyParam(w, r)
	if !ok {
		return
	}
	limit := DefaultProviders
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxProviders {
			fail(w, http.StatusBadRequest, "limit %q is not a number from 1 to %d", l, MaxProviders)
			return
		}
		limit = n
	}
	release, ok := g.lookup(w)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), LookupTimeout)
	defer cancel()
	c, found, err := g.n.FindProviders(ctx, key, limit)
	if err != nil {
		failErr(w, err)
		return
	}
	reply(w, apijson.ProvidersOf(c, found))
}

// since reads a stream's cursor: the Last-Event-ID header, else the since
// parameter; zero without one.
func since(r *http.Request) (time.Time, error) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("since")
	}
	if s == "" {
		return time.Time{}, nil
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ns < 0 {
		return time.Time{}, fmt.Errorf("the cursor %q (Last-Event-ID or since) is not one the gateway gave: give the id of an event of this stream, or none for the whole collection", s)
	}
	return time.Unix(0, ns), nil
}

func cursor(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

func (g *gateway) events(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s, err := g.n.SyncedCollection(name)
	if err != nil {
		fail(w, http.StatusNotFound, "this node does not replicate a synced collection called %q (netabase sync join %s adds it)", name, name)
		return
	}
	from, err := since(r)
	if err != nil {
		fail(w, http.StatusBadRequest, "%s", err)
		return
	}
	if err := s.Replica().Err(); err != nil {
		fail(w, http.StatusServiceUnavailable, "%s", err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	select {
	case g.streams <- struct{}{}:
		defer func() { <-g.streams }()
	default:
		fail(w, http.StatusServiceUnavailable, "the gateway serves %d event streams already; try again later", MaxStreams)
		return
	}
	ctx := r.Context()
	if err := g.stream(ctx, rc, w, s, from); err != nil && ctx.Err() == nil {
		g.opts.Logger.Warn("gateway: an event stream ended", "collection", name, "err", err)
	}
}

// stream writes the catch-up, the ready event and the live records of s
// until ctx ends or a write fails.
func (g *gateway) stream(ctx context.Context, rc *http.ResponseController, w http.ResponseWriter, s *node.Synced, from time.Time) error {
	r := s.Replica()
	// send writes text, dropping a client that does not take it within
	// writeTimeout.
	send := func(text string) error {
		if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		_, err := w.Write([]byte(text))
		return err
	}
	write := func(id, event, data string) error {
		var b strings.Builder
		if id != "" {
			b.WriteString("id: " + id + "\n")
		}
		b.WriteString("event: " + event + "\ndata: " + data + "\n\n")
		return send(b.String())
	}
	flush := func() error {
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	// Subscribe first, then read the snapshot: a record that arrives in
	// between is sent twice, never missed. The changes are drained at once
	// into a set of pending keys, so that a client slower than the
	// replica's writes does not make its watch fall behind: a key changed
	// again before it is sent is sent once, as it then is. If the watch
	// misses changes all the same (a burst faster than this goroutine),
	// the stream ends once the keys before the gap are sent, and the
	// client resumes from its last cursor: the records it missed were
	// stored after that cursor, but for writes under way, which the
	// resume's margin covers.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var pending keySet
	var missed uint64
	changes := s.Watch(wctx) // subscribes now, not when the goroutine runs
	go func() {
		defer pending.close()
		for c := range changes {
			if f := watched.Load(); f != nil {
				(*f)()
			}
			if c.Missed > 0 {
				missed = c.Missed // read once pending is closed
				return
			}
			pending.add(r.RecordKey(c.Writer, c.Key))
		}
	}()
	start := time.Now()
	var resume time.Time
	if !from.IsZero() {
		resume = from.Add(-resumeMargin)
	}
	sent := 0
	catchUp := func(rec core.Record) error {
		if err := write("", gatewayclient.EventRecord, base64.StdEncoding.EncodeToString(rec.Value)); err != nil {
			return err
		}
		if sent++; sent%64 == 0 {
			return flush()
		}
		return nil
	}
	if resume.IsZero() {
		for it := range r.AllItems() {
			rec, err := r.Stored(ctx, it.Key)
			if errors.Is(err, core.ErrNotFound) {
				continue // dropped meanwhile
			}
			if err != nil {
				return err
			}
			if err := catchUp(rec); err != nil {
				return err
			}
		}
	} else {
		// A resume reads the replica's arrival order from its cursor: the
		// records stored since, not the whole collection.
		for rec, err := range r.Arrived(ctx, resume) {
			if err != nil {
				return err
			}
			if err := catchUp(rec); err != nil {
				return err
			}
		}
	}
	ready, _ := json.Marshal(gatewayclient.ReadyData{Records: sent})
	if err := write(cursor(start), gatewayclient.EventReady, string(ready)); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := send(": keep-alive\n\n"); err != nil {
				return err
			}
		case <-pending.signal():
			// Every record stored before now, but for those whose writes
			// were still under way, is sent once this batch is: the cursor
			// goes on its last event (resuming starts resumeMargin before).
			taken := time.Now()
			keys, open := pending.take()
			if !open {
				if missed > 0 {
					return fmt.Errorf("the replica's watch missed %d changes: the stream ends for its client to resume from its cursor", missed)
				}
				return ctx.Err()
			}
			var last []byte
			for _, key := range keys {
				rec, err := r.Stored(ctx, key)
				if errors.Is(err, core.ErrNotFound) {
					continue // dropped by the bounds since
				}
				if err != nil {
					return err
				}
				if last != nil {
					if err := write("", gatewayclient.EventRecord, base64.StdEncoding.EncodeToString(last)); err != nil {
						return err
					}
				}
				last = rec.Value
			}
			if last != nil {
				if err := write(cursor(taken), gatewayclient.EventRecord, base64.StdEncoding.EncodeToString(last)); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
}

// watched, when set, runs on each change a stream's watch yields, before
// the change is taken: tests set it to hold a watch back.
var watched atomic.Pointer[func()]

// keySet is the record keys changed and not yet sent, in the order they
// first changed. It never blocks the writer that adds to it.
type keySet struct {
	mu     sync.Mutex
	keys   []string
	in     map[string]bool
	ch     chan struct{} // holds a token while keys are pending
	closed bool
}

func (k *keySet) init() {
	if k.ch == nil {
		k.ch = make(chan struct{}, 1)
		k.in = make(map[string]bool)
	}
}

// signal is ready while keys are pending or the set is closed.
func (k *keySet) signal() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	return k.ch
}

func (k *keySet) wake() {
	select {
	case k.ch <- struct{}{}:
	default:
	}
}

func (k *keySet) add(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	if !k.in[key] {
		k.in[key] = true
		k.keys = append(k.keys, key)
	}
	k.wake()
}

// close says no key will be added; take then reports it.
func (k *keySet) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	k.closed = true
	k.wake()
}

// take returns the pending keys and empties the set; open is false once
// the set is closed and empty.
func (k *keySet) take() (keys []string, open bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, k.keys = k.keys, nil
	clear(k.in)
	if k.closed {
		k.wake() // signal stays ready until the close is reported
	}
	return keys, len(keys) > 0 || !k.closed
}
