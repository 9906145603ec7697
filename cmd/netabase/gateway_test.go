package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/gateway/wsync"
)

// TestGatewayDaemon: daemon --gateway serves the read-only gateway at the
// address its banner gives, for the origins --gateway-origin lists, and
// keeps both in a new configuration.
func TestGatewayDaemon(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://", "--gateway", "127.0.0.1:0", "--gateway-origin", "http://page.test")
	m := regexp.MustCompile(`(?m)^Gateway: +(http://\S+) \(read-only\)$`).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("the banner gives no gateway:\n%s", d.out.String())
	}
	code, key, errOut := runIn(ctx, nil, "put", "--data-dir", d.dir, "greeting", "hello")
	if code != 0 {
		t.Fatalf("put: %d %s", code, errOut)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", m[1]+"/v1/record?key=greeting", nil)
	req.Header.Set("Origin", "http://page.test")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Netabase-Key") != strings.TrimSpace(key) ||
		res.Header.Get("Access-Control-Allow-Origin") != "http://page.test" || !strings.Contains(string(body), "hello") {
		t.Errorf("GET the record: %s, headers %v", res.Status, res.Header)
	}
	c, err := config.Load(filepath.Join(d.dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Gateway.Enabled || c.Gateway.Address != "127.0.0.1:0" || len(c.Gateway.AllowedOrigins) != 1 {
		t.Errorf("the new configuration's gateway: %+v", c.Gateway)
	}
}

// TestGatewayRefused: a --gateway that is no address and a
// --gateway-origin that is no origin are usage errors; a busy address stops
// a first start before the data directory is written.
func TestGatewayRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := shortDir(t)
	base := []string{"daemon", "--data-dir", dir, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}
	code, _, errOut := runIn(ctx, nil, append(base, "--gateway", "localhost")...)
	if code != exitUsage || !strings.Contains(errOut, `--gateway: "localhost" is not a host:port`) {
		t.Errorf("--gateway localhost: exit %d, said %q", code, errOut)
	}
	code, _, errOut = runIn(ctx, nil, append(base, "--gateway", "127.0.0.1:0", "--gateway-origin", "http://page.test/path")...)
	if code != exitUsage || !strings.Contains(errOut, `--gateway-origin: "http://page.test/path" is not an origin`) {
		t.Errorf("--gateway-origin with a path: exit %d, said %q", code, errOut)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, _, errOut = runIn(ctx, nil, append(base, "--gateway", l.Addr().String())...)
	if code != exitFailure || !strings.Contains(errOut, "--gateway: cannot serve the gateway on "+l.Addr().String()) {
		t.Errorf("--gateway on a busy address: exit %d, said %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused first start wrote %s: %v", config.FileName, err)
	}
}

// TestGatewaySyncDaemon: daemon --gateway-sync serves the sync endpoint,
// says so in its banner, and keeps it in a new configuration.
func TestGatewaySyncDaemon(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://", "--gateway", "127.0.0.1:0", "--gateway-sync")
	m := regexp.MustCompile(`(?m)^Gateway: +http://(\S+) \(reads; sync, which writes, at /v1/sync/<name>/ws\)$`).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("the banner gives no sync endpoint:\n%s", d.out.String())
	}
	// Served: a collection the daemon has not joined is refused with
	// its close code, where a gateway without sync has no such route.
	ws, _, err := websocket.Dial(ctx, "ws://"+m[1]+"/v1/sync/notes/ws", &websocket.DialOptions{Subprotocols: wsync.Subprotocols})
	if err != nil {
		t.Fatalf("the sync endpoint: %v", err)
	}
	defer ws.CloseNow()
	for err == nil {
		_, _, err = ws.Read(ctx)
	}
	if websocket.CloseStatus(err) != wsync.CodeNotJoined {
		t.Errorf("a collection not joined: %v", err)
	}
	c, err := config.Load(filepath.Join(d.dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Gateway.Sync {
		t.Errorf("the new configuration's gateway: %+v", c.Gateway)
	}
}
