package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/apijson"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/tracing"
)

// maxBody bounds a request body: a record value is at most
// envelope.MaxSize, and base64 in JSON makes it 4/3 as long.
const maxBody = 2*envelope.MaxSize + 4096

// The control API's timeouts. A request's header must arrive within
// headerTimeout and the whole request, body included, within readTimeout,
// and a connection idle between requests is closed after idleTimeout. Once
// a request is read, net/http lifts the read deadline, so a handler may run
// as long as it needs. There is no WriteTimeout, on purpose: it would end
// an event stream (GET /v1/events lasts as long as its client wants) at
// that age. (Variables, so tests can shorten them.)
var (
	headerTimeout = 10 * time.Second
	readTimeout   = 30 * time.Second
	idleTimeout   = 2 * time.Minute
)

// maxSocketPath is the longest unix socket path Linux and macOS accept.
const maxSocketPath = 104

// Listen creates the control socket at path, readable and writable only by
// its owner from the moment it exists. A socket left behind by a daemon
// that died is replaced; one a running daemon answers on is an error, and
// so is anything else in its place, which stays as it is. Closing the
// listener removes the socket.
//
// A socket is created by bind with the mode the process umask allows, and
// a chmod after it leaves a window in which another user may connect. The
// umask cannot be narrowed for one bind either: it belongs to the whole
// process, whose other goroutines create files meanwhile. So the socket is
// bound inside a fresh directory next to path that only this user may
// enter (os.MkdirTemp makes it 0700, whatever the umask), made 0600 there,
// and only then renamed into place: no other user can reach it before it
// is private. A connection that gets through anyway is refused by
// [Server.Serve]'s check of the peer's credentials.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("cannot create the control socket %s: a %s is in its place; nothing was changed; move it aside",
				path, fileKind(fi.Mode()))
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("a netabase daemon is already running for this data directory (it answers on %s); stop it first", path)
		}
	}
	// The private directory's name is at most 12 bytes and the socket's
	// name in it 1, so the path bound is at most len(dir)+15 bytes long.
	dir := filepath.Dir(path)
	if n := max(len(path), len(dir)+15); n > maxSocketPath {
		return nil, fmt.Errorf("the control socket path %s is %d bytes long (%d while it is created), more than the %d a unix socket allows; use a shorter --data-dir",
			path, len(path), n, maxSocketPath)
	}
	private, err := os.MkdirTemp(dir, ".s")
	if err != nil {
		return nil, fmt.Errorf("cannot create the control socket: %w", err)
	}
	defer os.RemoveAll(private)
	bound := filepath.Join(private, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: bound, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("cannot create the control socket: %w", err)
	}
	if err := os.Chmod(bound, 0o600); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("cannot make the control socket private: %w", err)
	}
	// rename replaces a stale socket at path in one step.
	if err := os.Rename(bound, path); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("cannot put the control socket in place at %s: %w", path, err)
	}
	// The listener would unlink the name it was bound to, which is gone.
	l.SetUnlinkOnClose(false)
	return &socketListener{UnixListener: l, path: path}, nil
}

// socketListener is a unix listener whose socket was renamed to path after
// bind: it reports path as its address and removes it when closed.
type socketListener struct {
	*net.UnixListener
	path   string
	remove sync.Once
}

func (l *socketListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.remove.Do(func() {
		if rerr := os.Remove(l.path); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	})
	return err
}

// fileKind names what a file of mode m is.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// ErrStarting is wrapped by the error of a request made while the daemon
// is still starting: checking its storage backend, which can take seconds,
// and starting the node.
var ErrStarting = errors.New("the daemon is starting: checking the storage backend; try again when it is ready")

// Server is the daemon's control API on its socket. It answers from the
// moment it serves: every request gets 503 with code "starting" until
// Ready gives it the node, so a client that asks while the daemon starts
// is told so at once instead of waiting for an answer.
type Server struct {
	dataDir    string
	syncConfig string                // see KeepSyncIn
	plugin     func() core.CallStats // see ReportPluginCalls
	log        *slog.Logger
	api        atomic.Pointer[http.Handler] // nil until Ready
}

