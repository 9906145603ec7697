package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/gateway"
	gc "github.com/netabase/netabase/core/gateway/gatewayclient"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// The package's nodes share a certificate cache, so the admission gate
// runs the conformance suite once.
func TestMain(m *testing.M) { os.Exit(nodetest.Main(m)) }

var testContext = nodetest.Context

// startNode starts a loopback node on an in-memory store and serves its
// gateway, allowing the origin http://page.test.
func startNode(t testing.TB) (*node.Node, *httptest.Server) {
	t.Helper()
	return startNodeWith(t, gateway.Options{AllowedOrigins: []string{"http://page.test"}})
}

// startNodeWith starts a node as startNode does, its gateway with opts.
func startNodeWith(t testing.TB, opts gateway.Options) (*node.Node, *httptest.Server) {
	t.Helper()
	n, err := node.New(testContext(t), nodetest.Config(t))
	if err != nil {
		t.Fatalf("starting a node: %v", err)
	}
	srv := httptest.NewServer(gateway.Handler(n, opts))
	t.Cleanup(func() {
		srv.Close()
		if err := n.Close(); err != nil {
			t.Errorf("closing the node: %v", err)
		}
	})
	return n, srv
}

// notes is the settings of an open collection called notes.
func notes(t testing.TB) replica.Settings {
	t.Helper()
	s, err := replica.Settings{Name: "notes"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func client(t testing.TB, srv *httptest.Server) *gc.Client {
	t.Helper()
	c, err := gc.New(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a request and returns the status, headers and body.
func do(t *testing.T, method, u string, body io.Reader, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

func TestRecord(t *testing.T) {
	n, srv := startNode(t)
	ctx := testContext(t)
	res, err := n.Publish(ctx, "greeting", "text/plain", 1, []byte("hello, world"))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := n.GetRecord(ctx, res.Key)
	if err != nil {
		t.Fatal(err)
	}

	// The envelope as stored, by key and by the bare name.
	for _, key := range []string{res.Key, "greeting"} {
		status, h, body := do(t, "GET", srv.URL+"/v1/record?key="+url.QueryEscape(key), nil, nil)
		if status != 200 || !bytes.Equal([]byte(body), stored.Record) {
			t.Fatalf("GET %s: %d, %d bytes; want 200 and the %d bytes stored", key, status, len(body), len(stored.Record))
		}
		if ct := h.Get("Content-Type"); ct != gc.EnvelopeType {
			t.Errorf("content type %q, want %q", ct, gc.EnvelopeType)
		}
		if h.Get(gc.HeaderKey) != res.Key || h.Get(gc.HeaderSource) != "local" {
			t.Errorf("headers %v, want key %s from local", h, res.Key)
		}
	}
	// HEAD: the headers alone.
	status, h, body := do(t, "HEAD", srv.URL+"/v1/record?key=greeting", nil, nil)
	if status != 200 || body != "" || h.Get("Content-Length") != strconv.Itoa(len(stored.Record)) {
		t.Errorf("HEAD: %d, body %q, length %s", status, body, h.Get("Content-Length"))
	}

	// The JSON form.
	status, _, body = do(t, "GET", srv.URL+"/v1/record?format=json&key="+url.QueryEscape(res.Key), nil, nil)
	var j gc.RecordJSON
	if err := json.Unmarshal([]byte(body), &j); status != 200 || err != nil {
		t.Fatalf("JSON form: %d %v: %s", status, err, body)
	}
	if !bytes.Equal(j.Record, stored.Record) || j.Envelope == nil || j.Envelope.Owner != n.ID().String() ||
		j.Envelope.Name != "greeting" || string(j.Envelope.Value) != "hello, world" || j.Envelope.Schema != "text/plain" {
		t.Errorf("JSON form %+v, envelope %+v", j, j.Envelope)
	}

	// The client verifies it and names its owner.
	rec, err := client(t, srv).Record(ctx, res.Key)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Owner != n.ID() || rec.Name != "greeting" || string(rec.Envelope.Value) != "hello, world" || rec.Source != "local" {
		t.Errorf("client read %+v", rec)
	}
	// A record nobody has.
	_, err = client(t, srv).Record(ctx, envelope.Key(n.ID(), "nothing"))
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a missing record: %v, want not found", err)
	}
}

func TestErrors(t *testing.T) {
	n, srv := startNode(t)
	long := strings.Repeat("a", gateway.MaxURL)
	if _, err := n.JoinSync(testContext(t), replica.Settings{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, method, path string
		body               io.Reader
		status             int
		says               string
	}{
		{"no key", "GET", "/v1/record", nil, 400, "give one key parameter"},
		{"two keys", "GET", "/v1/record?key=a&key=b", nil, 400, "give one key parameter"},
		{"owner not a peer ID", "GET", "/v1/record?key=/netabase/foo/bar", nil, 400, `owner "foo" is not a peer ID`},
		{"no name", "GET", "/v1/record?key=" + url.QueryEscape("/netabase/"+n.ID().String()), nil, 400, "no name after the owner"},
		{"not a record key", "GET", "/v1/record?key=/nonsense", nil, 400, "keys look like /<namespace>/<name>"},
		{"unknown namespace", "GET", "/v1/record?key=/other/x", nil, 400, `no validator for the "other" namespace`},
		{"format", "GET", "/v1/record?format=xml&key=greeting", nil, 400, `format "xml" is not one the gateway serves`},
		{"NUL in a name", "GET", "/v1/record?key=%00", nil, 400, "holds the control character U+0000"},
		{"control character in a key", "GET", "/v1/record?key=" + url.QueryEscape("/netabase/"+n.ID().String()+"/a\x1bb"), nil, 400, "holds the control character U+001B"},
		{"missing record", "GET", "/v1/record?key=nothing", nil, 404, "nothing here or at the peers closest to its key"},
		{"providers without key", "GET", "/v1/providers", nil, 400, "give one key parameter"},
		{"providers limit", "GET", "/v1/providers?key=k&limit=1000", nil, 400, `limit "1000" is not a number from 1 to 100`},
		{"unknown collection", "GET", "/v1/sync/nope/events", nil, 404, `does not replicate a synced collection called "nope"`},
		{"bad cursor", "GET", "/v1/sync/notes/events?since=yesterday", nil, 400, `the cursor "yesterday"`},
		{"unknown route", "GET", "/v1/put", nil, 404, "the gateway has no /v1/put"},
		{"body", "GET", "/v1/record?key=greeting", strings.NewReader("x"), 413, "a gateway request carries no body"},
		{"long URL", "GET", "/v1/record?key=" + long, nil, 414, "longer than the 8192 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, h, body := do(t, c.method, srv.URL+c.path, c.body, nil)
			if status != c.status || !strings.Contains(body, c.says) {
				t.Errorf("%s %s: %d %q; want %d saying %q", c.method, c.path, status, body, c.status, c.says)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("an error as %q, want text/plain", ct)
			}
		})
	}
}

// snapshot is every key and value of a datastore.
func snapshot(t *testing.T, d ds.Datastore) map[string]string {
	t.Helper()
	res, err := d.Query(testContext(t), dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for e := range res.Next() {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		out[e.Key] = string(e.Value)
	}
	return out
}

// TestNoWrites sends every method that writes in HTTP to every route, with
// and without bodies, and checks that each is refused and the node's store
// is unchanged, byte for byte.
func TestNoWrites(t *testing.T) {
	n, srv := startNode(t)
	ctx := testContext(t)
	res, err := n.Publish(ctx, "greeting", "text/plain", 1, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.JoinSync(ctx, replica.Settings{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "n1", []byte("first")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, n.Datastore())
	stored, err := n.GetRecord(ctx, res.Key)
	if err != nil {
		t.Fatal(err)
	}
	q := url.QueryEscape(res.Key)
	routes := []string{"/v1/info", "/v1/record?key=" + q, "/v1/records", "/v1/providers?key=" + q, "/v1/sync/notes/events",
		"/v1/sync/notes/records", "/v1/sync/notes", "/v1/sync", "/", "/v1/record"}
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "CONNECT", "TRACE"} {
		for _, route := range routes {
			for _, body := range []string{"", string(stored.Record), `{"name":"greeting","value":"b3ZlcndyaXR0ZW4="}`} {
				status, h, msg := do(t, method, srv.URL+route, strings.NewReader(body), nil)
				if status != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD, OPTIONS" ||
					!strings.Contains(msg, "the gateway is read-only: it answers GET, HEAD and OPTIONS, not "+method) {
					t.Errorf("%s %s with %d bytes: %d %q (Allow %q); want 405", method, route, len(body), status, msg, h.Get("Allow"))
				}
			}
		}
	}
	after := snapshot(t, n.Datastore())
	if len(after) != len(before) {
		t.Errorf("the store held %d entries, now %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("entry %s changed", k)
		}
	}
	got, err := n.GetRecord(ctx, res.Key)
	if err != nil || !bytes.Equal(got.Record, stored.Record) {
		t.Errorf("the record changed: %v", err)
	}
}

func TestCORS(t *testing.T) {
	_, srv := startNode(t)
	u := srv.URL + "/v1/info"
	status, h, _ := do(t, "GET", u, nil, http.Header{"Origin": {"http://page.test"}})
	if status != 200 || h.Get("Access-Control-Allow-Origin") != "http://page.test" ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), gc.HeaderKey) {
		t.Errorf("allowed origin: %d, headers %v", status, h)
	}
	status, h, _ = do(t, "GET", u, nil, http.Header{"Origin": {"http://other.test"}})
	if status != 200 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin: %d, allowed %q; want no CORS header", status, h.Get("Access-Control-Allow-Origin"))
	}
	// A preflight, as a page sends before resuming a stream with
	// Last-Event-ID.
	pre := http.Header{"Origin": {"http://page.test"}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"last-event-id"}}
	status, h, _ = do(t, "OPTIONS", srv.URL+"/v1/sync/notes/events", nil, pre)
	if status != 204 || h.Get("Access-Control-Allow-Origin") != "http://page.test" || h.Get("Access-Control-Allow-Methods") != "GET, HEAD" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Last-Event-ID") {
		t.Errorf("preflight: %d, headers %v", status, h)
	}
	pre.Set("Origin", "http://other.test")
	status, h, _ = do(t, "OPTIONS", srv.URL+"/v1/sync/notes/events", nil, pre)
	if status != 204 || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("preflight of another origin: %d, headers %v; want no CORS headers", status, h)
	}
	// "*" allows any page.
	any := httptest.NewServer(gateway.Handler(nil, gateway.Options{AllowedOrigins: []string{"*"}}))
	defer any.Close()
	status, h, _ = do(t, "OPTIONS", any.URL+"/v1/info", nil, pre)
	if status != 204 || h.Get("Access-Control-Allow-Origin") != "http://other.test" {
		t.Errorf("preflight with *: %d, headers %v", status, h)
	}
}

