package node_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// TestPlainErrors: what users read is one sentence, without the sentinel
// errors' texts in front, and errors.Is still tells the kind.
func TestPlainErrors(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	stranger, err := peer.Decode("12D3KooWGRUVh7TmVTNNfckbuMsL4tH2Bu1fvWBFBFNsG3gXvs7q")
	if err != nil {
		t.Fatal(err)
	}
	key := envelope.Key(n.ID(), "x")
	_, modeErr := node.ParseMode("bogus")
	_, putErr := n.PutRecord(ctx, key, []byte("not an envelope"))
	for _, tc := range []struct {
		err   error
		kind  error
		start string
	}{
		{modeErr, core.ErrInvalidKey, `"bogus" is not a DHT mode`},
		{n.Disconnect(stranger), core.ErrNotFound, "not connected to " + stranger.String()},
		{node.ErrNetabaseOnIPFS, core.ErrUnsupported, "netabase records need a netabase network"},
		{putErr, core.ErrRejected, "record " + key + " is not a well-formed envelope"},
	} {
		if tc.err == nil {
			t.Errorf("no error; want one starting with %q", tc.start)
			continue
		}
		msg := tc.err.Error()
		if !errors.Is(tc.err, tc.kind) || !strings.HasPrefix(msg, tc.start) {
			t.Errorf("error %q (kind %v); want it to start with %q", msg, tc.kind, tc.start)
		}
		for _, internal := range []string{"invalid key", "datastore:", "not supported by this backend", "rejected"} {
			if strings.Contains(msg, internal) {
				t.Errorf("error %q says %q", msg, internal)
			}
		}
		if strings.Count(msg, key) > 1 {
			t.Errorf("error %q names the record twice", msg)
		}
	}
}
