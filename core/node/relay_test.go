package node_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// recordingConn is a replica.Conn that keeps what is written to it and
// has nothing to read.
type recordingConn struct {
	written bytes.Buffer
	closed  bool
}

func (c *recordingConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *recordingConn) Write(b []byte) (int, error)      { return c.written.Write(b) }
func (c *recordingConn) CloseWrite() error                { c.closed = true; return nil }
func (c *recordingConn) SetReadDeadline(time.Time) error  { return nil }
func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }

// TestRespondToAnEndedSession: a first message that carries an error (the
// client ended the session before it began, as a refusal does) gets no
// answer, and Respond returns an error that tells it; a first message of
// another collection is refused with an error message.
func TestRespondToAnEndedSession(t *testing.T) {
	ctx := nodetest.Context(t)
	n := nodetest.Start(t, nodetest.Config(t))
	s, err := n.JoinSync(ctx, replica.Settings{Name: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := peer.IDFromPrivateKey(priv)

	c := &recordingConn{}
	_, err = s.Respond(ctx, c, client, &replica.Message{Error: "the client gave up"})
	if err == nil || !strings.Contains(err.Error(), "the client gave up") {
		t.Errorf("Respond to a first message carrying an error: %v; want an error that tells it", err)
	}
	if c.written.Len() != 0 {
		t.Errorf("Respond answered a session the client had ended: %d bytes", c.written.Len())
	}

	c = &recordingConn{}
	_, err = s.Respond(ctx, c, client, &replica.Message{Collection: "other"})
	if err == nil || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("Respond to a first message of another collection: %v", err)
	}
	m, _, rerr := replica.ReadMessage(&c.written)
	if rerr != nil || !strings.Contains(m.Error, `"other"`) || !c.closed {
		t.Errorf("the refusal of another collection: %+v, %v, closed %v; want an error message naming it", m, rerr, c.closed)
	}
}
