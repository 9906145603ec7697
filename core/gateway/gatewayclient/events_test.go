package gatewayclient

import (
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// TestReadEvents parses the event stream format: fields, multi-line data,
// comments, an event without a name, and the end of the stream.
func TestReadEvents(t *testing.T) {
	stream := ": a comment\n\nevent: record\ndata: abc\n\nid: 7\nevent: ready\ndata: {\"records\":1}\n\ndata: one\ndata: two\nretry: 100\n\n: keep-alive\n\nevent: half"
	var got []rawEvent
	var end error
	for ev, err := range readEvents(strings.NewReader(stream)) {
		if err != nil {
			end = err
			break
		}
		got = append(got, ev)
	}
	want := []rawEvent{
		{name: "record", data: "abc"},
		{id: "7", name: "ready", data: `{"records":1}`},
		{name: "message", data: "one\ntwo"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if !errors.Is(end, io.EOF) {
		t.Errorf("the stream ended with %v, want EOF (an unfinished event is dropped)", end)
	}
}

// TestDecodeEvent: a record event is verified, and one whose envelope was
// altered, or whose data is not base64, is refused.
func TestDecodeEvent(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(priv, "notes/n1", "notes", 1, envelope.Timestamp{Wall: 1}, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := decodeEvent(rawEvent{name: EventRecord, data: base64.StdEncoding.EncodeToString(data)}, true)
	if err != nil || ev.Envelope == nil || string(ev.Envelope.Value) != "hello" {
		t.Fatalf("a good record: %+v, %v", ev, err)
	}
	bad := strings.Replace(string(data), "hello", "jello", 1)
	_, err = decodeEvent(rawEvent{name: EventRecord, data: base64.StdEncoding.EncodeToString([]byte(bad))}, true)
	if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "the signature does not verify") {
		t.Errorf("an altered record: %v", err)
	}
	if _, err := decodeEvent(rawEvent{name: EventRecord, data: "not base64!"}, true); !errors.Is(err, core.ErrRejected) {
		t.Errorf("data that is not base64: %v", err)
	}
	if ev, err := decodeEvent(rawEvent{name: "other", data: "x"}, true); ev != nil || err != nil {
		t.Errorf("an unknown event: %+v, %v; want it ignored", ev, err)
	}
	if _, err := Verify(env.Key, []byte(bad)); !IsRefused(err) || !strings.Contains(err.Error(), "refused the record the gateway served") {
		t.Errorf("Verify of an altered record: %v", err)
	}
}
