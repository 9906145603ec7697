package gatewayclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// maxLine bounds one line of an event stream: an envelope's base64.
const maxLine = envelope.MaxSize*4/3 + 1024

// Event is an event of a synced collection's stream.
type Event struct {
	// ID is the event's cursor, "" for the records of the catch-up.
	ID string
	// Ready marks the end of the catch-up; Records says how many it sent.
	Ready   bool
	Records int
	// Envelope is a record's verified envelope (its signature and key
	// checked; whether the collection admits it is the replica's to
	// check), and Data its bytes.
	Envelope *envelope.Envelope
	Data     []byte
}

// Events streams the synced collection called name: the records the
// daemon holds, a ready event, then the records that arrive, until ctx
// ends or the connection does. since is a cursor from an earlier event's
// ID, or "" for the whole collection.
//
// Every record is verified (see Verify) before it is yielded. One that
// does not verify is yielded with an error wrapping core.ErrRejected,
// and the stream goes on if the caller goes on. Any other error ends the
// stream: the caller may reconnect from the last ID it saw.
func (c *Client) Events(ctx context.Context, name, since string) iter.Seq2[Event, error] {
	return c.events(ctx, name, since, true)
}

// events is Events; without verify, a record's envelope is left nil for
// the caller to verify (Follow's replica does, once).
func (c *Client) events(ctx context.Context, name, since string, verify bool) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		h := http.Header{"Accept": {"text/event-stream"}}
		if since != "" {
			h.Set("Last-Event-ID", since)
		}
		res, err := c.get(ctx, "/v1/sync/"+url.PathEscape(name)+"/events", nil, h)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer res.Body.Close()
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			yield(Event{}, fmt.Errorf("the gateway answered the event stream of %s with %q, not text/event-stream", name, ct))
			return
		}
		for raw, err := range readEvents(res.Body) {
			if errors.Is(err, io.EOF) {
				yield(Event{}, fmt.Errorf("the gateway closed the event stream of %s", name))
				return
			}
			if err != nil {
				yield(Event{}, fmt.Errorf("the event stream of %s broke: %w", name, err))
				return
			}
			ev, err := decodeEvent(raw, verify)
			if ev == nil && err == nil {
				continue // an event of a kind this client does not know
			}
			if ev == nil {
				ev = &Event{ID: raw.id}
			}
			if !yield(*ev, err) {
				return
			}
		}
	}
}

// rawEvent is an event as the stream spells it.
type rawEvent struct {
	id, name, data string
}

// decodeEvent turns a raw event into an Event, verifying a record's
// envelope when verify; nil and no error for a kind it ignores.
func decodeEvent(raw rawEvent, verify bool) (*Event, error) {
	switch raw.name {
	case EventReady:
		var d ReadyData
		if err := json.Unmarshal([]byte(raw.data), &d); err != nil {
			return nil, fmt.Errorf("the gateway's ready event is not the JSON expected: %w", err)
		}
		return &Event{ID: raw.id, Ready: true, Records: d.Records}, nil
	case EventRecord:
		data, err := base64.StdEncoding.DecodeString(raw.data)
		if err != nil {
			return nil, core.Errorf(core.ErrRejected, "refused a record event whose data is not base64: %v", err)
		}
		if !verify {
			return &Event{ID: raw.id, Data: data}, nil
		}
		env, err := envelope.OpenRecord(data)
		if err != nil {
			return &Event{ID: raw.id, Data: data}, fmt.Errorf("refused a record the gateway served: %w", err)
		}
		return &Event{ID: raw.id, Envelope: env, Data: data}, nil
	}
	return nil, nil
}

// readEvents parses a text/event-stream body (the WHATWG format): lines
// "field: value", an event ending at a blank line, comments starting with
// a colon. The id of an event that sets none is "".
func readEvents(r io.Reader) iter.Seq2[rawEvent, error] {
	return func(yield func(rawEvent, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), maxLine)
		var ev rawEvent
		var data strings.Builder
		fields := false
		for sc.Scan() {
			line := sc.Bytes()
			if len(line) == 0 {
				if fields {
					ev.data = strings.TrimSuffix(data.String(), "\n")
					if ev.name == "" {
						ev.name = "message"
					}
					if !yield(ev, nil) {
						return
					}
				}
				ev, fields = rawEvent{}, false
				data.Reset()
				continue
			}
			if line[0] == ':' {
				continue
			}
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			fields = true
			switch string(field) {
			case "event":
				ev.name = string(value)
			case "data":
				data.Write(value)
				data.WriteByte('\n')
			case "id":
				ev.id = string(value)
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		yield(rawEvent{}, err)
	}
}
