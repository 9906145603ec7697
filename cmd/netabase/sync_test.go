package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/control"
)

// TestSyncTwoDaemons: two daemons join a synced collection; a value one
// wrote reaches the other when they meet; a daemon restarted joins the
// collection again from config.toml and catches up with what was written
// and removed while it was away.
//
// The values travel by the reconciliation the daemons run when they meet,
// which is deterministic; a record written while they are connected is
// pushed live over gossipsub, which is timing-dependent in its first
// seconds and so not waited for here.
func TestSyncTwoDaemons(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a := startDaemon(t, ctx, "--storage", "memory://")
	b := startDaemon(t, ctx) // pebble in its data directory: kept across the restart
	if out, errOut := a.cliBoth(t, ctx, "sync", "join", "chat"); out != "" || !strings.HasPrefix(errOut, "Joined chat (any peer may write); it holds 0 records.") {
		t.Errorf("join printed %q, said %q", out, errOut)
	}
	b.cli(t, ctx, "sync", "join", "chat")
	a.cli(t, ctx, "sync", "put", "chat", "greeting", "hello\tthere")
	b.cli(t, ctx, "connect", a.addr)
	list := waitFor(t, ctx, func() string { return b.cli(t, ctx, "sync", "list", "chat") }, `"hello\tthere"`)
	if lines := strings.Split(strings.TrimSpace(list), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "WRITER") ||
		strings.Join(strings.Fields(normalise(lines[1])), " ") != `<peer> greeting 1 "hello\tthere"` {
		t.Errorf("b's list:\n%s", list)
	}

	// b goes away; a removes greeting and writes later; b comes back,
	// joins chat again from its configuration and catches up.
	b.shutdown(t)
	a.cli(t, ctx, "sync", "rm", "chat", "greeting")
	a.cli(t, ctx, "sync", "put", "chat", "later", "written while b was away")
	b = startDaemonIn(t, ctx, b.dir)
	if !strings.Contains(b.out.String(), "\nSynced:     chat\n") {
		t.Errorf("the restarted daemon did not say it joined chat:\n%s", b.out.String())
	}
	if out := b.cli(t, ctx, "sync", "list", "chat"); !strings.Contains(out, "greeting") {
		t.Errorf("the restarted daemon lost its replica:\n%s", out)
	}
	b.cli(t, ctx, "connect", a.addr)
	list = waitFor(t, ctx, func() string { return b.cli(t, ctx, "sync", "list", "chat") }, "written while b was away")
	if strings.Contains(list, "greeting") {
		t.Errorf("the removed value is still listed:\n%s", list)
	}
	var st control.SyncStatus
	if err := json.Unmarshal([]byte(b.cli(t, ctx, "sync", "status", "chat", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Name != "chat" || !st.Open || st.Records != 1 || st.Tombstones != 1 || len(st.Peers) != 1 || st.Peers[0].Sessions == 0 || st.Peers[0].Total.BytesReceived == 0 {
		t.Errorf("b's status: %+v", st)
	}
	if out := b.cli(t, ctx, "sync", "status"); !strings.HasPrefix(out, "chat\n  writers      any peer; records from 1 writer\n  records      1, 1 tombstones,") ||
		!strings.Contains(out, "LAST RECONCILED") {
		t.Errorf("status printed:\n%s", out)
	}

	b.cli(t, ctx, "sync", "leave", "chat")
	c, err := config.Load(filepath.Join(b.dir, config.FileName))
	if err != nil || len(c.Sync) != 0 {
		t.Errorf("after leaving, the configuration keeps %+v, %v", c.Sync, err)
	}
	code, _, errOut := runIn(ctx, nil, "sync", "list", "chat", "--data-dir", b.dir)
	if code != 1 || !strings.Contains(errOut, "has not joined the synced collection chat; join it with: netabase sync join chat") {
		t.Errorf("list after leaving: exit %d, %s", code, errOut)
	}
}

// waitFor calls get until what it returns contains want, and returns
// that; it fails the test when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, get func() string, want string) string {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got := get()
		if strings.Contains(got, want) {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("still no %q; last:\n%s", want, got)
		case <-tick.C:
		}
	}
}

func TestSyncUsage(t *testing.T) {
	dir := shortDir(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sync", "join"}, 2, "takes a collection name"},
		{[]string{"sync", "join", "a b"}, 2, `<name>: collection name "a b" holds a space`},
		{[]string{"sync", "join", "a/b"}, 2, `<name>: collection name "a/b" holds a "/"`},
		{[]string{"sync", "join", "chat", "--writer", "nobody"}, 2, `--writer: "nobody" is not a peer ID`},
		{[]string{"sync", "leave", ""}, 2, "<name>: a collection name is 1 to 128 bytes"},
		{[]string{"sync", "put", "chat", "k"}, 2, "takes a collection name, a key and a value"},
		{[]string{"sync", "put", "chat", "", "v"}, 2, "<key> is empty"},
		{[]string{"sync", "put", "chat", "k", "-"}, 2, "no standard input"},
		{[]string{"sync", "put", "chat", "k", "@/nonexistent/file"}, 2, "cannot read the value"},
		{[]string{"sync", "rm", "chat"}, 2, "takes a collection name and a key"},
		{[]string{"sync", "list"}, 2, "takes a collection name"},
		{[]string{"sync", "status", "a", "b"}, 2, "at most one collection name"},
		{[]string{"sync", "status", "a\tb"}, 2, "<name>:"},
		{[]string{"sync", "list", "chat"}, 1, "no netabase daemon is running"},
	} {
		code, _, errOut := runIn(t.Context(), nil, append(tc.args, "--data-dir", dir)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("netabase %q: exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// TestSyncRefusedCounted: a record a peer forged, sent in a reconciliation
// session, is refused and counted by its reason in sync status --json,
// stats --json and the metrics.
func TestSyncRefusedCounted(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://", "--metrics", "127.0.0.1:0")
	page := metricsURL(t, d.out.String())
	d.cli(t, ctx, "sync", "join", "chat")
	var st control.SyncStatus
	if err := json.Unmarshal([]byte(d.cli(t, ctx, "sync", "status", "chat", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	digest, err := hex.DecodeString(st.Digest)
	if err != nil {
		t.Fatal(err)
	}

	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := envelope.Seal(priv, "chat/forged", "chat", 1, envelope.Timestamp{Wall: time.Now().UnixNano()}, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	forged[len(forged)-1] ^= 0xff // in the signature
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	daemon, err := peer.AddrInfoFromString(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(ctx, *daemon); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, daemon.ID, node.SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hello := &replica.Message{Collection: "chat", Digest: digest, Ranges: []replica.Range{{Mode: replica.ModeList}},
		Records: []replica.WireRecord{{Key: []byte(e.Key), Envelope: forged}}}
	if _, err := replica.WriteMessage(s, hello); err != nil {
		t.Fatal(err)
	}
	if m, _, err := replica.ReadMessage(s); err != nil || !strings.Contains(m.Error, "signature") {
		t.Fatalf("the daemon answered a forged record with %+v, %v", m, err)
	}

	if err := json.Unmarshal([]byte(d.cli(t, ctx, "sync", "status", "chat", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Refused["signature"] != 1 || st.Refused["writer"] != 0 {
		t.Errorf("sync status counts the refused records %v, want signature 1", st.Refused)
	}
	var stats control.Stats
	if err := json.Unmarshal([]byte(d.cli(t, ctx, "stats", "--json")), &stats); err != nil {
		t.Fatal(err)
	}
	if len(stats.Synced) != 1 || stats.Synced[0].Refused["signature"] != 1 {
		t.Errorf("stats counts the refused records %+v, want signature 1", stats.Synced)
	}
	const series = `netabase_sync_refused_total{collection="chat",reason="signature"}`
	if got := scrape(t, page)[series]; got != 1 {
		t.Errorf("%s is %v, want 1", series, got)
	}
}