// NewServer returns the control API of the daemon of dataDir, starting. It
// logs the connections it refuses to log.
func NewServer(dataDir string, log *slog.Logger) *Server {
	return &Server{dataDir: dataDir, log: log}
}

// KeepSyncIn makes s record the synced collections it joins and leaves in
// the configuration file at path (its [[sync]] tables), from which the
// daemon joins them again at start. Call it before Ready.
func (s *Server) KeepSyncIn(path string) { s.syncConfig = path }

// ReportPluginCalls makes netabase stats report the figures of the calls to
// the node's storage plugin that calls returns. Call it before Ready.
func (s *Server) ReportPluginCalls(calls func() core.CallStats) { s.plugin = calls }

// Ready makes s answer requests with n, the started node.
func (s *Server) Ready(n *node.Node) {
	h := tracing.Handler((&server{n: n, dataDir: s.dataDir, syncConfig: s.syncConfig, plugin: s.plugin}).handler())
	s.api.Store(&h)
}

// ServeHTTP answers r with the node's API, or ErrStarting before Ready.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.api.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	fail(w, ErrStarting)
}

// Serve answers control requests on l, a unix socket listener, until ctx
// ends, then stops (ending event streams) and removes nothing: the caller
// owns l. It serves only processes of the user it runs as: on Linux, a
// connection whose peer credentials (SO_PEERCRED) name another user is
// closed at once and logged; on other platforms the socket's mode is the
// only guard.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	l = &ownerOnly{Listener: l, uid: os.Geteuid(), log: s.log}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// peerCreds is who is at the other end of a unix socket connection.
type peerCreds struct{ uid, pid int }

// ownerOnly is a listener that hands on only connections from processes of
// the user uid.
type ownerOnly struct {
	net.Listener
	uid int
	log *slog.Logger
}

func (l *ownerOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			l.log.Warn("control socket: refused a connection that is not over a unix socket", "remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		creds, known, err := credsOf(uc)
		switch {
		case err != nil:
			l.log.Warn("control socket: refused a connection whose peer credentials cannot be read", "err", err)
		case known && creds.uid != l.uid:
			l.log.Warn("control socket: refused a connection from another user; only the daemon's user may use it",
				"uid", creds.uid, "pid", creds.pid, "daemon_uid", l.uid)
		default:
			return c, nil
		}
		_ = c.Close()
	}
}

// Handler returns the control API of n. The synced collections it joins
// are not recorded anywhere: see [Server.KeepSyncIn].
func Handler(n *node.Node, dataDir string) http.Handler {
	return tracing.Handler((&server{n: n, dataDir: dataDir}).handler())
}

