package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/backends/all"
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
// a is down too while b restarts: a restarted node dials the peers it
// remembers at once, so b would otherwise catch up before its list shows
// what it kept.
//
// The values travel by the reconciliation the daemons run when they meet,
// which is deterministic; a record written while they are connected is
// pushed live over gossipsub, which is timing-dependent in its first
// seconds and so not waited for here.
func TestSyncTwoDaemons(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Both on pebble in their data directories: kept across restarts.
	a, b := startDaemon(t, ctx), startDaemon(t, ctx)
	if out, errOut := a.cliBoth(t, ctx, "sync", "join", "chat"); out != "" || !strings.HasPrefix(errOut, "Joined chat (any peer may write); it holds 0 records.") {
		t.Errorf("join printed %q, said %q", out, errOut)
	}
	b.cli(t, ctx, "sync", "join", "chat")
	if _, errOut := a.cliBoth(t, ctx, "sync", "put", "chat", "greeting", "hello\tthere"); !strings.HasSuffix(errOut, "; no peer shares chat now, so peers get it when they next reconcile.\n") {
		t.Errorf("a put with no peer in the topic said %q", errOut)
	}
	b.cli(t, ctx, "connect", a.addr)
	list := waitFor(t, ctx, func() string { return b.cli(t, ctx, "sync", "list", "chat") }, `"hello\tthere"`)
	if lines := strings.Split(strings.TrimSpace(list), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "WRITER") ||
		strings.Join(strings.Fields(normalise(lines[1])), " ") != `<peer> greeting <time> "hello\tthere"` {
		t.Errorf("b's list:\n%s", list)
	}

	// b goes away; a removes greeting and writes later; b comes back,
	// joins chat again from its configuration and catches up.
	b.shutdown(t)
	a.cli(t, ctx, "sync", "rm", "chat", "greeting")
	a.cli(t, ctx, "sync", "put", "chat", "later", "written while b was away")
	a.shutdown(t)
	b = startDaemonIn(t, ctx, b.dir)
	if !strings.Contains(b.out.String(), "\nSynced:     chat\n") {
		t.Errorf("the restarted daemon did not say it joined chat:\n%s", b.out.String())
	}
	if out := b.cli(t, ctx, "sync", "list", "chat"); !strings.Contains(out, "greeting") {
		t.Errorf("the restarted daemon lost its replica:\n%s", out)
	}
	a = startDaemonIn(t, ctx, a.dir)
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
	// b shares the topic with a now: a put is sent to it at once.
	waitFor(t, ctx, func() string {
		var st control.SyncStatus
		if err := json.Unmarshal([]byte(a.cli(t, ctx, "sync", "status", "chat", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d in the topic", len(st.TopicPeers))
	}, "1 in the topic")
	if _, errOut := a.cliBoth(t, ctx, "sync", "put", "chat", "hi", "b"); !strings.HasSuffix(errOut, "; sent to 1 peer sharing it, the others get it when they next reconcile.\n") {
		t.Errorf("a put with b in the topic said %q", errOut)
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

// TestSyncRmOthersKey: sync rm of a key this node holds no value of (only
// another writer's, or nothing at all) fails saying whose values the key
// holds, and writes no tombstone; this node's own value is removed.
func TestSyncRmOthersKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a := startDaemon(t, ctx, "--storage", "memory://")
	b := startDaemon(t, ctx, "--storage", "memory://")
	idB := b.addr[strings.LastIndex(b.addr, "/p2p/")+len("/p2p/"):]
	a.cli(t, ctx, "sync", "join", "notes")
	b.cli(t, ctx, "sync", "join", "notes")
	b.cli(t, ctx, "sync", "put", "notes", "shopping", "b's list")
	a.cli(t, ctx, "connect", b.addr)
	waitFor(t, ctx, func() string { return a.cli(t, ctx, "sync", "list", "notes") }, "b's list")

	rm := func(key, want string) {
		t.Helper()
		code, out, errOut := runIn(ctx, nil, "sync", "rm", "notes", key, "--data-dir", a.dir)
		if code != 1 || out != "" || !strings.Contains(errOut, want) || strings.Contains(errOut, "Removed") {
			t.Errorf("sync rm notes %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", key, code, out, errOut, want)
		}
	}
	rm("shopping", "notes holds no value of this node's for shopping, so nothing was removed; it holds the value of "+idB+", which only that writer can remove")
	rm("nosuchkey", "notes holds no value of this node's for nosuchkey, so nothing was removed; no writer's value for it is here")
	tombstones := func() int {
		var st control.SyncStatus
		if err := json.Unmarshal([]byte(a.cli(t, ctx, "sync", "status", "notes", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st.Tombstones
	}
	if n := tombstones(); n != 0 {
		t.Errorf("the refused removals wrote %d tombstones", n)
	}

	// a's own value is removed; removing it again is refused.
	a.cli(t, ctx, "sync", "put", "notes", "shopping", "a's list")
	if _, errOut := a.cliBoth(t, ctx, "sync", "rm", "notes", "shopping"); !strings.HasPrefix(errOut, "Removed shopping from notes;") {
		t.Errorf("removing a's own value said %q", errOut)
	}
	rm("shopping", "it holds the value of "+idB+",")
	if n := tombstones(); n != 1 {
		t.Errorf("a's replica holds %d tombstones; want the one of its removal", n)
	}
	if list := a.cli(t, ctx, "sync", "list", "notes"); strings.Contains(list, "a's list") || !strings.Contains(list, "b's list") {
		t.Errorf("after the removal a lists:\n%s", list)
	}
}

// TestSyncJoinBounds: sync join's bound flags reach the daemon, which
// keeps them in config.toml and shows them in the status; a join of the
// collection with other bounds is refused, naming the fields.
func TestSyncJoinBounds(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://")
	d.cli(t, ctx, "sync", "join", "log", "--max-records-per-writer", "10", "--tombstone-horizon", "90m")
	var st control.SyncStatus
	if err := json.Unmarshal([]byte(d.cli(t, ctx, "sync", "status", "log", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Settings.MaxRecordsPerWriter != 10 || st.Settings.TombstoneHorizon != 90*time.Minute || st.Settings.MaxRecords != replica.DefaultMaxRecords {
		t.Errorf("status: %+v", st.Settings)
	}
	if out := d.cli(t, ctx, "sync", "status", "log"); !strings.Contains(out, "\n  bounds       max_records_per_writer 10, max_bytes_per_writer 268435456, max_records 1000000, max_bytes 1073741824, tombstone_horizon 1h30m\n") {
		t.Errorf("status printed:\n%s", out)
	}
	c, err := config.Load(filepath.Join(d.dir, config.FileName))
	if err != nil || len(c.Sync) != 1 || c.Sync[0].MaxRecordsPerWriter != 10 || c.Sync[0].TombstoneHorizon != 90*time.Minute || c.Sync[0].MaxBytes != 0 {
		t.Errorf("the configuration keeps %+v, %v", c.Sync, err)
	}
	code, _, errOut := runIn(ctx, nil, "sync", "join", "log", "--data-dir", d.dir)
	if code != 1 || !strings.Contains(errOut, "max_records_per_writer is 100000 there and 10 here; tombstone_horizon is 720h there and 1h30m here") {
		t.Errorf("a join with other bounds: exit %d, %s", code, errOut)
	}
}

// TestSyncListValues: sync list shows each value on one line with the time
// it was written: text as it is, cut when long; binary as its size and
// first bytes; CBOR, with --cbor, as JSON; --json as stored. get guards a
// terminal from a binary value the same way and gives its bytes to a pipe.
func TestSyncListValues(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://")
	d.cli(t, ctx, "sync", "join", "notes")
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 500<<10-8)...)
	shopping, err := cbor.Marshal(map[string]any{"item": "milk", "count": 2})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("ab", 150)
	for name, value := range map[string][]byte{"image": png, "shopping": shopping, "long": []byte(long)} {
		file := filepath.Join(d.dir, name)
		if err := os.WriteFile(file, value, 0o600); err != nil {
			t.Fatal(err)
		}
		d.cli(t, ctx, "sync", "put", "notes", name, "@"+file)
	}
	before := time.Now().Truncate(time.Second)
	d.cli(t, ctx, "sync", "put", "notes", "greeting", "hello")
	after := time.Now()

	rows := func(args ...string) map[string][]string {
		t.Helper()
		out := d.cli(t, ctx, append([]string{"sync", "list", "notes"}, args...)...)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 5 || strings.Join(strings.Fields(lines[0]), " ") != "WRITER KEY WRITTEN VALUE" {
			t.Fatalf("sync list %q printed %d lines, beginning %.300q", args, len(lines), out)
		}
		byKey := make(map[string][]string)
		for _, l := range lines[1:] {
			f := strings.SplitN(strings.Join(strings.Fields(l), " "), " ", 4)
			byKey[f[1]] = f
		}
		return byKey
	}
	got := rows()
	if written, err := time.Parse(time.RFC3339, got["greeting"][2]); err != nil || written.Before(before) || written.After(after) {
		t.Errorf("greeting is shown written at %q (%v), not between %s and %s", got["greeting"][2], err, before, after)
	}
	for key, want := range map[string]string{
		"greeting": "hello",
		"image":    "<500 KB binary: 89504e470d0a1a0a…>",
		"long":     long[:100] + "… (300 bytes)",
		"shopping": fmt.Sprintf("<%d bytes binary: %x…>", len(shopping), shopping[:8]),
	} {
		if got[key][3] != want {
			t.Errorf("sync list shows %s as %q, want %q", key, got[key][3], want)
		}
	}
	if _, said := d.cliBoth(t, ctx, "sync", "list", "notes"); !strings.Contains(said, "--cbor shows them as JSON") {
		t.Errorf("sync list of a CBOR value did not mention --cbor: %q", said)
	}
	got = rows("--cbor")
	for key, want := range map[string]string{
		"greeting": "hello", // not CBOR: shown as text
		"shopping": `{"count":2,"item":"milk"}`,
	} {
		if got[key][3] != want {
			t.Errorf("sync list --cbor shows %s as %q, want %q", key, got[key][3], want)
		}
	}
	var recs []control.SyncRecord
	if err := json.Unmarshal([]byte(d.cli(t, ctx, "sync", "list", "notes", "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Key == "image" && !bytes.Equal(r.Value, png) {
			t.Errorf("sync list --json changed the binary value")
		}
	}

	small := png[:2048]
	file := filepath.Join(d.dir, "small")
	if err := os.WriteFile(file, small, 0o600); err != nil {
		t.Fatal(err)
	}
	d.cli(t, ctx, "put", "picture", "@"+file)
	if got := d.cli(t, ctx, "get", "picture"); got != string(small) {
		t.Errorf("get in a pipe gave %d bytes, not the value's %d", len(got), len(small))
	}
	var onTerminal, said bytes.Buffer
	e := &env{stdout: &onTerminal, stderr: &said, stdoutTerminal: true, registry: all.Registry()}
	if code := execute(ctx, e, []string{"get", "picture", "--data-dir", d.dir}); code != 0 ||
		onTerminal.String() != "<2 KB binary: 89504e470d0a1a0a…>\n" || !strings.Contains(said.String(), "redirect stdout") {
		t.Errorf("get of a binary value on a terminal: exit %d, %q, said %q", code, onTerminal.String(), said.String())
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
		{[]string{"sync", "join", "chat", "--max-records", "many"}, 2, `--max-records: "many" is not a whole number`},
		{[]string{"sync", "join", "chat", "--max-bytes", "-1"}, 2, `--max-bytes: is -1; give a positive bound, or 0 for the default 1073741824`},
		{[]string{"sync", "join", "chat", "--tombstone-horizon", "a month"}, 2, `--tombstone-horizon: "a month" is not a duration`},
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
