package control_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/netabase/netabase/core/apijson"
	"github.com/netabase/netabase/internal/control"
)

// TestEnvelopeJSON: the control API's envelope gives apijson's fields and
// the logical counter as clock_logical, left out when 0.
func TestEnvelopeJSON(t *testing.T) {
	fields := apijson.Envelope{Owner: "12D3KooW", Name: "notes", Schema: "text/plain", Version: 3, Clock: time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)}
	const common = `{"owner":"12D3KooW","name":"notes","schema":"text/plain","version":3,"clock":"2026-12-07T23:00:00Z"`
	for _, c := range []struct {
		e    control.Envelope
		want string
	}{
		{control.Envelope{Envelope: fields}, common + `}`},
		{control.Envelope{Envelope: fields, Logical: 2}, common + `,"clock_logical":2}`},
	} {
		got, err := json.Marshal(c.e)
		if err != nil || string(got) != c.want {
			t.Errorf("%+v: %s %v, want %s", c.e, got, err, c.want)
		}
	}
}