// routes are the control API's endpoints: each one's pattern, what its
// request carries besides (a query, a JSON body), its handler, and what it
// does. The package doc's list of endpoints is made from this table
// (TestEndpointsDoc; go test ./internal/control -run TestEndpointsDoc
// -update writes it).
var routes = []struct {
	pattern, params string
	handle          func(*server, http.ResponseWriter, *http.Request)
	doc             string
}{
	{"GET /v1/id", "", (*server).id, "the node: peer ID, addresses, backend, admission, mode"},
	{"GET /v1/peers", "", (*server).peers, "connected peers"},
	{"GET /v1/stats", "", (*server).stats, "a summary: peers, backend, held and refused records, events, synced collections"},
	{"POST /v1/records", "", (*server).put, "publish {name, value, schema, version} or put {key, value}"},
	{"GET /v1/record", "?key=K", (*server).get, "get a record (local, then network)"},
	{"DELETE /v1/record", "?key=K", (*server).remove, "remove the local copy"},
	{"GET /v1/records", "?namespace=N", (*server).records, "the records in the local store, sorted by key"},
	{"POST /v1/provide", " {key}", (*server).provide, "start providing"},
	{"POST /v1/unprovide", " {key}", (*server).unprovide, "stop providing"},
	{"GET /v1/providers", "?key=K&limit=N", (*server).providers, "find providers"},
	{"POST /v1/bootstrap", "", (*server).bootstrap, "bootstrap"},
	{"POST /v1/connect", " {addr}", (*server).connect, "connect to a peer; says at which address"},
	{"POST /v1/disconnect", " {peer}", (*server).disconnect, "disconnect from a peer"},
	{"GET /v1/dht/mode", "", (*server).mode, "the DHT mode"},
	{"PUT /v1/dht/mode", " {mode}", (*server).setMode, "change it"},
	{"GET /v1/protocols", "", (*server).protocols, "protocol names"},
	{"GET /v1/events", "", (*server).events, "events, one JSON object per line, until the client goes"},
	{"POST /v1/sync", " {settings}", (*server).syncJoin, "join a synced collection"},
	{"GET /v1/sync", "", (*server).syncStatusAll, "the joined collections' status"},
	{"GET /v1/sync/{name}", "", (*server).syncStatus, "one collection's status"},
	{"DELETE /v1/sync/{name}", "", (*server).syncLeave, "leave it"},
	{"POST /v1/sync/{name}/records", " {key, value}", (*server).syncPut, "write this node's value for a key"},
	{"DELETE /v1/sync/{name}/record", "?key=K", (*server).syncDelete, "write a tombstone for this node's key"},
	{"GET /v1/sync/{name}/records", "", (*server).syncRecords, "every writer's live records, by writer and key"},
	{"GET /v1/sync/{name}/follow", "", (*server).syncFollow, "the live records, then every change, one SyncChange per line, until the client goes"},
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.HandleFunc(r.pattern, func(w http.ResponseWriter, req *http.Request) { r.handle(s, w, req) })
	}
	return mux
}

type server struct {
	n          *node.Node
	dataDir    string
	syncConfig string                // the configuration file that keeps joined collections, or ""
	plugin     func() core.CallStats // the storage plugin's calls, or nil
	syncMu     sync.Mutex            // serialises joins and leaves, and so the file's updates
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	status, body := errorFor(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// decode reads a JSON body into v: one JSON value and nothing after it
// but white space, of at most maxBody bytes, arriving within readTimeout.
// It reports a bad one as invalid.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		fail(w, invalid("the request body is larger than the %d bytes a request may have", maxBody))
		return false
	case errors.Is(err, os.ErrDeadlineExceeded):
		fail(w, invalid("the request did not arrive within %s", readTimeout))
		return false
	case err != nil:
		fail(w, invalid("cannot read the request body: %v", err))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, invalid("bad request body: %v", err))
		return false
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		fail(w, invalid("bad request body: %d bytes follow the JSON value; send one JSON value alone", len(rest)))
		return false
	}
	return true
}

func invalid(format string, args ...any) error {
	return core.Errorf(core.ErrInvalidKey, format, args...)
}

func strs[T fmt.Stringer](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

func modeOf(m node.ModeInfo) Mode {
	return Mode{Configured: string(m.Configured), Effective: string(m.Effective)}
}

func envelopeOf(e *envelope.Envelope) *Envelope {
	if e == nil {
		return nil
	}
	return &Envelope{Envelope: apijson.EnvelopeOf(e), Logical: e.Clock.Logical}
}

func (s *server) id(w http.ResponseWriter, _ *http.Request) {
	info := s.n.Info()
	out := ID{
		ID:            info.ID.String(),
		Agent:         info.Agent,
		Addrs:         strs(info.Addrs),
		Prefix:        string(info.Prefix),
		Mode:          modeOf(info.Mode),
		Backend:       info.Backend,
		BackendState:  info.BackendState.State.String(),
		BackendDetail: info.BackendState.Detail,
		Storage:       info.Storage,
		DataDir:       s.dataDir,
		Refused:       info.Refused,
		Admission:     admissionOf(info.Admission),
	}
	reply(w, out)
}

func admissionOf(a *core.Admission) *Admission {
	if a == nil {
		return nil
	}
	return &Admission{Suite: a.Certificate.Suite, Cached: a.Cached, Passed: a.Certificate.Passed}
}

func (s *server) peers(w http.ResponseWriter, _ *http.Request) {
	out := []Peer{}
	for _, p := range s.n.Peers() {
		out = append(out, Peer{
			ID:        p.ID.String(),
			Addrs:     strs(p.Addrs),
			Inbound:   p.Inbound,
			Agent:     p.Agent,
			LatencyMS: float64(p.Latency.Microseconds()) / 1000,
			Routing:   p.Routing,
		})
	}
	reply(w, out)
}

func (s *server) put(w http.ResponseWriter, r *http.Request) {
	var req PutRequest
	if !decode(w, r, &req) {
		return
	}
	var res node.PutResult
	var err error
	switch {
	case req.Name != "" && req.Key != "":
		err = invalid("give a name or a key, not both")
	case req.Name != "":
		if err = envelope.CheckName(req.Name); err == nil {
			res, err = s.n.Publish(r.Context(), req.Name, req.Schema, req.Version, req.Value)
		}
	case req.Key != "":
		if err = envelope.CheckKey(req.Key); err == nil {
			res, err = s.n.PutRecord(r.Context(), req.Key, req.Value)
		}
	default:
		err = invalid("give the record a name or a key")
	}
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, PutResult{Key: res.Key, Peers: res.Peers, Accepted: res.Accepted})
}