func TestProviders(t *testing.T) {
	n, srv := startNode(t)
	ctx := testContext(t)
	if _, err := n.StartProviding(ctx, "my-dataset"); err != nil {
		t.Fatal(err)
	}
	c, _, err := n.FindProviders(ctx, "my-dataset", 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := client(t, srv).Providers(ctx, "my-dataset", 5)
	if err != nil {
		t.Fatal(err)
	}
	if p.CID != c.String() || len(p.Providers) != 1 || p.Providers[0].ID != n.ID().String() {
		t.Errorf("providers %+v; want this node for %s", p, c)
	}
}

// collect reads events until one satisfies done, or fails after the
// test's deadline.
func collect(t *testing.T, ctx context.Context, c *gc.Client, name, since string, done func([]gc.Event) bool) []gc.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []gc.Event
	for ev, err := range c.Events(ctx, name, since) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		out = append(out, ev)
		if done(out) {
			return out
		}
	}
	t.Fatal("the stream ended")
	return nil
}

func TestEvents(t *testing.T) {
	n, srv := startNode(t)
	ctx := testContext(t)
	s, err := n.JoinSync(ctx, replica.Settings{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Put(ctx, fmt.Sprintf("n%d", i), []byte(fmt.Sprintf("note %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	c := client(t, srv)
	ready := func(evs []gc.Event) bool { return evs[len(evs)-1].Ready }
	// Catch-up: every record, then ready with a cursor.
	evs := collect(t, ctx, c, "notes", "", ready)
	if len(evs) != 4 || evs[3].Records != 3 || evs[3].ID == "" {
		t.Fatalf("catch-up: %d events, ready %+v; want 3 records and a ready with a cursor", len(evs), evs[len(evs)-1])
	}
	for i, ev := range evs[:3] {
		want := fmt.Sprintf("/%s/notes/n%d", n.ID(), i)
		if ev.ID != "" || ev.Envelope == nil || ev.Envelope.Key != "/netabase"+want || string(ev.Envelope.Value) != fmt.Sprintf("note %d", i) {
			t.Errorf("event %d: %+v; want record %s", i, ev, want)
		}
		if stored, err := s.Replica().Envelope(ctx, ev.Envelope.Key); err != nil || !bytes.Equal(stored, ev.Data) {
			t.Errorf("event %d is not the envelope as stored (%v)", i, err)
		}
	}

	// Live: a record written while a stream is open arrives with a cursor.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next, stop := pull(c.Events(sctx, "notes", ""))
	defer stop()
	for {
		ev := next(t)
		if ev.Ready {
			break
		}
	}
	if _, err := s.Put(ctx, "live", []byte("written while streaming")); err != nil {
		t.Fatal(err)
	}
	ev := next(t)
	if ev.Envelope == nil || string(ev.Envelope.Value) != "written while streaming" || ev.ID == "" {
		t.Fatalf("live event %+v", ev)
	}
	cursor, err := strconv.ParseInt(ev.ID, 10, 64)
	if err != nil || time.Since(time.Unix(0, cursor)) > time.Minute {
		t.Errorf("live cursor %q is not a recent receive time", ev.ID)
	}
	// A delete arrives as a tombstone.
	if err := s.Delete(ctx, "n0"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t); ev.Envelope == nil || ev.Envelope.Version != 0 || !strings.HasSuffix(ev.Envelope.Key, "/notes/n0") {
		t.Fatalf("tombstone event %+v", ev)
	}

	// A burst: every record arrives, and the stream's last event carries a
	// cursor.
	const burst = 200
	for i := range burst {
		if _, err := s.Put(ctx, fmt.Sprintf("b%03d", i), []byte("burst")); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < burst {
		ev := next(t)
		if ev.Envelope == nil || !strings.Contains(ev.Envelope.Key, "/notes/b") {
			t.Fatalf("burst event %+v", ev)
		}
		seen[ev.Envelope.Key] = true
		if len(seen) == burst && ev.ID == "" {
			t.Error("the burst's last event has no cursor")
		}
	}

	// Resuming from a cursor sends what was stored since (less a margin),
	// not the whole collection: from a cursor ahead, nothing.
	ahead := strconv.FormatInt(time.Now().Add(2*time.Minute).UnixNano(), 10)
	evs = collect(t, ctx, c, "notes", ahead, ready)
	if len(evs) != 1 || evs[0].Records != 0 {
		t.Errorf("resumed from a later cursor: %d events; want the ready event alone", len(evs))
	}
	evs = collect(t, ctx, c, "notes", evs[0].ID, ready)
	if len(evs) != 5+burst {
		t.Errorf("resumed from the last cursor: %d events; want the %d records stored within the margin and ready", len(evs), 4+burst)
	}
}

// pull reads a stream one event at a time.
func pull(seq func(func(gc.Event, error) bool)) (func(*testing.T) gc.Event, func()) {
	type item struct {
		ev  gc.Event
		err error
	}
	ch := make(chan item)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		for ev, err := range seq {
			select {
			case ch <- item{ev, err}:
			case <-done:
				return
			}
		}
	}()
	next := func(t *testing.T) gc.Event {
		t.Helper()
		select {
		case it, ok := <-ch:
			if !ok {
				t.Fatal("the stream ended")
			}
			if it.err != nil {
				t.Fatalf("stream: %v", it.err)
			}
			return it.ev
		case <-time.After(30 * time.Second):
			t.Fatal("no event within 30s")
		}
		return gc.Event{}
	}
	return next, func() { close(done) }
}

// tamper changes a byte of the value inside an envelope, keeping it
// well-formed CBOR: only the signature can tell.
func tamper(t *testing.T, data []byte, value string) []byte {
	t.Helper()
	i := bytes.Index(data, []byte(value))
	if i < 0 {
		t.Fatalf("the envelope does not hold %q", value)
	}
	out := bytes.Clone(data)
	out[i] ^= 0x01
	return out
}

// fakeGateway serves record for every record key and a stream of the
// synced collection holding note: tampered copies of a node's.
func fakeGateway(t *testing.T, record, note []byte) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/record", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", gc.EnvelopeType)
		_, _ = w.Write(record)
	})
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		d := notes(t).Digest()
		_ = json.NewEncoder(w).Encode(gc.Info{ID: "fake", Synced: []gc.Collection{{Settings: notes(t), Digest: hex.EncodeToString(d[:])}}})
	})
	mux.HandleFunc("GET /v1/sync/notes/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "event: record\ndata: %s\n\n", base64.StdEncoding.EncodeToString(note))
		fmt.Fprintf(w, "event: ready\nid: 1\ndata: {\"records\":1}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestTampered: a gateway that alters an envelope is refused, by the
// record reader and by Follow, which stores nothing of it.
func TestTampered(t *testing.T) {
	n, _ := startNode(t)
	ctx := testContext(t)
	res, err := n.Publish(ctx, "greeting", "text/plain", 1, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.GetRecord(ctx, res.Key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := n.JoinSync(ctx, replica.Settings{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "n1", []byte("a note")); err != nil {
		t.Fatal(err)
	}
	note, err := s.Replica().Envelope(ctx, s.Replica().RecordKey(n.ID(), "n1"))
	if err != nil {
		t.Fatal(err)
	}
	fake := fakeGateway(t, tamper(t, got.Record, "hello"), tamper(t, note, "a note"))
	c := client(t, fake)
	_, err = c.Record(ctx, res.Key)
	if !gc.IsRefused(err) || !strings.Contains(err.Error(), "the signature does not verify") {
		t.Errorf("a tampered record: %v; want refused, the signature not verifying", err)
	}

	r, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), notes(t))
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan error, 1)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = gc.Follow(fctx, c, r, ds.NewMapDatastore(), func(p gc.Progress) {
			if p.Refused != nil {
				refused <- p.Refused
			}
		})
	}()
	select {
	case err := <-refused:
		if !strings.Contains(err.Error(), "the signature does not verify") {
			t.Errorf("refused with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Follow did not refuse the tampered record")
	}
	if items := r.Items(); len(items) != 0 {
		t.Errorf("the replica holds %d records from a tampered stream", len(items))
	}
}

// TestFollow: a replica fed through the gateway holds what the node's
// does, and a second Follow over it resumes from its cursor.
func TestFollow(t *testing.T) {
	n, srv := startNode(t)
	ctx := testContext(t)
	s, err := n.JoinSync(ctx, replica.Settings{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "n1", []byte("first")); err != nil {
		t.Fatal(err)
	}
	store := dssync.MutexWrap(ds.NewMapDatastore())
	cursors := ds.NewMapDatastore()
	r, err := replica.Open(ctx, store, notes(t))
	if err != nil {
		t.Fatal(err)
	}
	follow := func(wantStored int, write func()) {
		t.Helper()
		fctx, cancel := context.WithCancel(ctx)
		progress := make(chan gc.Progress, 16)
		done := make(chan error)
		go func() { done <- gc.Follow(fctx, client(t, srv), r, cursors, func(p gc.Progress) { progress <- p }) }()
		stored := 0
		for stored < wantStored {
			select {
			case p := <-progress:
				if p.Refused != nil || p.Err != nil {
					t.Fatalf("progress %+v", p)
				}
				if p.Ready && write != nil {
					write()
				}
				stored += p.Stored
			case <-ctx.Done():
				t.Fatalf("stored %d of %d records", stored, wantStored)
			}
		}
		cancel()
		<-done
	}
	follow(2, func() {
		if _, err := s.Put(ctx, "n2", []byte("second")); err != nil {
			t.Error(err)
		}
	})
	if r.Fingerprint() != s.Replica().Fingerprint() {
		t.Fatal("the followed replica differs from the node's")
	}
	if _, err := cursors.Get(ctx, client(t, srv).CursorKey(r)); err != nil {
		t.Fatalf("no cursor kept: %v", err)
	}
	other, err := gc.New("http://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cursors.Get(ctx, other.CursorKey(r)); !errors.Is(err, ds.ErrNotFound) {
		t.Errorf("another gateway's cursor: %v; want none, a cursor is one gateway's", err)
	}
	// Reopened over the same store (a reload), it holds the records, and
	// follows on from its cursor.
	r, err = replica.Open(ctx, store, notes(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Items()) != 2 {
		t.Fatalf("reopened, the replica holds %d records", len(r.Items()))
	}
	if _, err := s.Put(ctx, "n3", []byte("third")); err != nil {
		t.Fatal(err)
	}
	follow(1, nil)
	if r.Fingerprint() != s.Replica().Fingerprint() {
		t.Fatal("after resuming, the followed replica differs from the node's")
	}
}

// TestFollowOtherSettings: the gateway gives a collection's settings
// whole, and Follow over a replica of the collection with other bounds
// refuses the daemon, naming the fields that differ, and stores nothing.
func TestFollowOtherSettings(t *testing.T) {
	n, srv := startNode(t)
	ctx := testContext(t)
	s, err := n.JoinSync(ctx, replica.Settings{Name: "notes", MaxRecordsPerWriter: 5, TombstoneHorizon: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "n1", []byte("a note")); err != nil {
		t.Fatal(err)
	}
	c := client(t, srv)
	col, err := c.Collection(ctx, "notes")
	if d := s.Replica().Digest(); err != nil || !reflect.DeepEqual(col.Settings, s.Settings()) || col.Digest != hex.EncodeToString(d[:]) || col.Settings.MaxRecordsPerWriter != 5 {
		t.Errorf("the gateway's collection: %+v, %v; want the settings %+v", col, err, s.Settings())
	}
	if _, err := c.Collection(ctx, "chat"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a collection the daemon has not joined: %v", err)
	}
	r, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), notes(t))
	if err != nil {
		t.Fatal(err)
	}
	err = gc.Follow(ctx, c, r, ds.NewMapDatastore(), nil)
	want := "collection notes: the gateway's daemon has other settings than this side, so the two replicate different collections: max_records_per_writer is 5 there and 100000 here; tombstone_horizon is 1h there and 720h here"
	if !errors.Is(err, replica.ErrOtherSettings) || err.Error() != want {
		t.Errorf("Follow: %v\nwant %s", err, want)
	}
	if items := r.Items(); len(items) != 0 {
		t.Errorf("the replica holds %d records of a collection with other settings", len(items))
	}
}

// TestStreamLimit: past MaxStreams open event streams, another is refused
// with 503 and a sentence; once one closes, a new one opens.
func TestStreamLimit(t *testing.T) {
	n, srv := startNode(t)
	ctx := testContext(t)
	if _, err := n.JoinSync(ctx, replica.Settings{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	c := client(t, srv)
	var stops []func()
	for range gateway.MaxStreams {
		sctx, cancel := context.WithCancel(ctx)
		next, stop := pull(c.Events(sctx, "notes", ""))
		if ev := next(t); !ev.Ready {
			t.Fatalf("a stream began with %+v, want ready", ev)
		}
		stops = append(stops, func() { cancel(); stop() })
	}
	status, _, body := do(t, "GET", srv.URL+"/v1/sync/notes/events", nil, nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, fmt.Sprintf("serves %d event streams already", gateway.MaxStreams)) {
		t.Fatalf("one stream too many: %d %q", status, body)
	}
	stops[0]()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The closed stream's handler returns its token once it sees its
		// client gone: poll for that, within a bound.
		sctx, cancel := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(sctx, "GET", srv.URL+"/v1/sync/notes/events", nil)
		res, err := http.DefaultClient.Do(req)
		status := 0
		if err == nil {
			status = res.StatusCode
			res.Body.Close()
		}
		cancel()
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream opened within 30s after one closed: %d %v", status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range stops[1:] {
		s()
	}
}

// burst returns n records of collection notes, keys notes/n00000 up, each
// with value, of one new writer, sealed and verified for an Insert.
func burst(t *testing.T, n int, value []byte) []replica.Verified {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	sealed := make([]replica.Verified, 0, n)
	for i := range n {
		e, err := envelope.Seal(priv, fmt.Sprintf("notes/n%05d", i), "notes", 1, envelope.Timestamp{Wall: now + int64(i)}, value)
		if err != nil {
			t.Fatal(err)
		}
		data, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, replica.Verified{Env: e, Data: data})
	}
	return sealed
}

// TestFollowBurst: 20,000 records enter the node's replica at once (as a
// reconciliation brings them) while the event stream's watch is held back,
// far past its buffer. The stream ends once its watch says it missed
// changes, and the client, resuming from its cursor, ends with every
// record.
func TestFollowBurst(t *testing.T) {
	const n = 20_000
	release := make(chan struct{})
	t.Cleanup(gateway.HoldWatches(release))
	nd, srv := startNode(t)
	ctx := testContext(t)
	s, err := nd.JoinSync(ctx, replica.Settings{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	sealed := burst(t, n, []byte("note"))

	r, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), notes(t))
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	progress := make(chan gc.Progress, 16)
	done := make(chan error)
	go func() {
		done <- gc.Follow(fctx, client(t, srv), r, ds.NewMapDatastore(), func(p gc.Progress) {
			select {
			case progress <- p:
			case <-fctx.Done():
			}
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	stored, ended := 0, 0
	for stored < n {
		select {
		case p := <-progress:
			switch {
			case p.Refused != nil:
				t.Fatalf("refused: %v", p.Refused)
			case p.Err != nil:
				ended++
			case p.Ready && ended == 0:
				// The stream is live, and its watch held: the burst.
				for b := range slices.Chunk(sealed, 1000) {
					if _, err := s.Replica().Insert(ctx, "", b); err != nil {
						t.Fatal(err)
					}
				}
				close(release)
			}
			stored += p.Stored
		case <-ctx.Done():
			t.Fatalf("the client stored %d of %d records", stored, n)
		}
	}
	if r.Fingerprint() != s.Replica().Fingerprint() || ended == 0 {
		t.Fatalf("the followed replica differs from the node's, or the stream did not end (%d times)", ended)
	}
}
