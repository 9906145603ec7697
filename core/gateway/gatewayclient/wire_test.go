package gatewayclient_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/netabase/netabase/core/apijson"
	"github.com/netabase/netabase/core/gateway/gatewayclient"
)

// TestEnvelopeJSON: the gateway's envelope gives apijson's fields, the
// logical counter as logical (0 too) and the payload.
func TestEnvelopeJSON(t *testing.T) {
	e := gatewayclient.EnvelopeJSON{
		Envelope: apijson.Envelope{Owner: "12D3KooW", Name: "notes", Schema: "text/plain", Version: 3, Clock: time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)},
		Value:    []byte("hi"),
	}
	const want = `{"owner":"12D3KooW","name":"notes","schema":"text/plain","version":3,"clock":"2026-12-07T23:00:00Z","logical":0,"value":"aGk="}`
	got, err := json.Marshal(e)
	if err != nil || string(got) != want {
		t.Errorf("%+v: %s %v, want %s", e, got, err, want)
	}
}