func (s *server) key(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.URL.Query().Get("key")
	if key == "" {
		fail(w, invalid("the key parameter is missing"))
		return "", false
	}
	return key, true
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	if err := envelope.CheckKey(key); err != nil {
		fail(w, err)
		return
	}
	res, err := s.n.GetRecord(r.Context(), key)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, Record{Key: res.Key, Value: res.Value, Record: res.Record, Source: string(res.Source), Envelope: envelopeOf(res.Envelope)})
}

func (s *server) remove(w http.ResponseWriter, r *http.Request) {
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	if err := s.n.RemoveRecord(r.Context(), key); err != nil {
		fail(w, err)
		return
	}
	reply(w, KeyRequest{Key: key})
}

func (s *server) records(w http.ResponseWriter, r *http.Request) {
	out := []LocalRecord{}
	for rec, err := range s.n.LocalRecords(r.Context(), r.URL.Query().Get("namespace")) {
		if err != nil {
			fail(w, err)
			return
		}
		out = append(out, LocalRecord{Key: rec.Key, Size: len(rec.Value), Received: rec.Received.UTC(), Envelope: envelopeOf(rec.Envelope)})
	}
	// The store's order is of encoded keys, which means nothing to a reader.
	slices.SortFunc(out, func(a, b LocalRecord) int { return strings.Compare(a.Key, b.Key) })
	reply(w, out)
}

func (s *server) provide(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := s.n.StartProviding(r.Context(), req.Key)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, ProvideResult{CID: res.CID.String(), Peers: res.Peers, Sent: res.Sent})
}

func (s *server) unprovide(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if !decode(w, r, &req) {
		return
	}
	c, err := s.n.StopProviding(r.Context(), req.Key)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, ProvideResult{CID: c.String()})
}

func (s *server) providers(w http.ResponseWriter, r *http.Request) {
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	limit := 0
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			fail(w, invalid("limit %q is not a number", l))
			return
		}
		limit = n
	}
	c, found, err := s.n.FindProviders(r.Context(), key, limit)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, apijson.ProvidersOf(c, found))
}

