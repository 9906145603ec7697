package control_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/control"
)

// rawAPI serves the control API of a node in a new directory and returns
// its socket.
func rawAPI(t *testing.T, ctx context.Context) string {
	t.Helper()
	dir := shortDir(t)
	serve(t, ctx, startNode(t, ctx, dir, node.ModeClient), dir)
	return filepath.Join(dir, config.SocketFile)
}

// roundTrip sends req over a new connection to sock and returns the
// status and the error message of the answer.
func roundTrip(t *testing.T, sock string, req *http.Request) (int, string) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e control.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Message
}

func post(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://netabase"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestRequestBody: a body is one JSON value, white space after it aside,
// and at most MaxBody bytes.
func TestRequestBody(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	sock := rawAPI(t, ctx)
	for body, want := range map[string]string{
		`{"mode":"client"}{"mode":"server"}`: "17 bytes follow the JSON value",
		`{"mode":"client"} trailing`:         "8 bytes follow the JSON value",
		`{"mode":"client"`:                   "bad request body",
		`{"mode":"client","speed":1}`:        "unknown field",
	} {
		status, msg := roundTrip(t, sock, post(t, "PUT", "/v1/dht/mode", body))
		if status != 400 || !strings.Contains(msg, want) {
			t.Errorf("body %q: %d %q, want 400 saying %q", body, status, msg, want)
		}
	}
	if status, msg := roundTrip(t, sock, post(t, "PUT", "/v1/dht/mode", "\n {\"mode\":\"client\"}\r\n\t ")); status != 200 {
		t.Errorf("a JSON value in white space: %d %q, want 200", status, msg)
	}
	big := `{"name":"n","value":"` + strings.Repeat("A", control.MaxBody) + `"}`
	if status, msg := roundTrip(t, sock, post(t, "POST", "/v1/records", big)); status != 400 || !strings.Contains(msg, "request body is larger than") {
		t.Errorf("a body of %d bytes: %d %q, want 400 saying it is too large", len(big), status, msg)
	}
}

// TestRequestTimeouts: a request whose header or body does not arrive in
// time, and a connection left idle, are ended; an event stream is not,
// however long it lasts.
func TestRequestTimeouts(t *testing.T) {
	const timeout = 100 * time.Millisecond
	control.ShortenTimeouts(t, timeout)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := shortDir(t)
	n := startNode(t, ctx, dir, node.ModeClient)
	client := serve(t, ctx, n, dir)
	sock := filepath.Join(dir, config.SocketFile)
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		return c
	}
	events, err := client.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// A body cut short.
	c := dial()
	if _, err := io.WriteString(c, "PUT /v1/dht/mode HTTP/1.1\r\nHost: netabase\r\nContent-Length: 100\r\n\r\n{\"mode\""); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	var e control.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 400 || !strings.Contains(e.Message, "the request did not arrive within "+timeout.String()) {
		t.Errorf("a body cut short: %d %q, want 400 saying it did not arrive", resp.StatusCode, e.Message)
	}

	// A header cut short: the connection is closed unanswered.
	c = dial()
	if _, err := io.WriteString(c, "GET /v1/id HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(c); err != nil || bytes.Contains(b, []byte(" 200 ")) {
		t.Errorf("a header cut short: read %q, %v; want the connection closed unanswered", b, err)
	}

	// An idle connection, after an answered request.
	c = dial()
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /v1/dht/mode HTTP/1.1\r\nHost: netabase\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v, %v", resp, err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Errorf("an idle connection: read %q, %v; want it closed", b, err)
	}

	// The event stream, open all along and past every timeout many times
	// over, still carries events.
	<-time.After(10 * timeout)
	if _, err := client.Put(ctx, control.PutRequest{Name: "probe", Value: []byte("the stream outlives the timeouts")}); err != nil {
		t.Fatalf("put: %v", err)
	}
	for ev, err := range events {
		if err != nil {
			t.Fatalf("the event stream broke: %v", err)
		}
		if ev.Type == "record.stored" {
			return
		}
	}
	t.Errorf("the event stream ended before the event (context: %v)", ctx.Err())
}
