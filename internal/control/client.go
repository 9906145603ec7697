package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"

	"github.com/netabase/netabase/core/apijson"
)

// ErrNoDaemon is wrapped by the error of a request when no daemon answers
// on the socket.
var ErrNoDaemon = errors.New("no netabase daemon is running")

// Client talks to a daemon's control socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the daemon whose socket is at socket.
func NewClient(socket string) *Client {
	return &Client{
		socket: socket,
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
			DisableCompression: true,
		}},
	}
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// do sends a request with a JSON body (when in is not nil) and decodes the
// JSON reply into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("the daemon's reply to %s %s is not what this client expects (is it another netabase version?): %w", method, path, err)
	}
	return nil
}

// send sends a request and returns a successful response, whose body the
// caller closes.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	u := url.URL{Scheme: "http", Host: "netabase", Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("the daemon did not answer in time: %w", ctx.Err())
		}
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: nothing answers on %s; start one with netabase daemon (with the same --data-dir)", ErrNoDaemon, c.socket)
		}
		return nil, fmt.Errorf("cannot reach the daemon on %s: %w", c.socket, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e Error
	if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Message == "" {
		return nil, fmt.Errorf("the daemon answered %s to %s %s", resp.Status, method, path)
	}
	return nil, &e
}

// ID describes the node.
func (c *Client) ID(ctx context.Context) (ID, error) {
	var out ID
	return out, c.do(ctx, "GET", "/v1/id", nil, nil, &out)
}

// Peers lists the connected peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	return out, c.do(ctx, "GET", "/v1/peers", nil, nil, &out)
}

// Put publishes or puts a record.
func (c *Client) Put(ctx context.Context, req PutRequest) (PutResult, error) {
	var out PutResult
	return out, c.do(ctx, "POST", "/v1/records", nil, req, &out)
}

// Get gets a record.
func (c *Client) Get(ctx context.Context, key string) (Record, error) {
	var out Record
	return out, c.do(ctx, "GET", "/v1/record", url.Values{"key": {key}}, nil, &out)
}

// Remove removes the local copy of a record.
func (c *Client) Remove(ctx context.Context, key string) error {
	return c.do(ctx, "DELETE", "/v1/record", url.Values{"key": {key}}, nil, nil)
}

// Records lists the records in the local store, of one namespace or all.
func (c *Client) Records(ctx context.Context, namespace string) ([]LocalRecord, error) {
	var q url.Values
	if namespace != "" {
		q = url.Values{"namespace": {namespace}}
	}
	var out []LocalRecord
	return out, c.do(ctx, "GET", "/v1/records", q, nil, &out)
}

// Provide starts providing key.
func (c *Client) Provide(ctx context.Context, key string) (ProvideResult, error) {
	var out ProvideResult
	return out, c.do(ctx, "POST", "/v1/provide", nil, KeyRequest{Key: key}, &out)
}

// Unprovide stops providing key.
func (c *Client) Unprovide(ctx context.Context, key string) (ProvideResult, error) {
	var out ProvideResult
	return out, c.do(ctx, "POST", "/v1/unprovide", nil, KeyRequest{Key: key}, &out)
}

// FindProviders finds providers of key, at most limit (0: all found).
func (c *Client) FindProviders(ctx context.Context, key string, limit int) (apijson.Providers, error) {
	var out apijson.Providers
	return out, c.do(ctx, "GET", "/v1/providers", url.Values{"key": {key}, "limit": {strconv.Itoa(limit)}}, nil, &out)
}

// Bootstrap bootstraps the node.
func (c *Client) Bootstrap(ctx context.Context) (BootstrapResult, error) {
	var out BootstrapResult
	return out, c.do(ctx, "POST", "/v1/bootstrap", nil, nil, &out)
}

// Connect connects to the peer at addr; it returns the peer's ID.
func (c *Client) Connect(ctx context.Context, addr string) (Connected, error) {
	var out Connected
	return out, c.do(ctx, "POST", "/v1/connect", nil, ConnectRequest{Addr: addr}, &out)
}

// Disconnect closes the connections to a peer.
func (c *Client) Disconnect(ctx context.Context, peer string) error {
	return c.do(ctx, "POST", "/v1/disconnect", nil, PeerRequest{Peer: peer}, nil)
}