func (s *server) bootstrap(w http.ResponseWriter, r *http.Request) {
	res, err := s.n.Bootstrap(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	out := BootstrapResult{Connected: res.Connected, RoutingTable: res.RoutingTable}
	for _, e := range res.Failed {
		out.Failed = append(out.Failed, e.Error())
	}
	reply(w, out)
}

func (s *server) connect(w http.ResponseWriter, r *http.Request) {
	var req ConnectRequest
	if !decode(w, r, &req) {
		return
	}
	ai, err := node.ParsePeerAddr(req.Addr)
	if err != nil {
		fail(w, err)
		return
	}
	_, already := s.peer(ai.ID)
	if err := s.n.Connect(r.Context(), ai); err != nil {
		fail(w, err)
		return
	}
	out := Connected{Peer: ai.ID.String(), Already: already}
	// The connection at the address asked for, else the first one.
	if p, ok := s.peer(ai.ID); ok && len(p.Addrs) > 0 {
		i := slices.IndexFunc(p.Addrs, func(a ma.Multiaddr) bool { return slices.ContainsFunc(ai.Addrs, a.Equal) })
		out.AtAddrGiven = i >= 0
		out.Addr = p.Addrs[max(i, 0)].String()
	}
	reply(w, out)
}

// peer is the connected peer p, if it is one.
func (s *server) peer(p peer.ID) (node.PeerInfo, bool) {
	for _, pi := range s.n.Peers() {
		if pi.ID == p {
			return pi, true
		}
	}
	return node.PeerInfo{}, false
}

func (s *server) disconnect(w http.ResponseWriter, r *http.Request) {
	var req PeerRequest
	if !decode(w, r, &req) {
		return
	}
	p, err := peer.Decode(req.Peer)
	if err != nil {
		fail(w, invalid("%q is not a peer ID: %v", req.Peer, err))
		return
	}
	if err := s.n.Disconnect(p); err != nil {
		fail(w, err)
		return
	}
	reply(w, req)
}

func (s *server) mode(w http.ResponseWriter, _ *http.Request) {
	reply(w, modeOf(s.n.Mode()))
}

func (s *server) setMode(w http.ResponseWriter, r *http.Request) {
	var req ModeRequest
	if !decode(w, r, &req) {
		return
	}
	m, err := node.ParseMode(req.Mode)
	if err == nil {
		var info node.ModeInfo
		info, err = s.n.SetMode(r.Context(), m)
		if err == nil {
			reply(w, modeOf(info))
			return
		}
	}
	fail(w, err)
}

func (s *server) protocols(w http.ResponseWriter, _ *http.Request) {
	p := s.n.Protocols()
	out := Protocols{DHT: string(p.DHT), Prefix: string(p.Prefix), Host: []string{}}
	for _, id := range p.Host {
		out.Host = append(out.Host, string(id))
	}
	reply(w, out)
}

// events streams the node's events as JSON lines until the client goes,
// the server stops or the node closes.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	sub := s.n.Subscribe(0)
	defer sub.Close()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	for ev := range sub.Events(r.Context()) {
		if err := enc.Encode(eventOf(ev)); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// eventOf is the wire form of a node event.
func eventOf(ev node.Event) Event {
	out := Event{Type: ev.Kind(), Time: ev.When().UTC()}
	t := true
	f := false
	flag := func(b bool) *bool {
		if b {
			return &t
		}
		return &f
	}
	switch e := ev.(type) {
	case node.PeerConnected:
		out.Peer, out.Inbound = e.Peer.String(), flag(e.Inbound)
		if e.Addr != nil {
			out.Addr = e.Addr.String()
		}
	case node.PeerDisconnected:
		out.Peer = e.Peer.String()
	case node.PeerDiscovered:
		out.Peer, out.Addrs, out.Source = e.Peer.String(), strs[ma.Multiaddr](e.Addrs), e.Source
	case node.RecordStored:
		out.Key, out.Envelope = e.Key, envelopeOf(e.Envelope)
	case node.RecordReceived:
		out.Key, out.Via, out.Envelope = e.Key, e.Via, envelopeOf(e.Envelope)
	case node.RecordRemoved:
		out.Key = e.Key
	case node.ProviderAdded:
		out.Key, out.Provider, out.Local = e.Key.String(), e.Provider.String(), flag(e.Local)
	case node.ModeChanged:
		m := modeOf(e.ModeInfo)
		out.Mode = &m
	case node.BackendState:
		out.Backend, out.State, out.Detail = e.Backend, e.State, e.Detail
	case node.SyncStored:
		clock := e.Clock.Time().UTC()
		out.Collection, out.Writer, out.Key, out.Clock, out.Deleted = e.Collection, e.Writer.String(), e.Key, &clock, flag(e.Deleted)
		if e.From != "" {
			out.From = e.From.String()
		}
	case node.EventsLost:
		out.Count = e.Count
	}
	return out
}
