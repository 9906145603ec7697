package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
)

// span is what the test collector keeps of a span it received.
type span struct {
	service, name, trace, id, parent string
}

// collector is an OTLP/HTTP trace receiver on loopback, for the test.
type collector struct {
	url   string
	mu    sync.Mutex
	spans []span
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			t.Errorf("the collector got a bad export: %v", err)
			return
		}
		c.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					c.spans = append(c.spans, span{service: service, name: s.GetName(),
						trace: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()), parent: hex.EncodeToString(s.GetParentSpanId())})
				}
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	c.url = "http://" + l.Addr().String()
	return c
}

func (c *collector) received() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.spans...)
}

// putChain finds, among spans, the chain of one put across a plugin:
// the control call, the node's put, the backend's put and the plugin's
// span of the Write group that carried it (protocol version 2, which the
// bbolt plugin speaks), each the parent of the next, in one trace.
func putChain(spans []span) (chain []span, ok bool) {
	byID := map[string]span{}
	for _, s := range spans {
		byID[s.id] = s
	}
	for _, p := range spans {
		if p.name != "plugin Write" {
			continue
		}
		chain = []span{p}
		for cur := p; cur.parent != ""; {
			parent, ok := byID[cur.parent]
			if !ok || parent.trace != p.trace {
				break
			}
			chain = append([]span{parent}, chain...)
			cur = parent
		}
		var names []string
		for _, s := range chain {
			names = append(names, s.name)
		}
		if strings.Join(names, " > ") == "control POST /v1/records > node publish > node put > backend put > plugin Write" {
			return chain, true
		}
	}
	return nil, false
}

// TestTracingAcrossPlugin runs a daemon process on the bbolt example
// plugin, tracing to a collector in the test, makes one put, and checks
// that the spans of the put, from the control call to the plugin's own,
// reach the collector from both processes as one trace with the right
// parents.
func TestTracingAcrossPlugin(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bins, err := testplugins.Build(t.TempDir(), testplugins.Bbolt)
	if err != nil {
		t.Fatal(err)
	}
	bbolt := bins[testplugins.Bbolt]
	sum, err := host.Checksum(bbolt)
	if err != nil {
		t.Fatal(err)
	}
	storage := host.FormatURL(bbolt, sum, url.Values{"path": {filepath.Join(t.TempDir(), "x.db")}})
	col := startCollector(t)
	// Spans leave both processes within 100ms of ending.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	dir := shortDir(t)
	d := startProcess(t, "daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns",
		"--storage", storage, "--tracing", col.url)
	waitReady(t, ctx, d.stdout.lines, d.exited, d.output)
	if want := "Tracing:    OTLP/HTTP to " + col.url; !strings.Contains(d.stdout.String(), want) {
		t.Errorf("the banner does not say %q:\n%s", want, d.stdout.String())
	}
	runProcess(t, ctx, "put", "--data-dir", dir, "note", "traced")

	var chain []span
	wait, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	for {
		var ok bool
		if chain, ok = putChain(col.received()); ok {
			break
		}
		select {
		case <-wait.Done():
			var got []string
			for _, s := range col.received() {
				got = append(got, fmt.Sprintf("%s: %s (trace %s, id %s, parent %s)", s.service, s.name, s.trace, s.id, s.parent))
			}
			t.Fatalf("no chain control > node publish > node put > backend put > plugin Write among the spans received:\n%s", strings.Join(got, "\n"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	for i, s := range chain {
		want := "netabase"
		if i == len(chain)-1 {
			want = "netabase-plugin-bbolt"
		}
		if s.service != want {
			t.Errorf("span %q comes from service %q, want %q", s.name, s.service, want)
		}
	}
}

// TestTracingRefused: a --tracing that is no URL is a usage error naming
// the flag.
func TestTracingRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code, _, errOut := runIn(ctx, nil, "daemon", "--data-dir", shortDir(t), "--storage", "memory://", "--no-mdns", "--tracing", "127.0.0.1:4318")
	if code != exitUsage || !strings.Contains(errOut, `--tracing: "127.0.0.1:4318" is not an http:// or https:// URL`) {
		t.Errorf("--tracing 127.0.0.1:4318: exit %d, said %q", code, errOut)
	}
}