// Mode returns the DHT mode.
func (c *Client) Mode(ctx context.Context) (Mode, error) {
	var out Mode
	return out, c.do(ctx, "GET", "/v1/dht/mode", nil, nil, &out)
}

// SetMode changes the DHT mode.
func (c *Client) SetMode(ctx context.Context, mode string) (Mode, error) {
	var out Mode
	return out, c.do(ctx, "PUT", "/v1/dht/mode", nil, ModeRequest{Mode: mode}, &out)
}

// Protocols returns the protocol names.
func (c *Client) Protocols(ctx context.Context) (Protocols, error) {
	var out Protocols
	return out, c.do(ctx, "GET", "/v1/protocols", nil, nil, &out)
}

// Events yields the node's events until ctx ends or the daemon stops; an
// error is yielded last, if any. The stream has started (the daemon is
// subscribed) when Events returns without error.
func (c *Client) Events(ctx context.Context) (iter.Seq2[Event, error], error) {
	resp, err := c.send(ctx, "GET", "/v1/events", nil, nil)
	if err != nil {
		return nil, err
	}
	return lines[Event](ctx, resp, "event"), nil
}

// lines yields the JSON lines of a streamed response's body, each
// decoded as a T, until ctx ends or the body does; an error is yielded
// last, if any. what names a line in the error.
func lines[T any](ctx context.Context, resp *http.Response, what string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		defer resp.Body.Close()
		var zero T
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var v T
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				yield(zero, fmt.Errorf("a bad %s line from the daemon: %w", what, err))
				return
			}
			if !yield(v, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil && ctx.Err() == nil {
			yield(zero, fmt.Errorf("the %s stream broke: %w", what, err))
		}
	}
}

// SyncJoin joins a synced collection, and returns its status.
func (c *Client) SyncJoin(ctx context.Context, req SyncJoinRequest) (SyncStatus, error) {
	var out SyncStatus
	return out, c.do(ctx, "POST", "/v1/sync", nil, req, &out)
}

// SyncLeave leaves the synced collection called name.
func (c *Client) SyncLeave(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", syncPath(name), nil, nil, nil)
}

// SyncStatus returns the status of the joined collection called name.
func (c *Client) SyncStatus(ctx context.Context, name string) (SyncStatus, error) {
	var out SyncStatus
	return out, c.do(ctx, "GET", syncPath(name), nil, nil, &out)
}

// SyncStatuses returns the status of every joined collection, by name.
func (c *Client) SyncStatuses(ctx context.Context) ([]SyncStatus, error) {
	var out []SyncStatus
	return out, c.do(ctx, "GET", "/v1/sync", nil, nil, &out)
}

// SyncPut writes this node's value for key in the collection called name,
// and says how many peers it was sent to at once.
func (c *Client) SyncPut(ctx context.Context, name, key string, value []byte) (SyncPutReply, error) {
	var out SyncPutReply
	return out, c.do(ctx, "POST", syncPath(name)+"/records", nil, SyncPutRequest{Key: key, Value: value}, &out)
}

// SyncDelete writes a tombstone for this node's key in the collection
// called name. When this node holds no value for key, nothing is written
// and the error matches core.ErrNotFound.
func (c *Client) SyncDelete(ctx context.Context, name, key string) error {
	return c.do(ctx, "DELETE", syncPath(name)+"/record", url.Values{"key": {key}}, nil, nil)
}

// SyncRecords lists every writer's live records in the collection called
// name, by writer and key.
func (c *Client) SyncRecords(ctx context.Context, name string) ([]SyncRecord, error) {
	var out []SyncRecord
	return out, c.do(ctx, "GET", syncPath(name)+"/records", nil, nil, &out)
}

// SyncFollow yields what the collection called name holds and then every
// change to it (see SyncChange), until ctx ends or the daemon stops; an
// error is yielded last, if any. The stream has started (the daemon
// watches the collection) when SyncFollow returns without error.
func (c *Client) SyncFollow(ctx context.Context, name string) (iter.Seq2[SyncChange, error], error) {
	resp, err := c.send(ctx, "GET", syncPath(name)+"/follow", nil, nil)
	if err != nil {
		return nil, err
	}
	return lines[SyncChange](ctx, resp, "follow"), nil
}

// syncPath is the path of a collection; the URL escapes what its name needs.
func syncPath(name string) string { return "/v1/sync/" + name }
