package gatewayclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/apijson"
	"github.com/netabase/netabase/core/envelope"
)

// maxJSON bounds a JSON answer (info, providers).
const maxJSON = 4 << 20

// Client reads one gateway. It is safe for concurrent use.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// New returns a client of the gateway at base, such as
// http://127.0.0.1:4180, using hc (http.DefaultClient when nil).
func New(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, core.Errorf(core.ErrInvalidKey, "gateway address %q is not an http:// or https:// URL with a host, such as http://127.0.0.1:4180", base)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, hc: hc}, nil
}

// URL returns the address of a gateway path with its query.
func (c *Client) URL(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}

// get sends a GET and returns the response, or an error for any status
// but 200 with the gateway's sentence.
func (c *Client) get(ctx context.Context, path string, q url.Values, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL(path, q), nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the gateway at %s: %w", c.base, err)
	}
	if res.StatusCode == http.StatusOK {
		return res, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = res.Status
	}
	err = fmt.Errorf("the gateway answered %s: %s", res.Status, msg)
	switch res.StatusCode {
	case http.StatusNotFound:
		return nil, core.Errorf(core.ErrNotFound, "%w", err)
	case http.StatusBadRequest:
		return nil, core.Errorf(core.ErrInvalidKey, "%w", err)
	}
	return nil, err
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	res, err := c.get(ctx, path, q, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(io.LimitReader(res.Body, maxJSON)).Decode(v); err != nil {
		return fmt.Errorf("the gateway's answer to %s is not the JSON expected: %w", path, err)
	}
	return nil
}

// Info returns what the daemon says of itself.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.getJSON(ctx, "/v1/info", nil, &out)
	return out, err
}

// Collection returns what the daemon says of the synced collection called
// name: its settings and their digest. It is an error wrapping
// core.ErrNotFound when the daemon replicates no collection of that name.
func (c *Client) Collection(ctx context.Context, name string) (Collection, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return Collection{}, err
	}
	for _, col := range info.Synced {
		if col.Settings.Name == name {
			return col, nil
		}
	}
	return Collection{}, core.Errorf(core.ErrNotFound, "the daemon behind the gateway at %s does not replicate a synced collection called %q", c.base, name)
}

// Providers returns the providers of key the daemon finds (at most limit;
// 0 for the daemon's default).
func (c *Client) Providers(ctx context.Context, key string, limit int) (apijson.Providers, error) {
	q := url.Values{"key": {key}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out apijson.Providers
	err := c.getJSON(ctx, "/v1/providers", q, &out)
	return out, err
}

// Record is a record read through a gateway and verified.
type Record struct {
	// Key is the record key, /netabase/<owner>/<name>.
	Key string
	// Owner is the peer that signed it, the owner Key names.
	Owner peer.ID
	// Name is the record's name under its owner.
	Name string
	// Envelope is the verified envelope; Envelope.Value is the value.
	Envelope *envelope.Envelope
	// Data is the envelope as stored, the bytes that were verified.
	Data []byte
	// Source is where the daemon says it found it: "local" or "network".
	Source string
}

// Record fetches the record under key, a full record key
// /netabase/<owner peer ID>/<name>, and verifies it: the envelope must be
// signed by that owner for that key. A record that does not verify is
// refused with an error wrapping core.ErrRejected; a key the gateway knows
// no record under gives an error wrapping core.ErrNotFound.
func (c *Client) Record(ctx context.Context, key string) (*Record, error) {
	owner, name, err := envelope.ParseKey(key)
	if err != nil {
		return nil, err
	}
	res, err := c.get(ctx, "/v1/record", url.Values{"key": {key}}, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, envelope.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading record %s from the gateway: %w", key, err)
	}
	env, err := Verify(key, data)
	if err != nil {
		return nil, err
	}
	return &Record{Key: key, Owner: owner, Name: name, Envelope: env, Data: data, Source: res.Header.Get(HeaderSource)}, nil
}

// Verify checks data, an envelope served under key, as a node checks a
// record from a peer (envelope.Open: strict deterministic CBOR, signed by
// the key's owner, for that key). The error wraps core.ErrRejected and
// says that the gateway served it.
func Verify(key string, data []byte) (*envelope.Envelope, error) {
	env, err := envelope.Open(key, data)
	if err != nil {
		return nil, fmt.Errorf("refused the record the gateway served: %w", err)
	}
	return env, nil
}

// IsRefused reports whether err is a refusal of what the gateway served
// (an envelope that does not verify).
func IsRefused(err error) bool { return errors.Is(err, core.ErrRejected) }
