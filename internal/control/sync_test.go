package control_test

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/control"
)

// TestSyncAPI drives a synced collection through the control API of one
// node, and checks that joins and leaves are kept in the configuration.
func TestSyncAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := shortDir(t)
	cfg := filepath.Join(dir, config.FileName)
	if err := os.WriteFile(cfg, []byte("mdns = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, ctx, dir, node.ModeServer)
	api := control.NewServer(dir, slog.New(slog.NewTextHandler(t.Output(), nil)))
	api.KeepSyncIn(cfg)
	api.Ready(n)
	c := serveAPI(t, ctx, api, dir)
	self := n.ID().String()

	for _, req := range []control.SyncJoinRequest{join("a b"), join(""), join("chat", "nobody"), {Settings: replica.Settings{Name: "chat", MaxBytes: -1}}} {
		if _, err := c.SyncJoin(ctx, req); !errors.Is(err, core.ErrInvalidKey) {
			t.Errorf("join %+v: %v; want an invalid request", req, err)
		}
	}
	if _, err := c.SyncPut(ctx, "chat", "k", []byte("v")); !errors.Is(err, node.ErrNotJoined) {
		t.Errorf("put before joining: %v", err)
	}
	st, err := c.SyncJoin(ctx, join("chat", n.ID()))
	if err != nil || st.Name != "chat" || st.Open || len(st.Settings.Writers) != 1 || st.Settings.Writers[0] != n.ID() {
		t.Fatalf("join: %+v, %v", st, err)
	}
	if _, err := c.SyncJoin(ctx, join("chat")); err == nil {
		t.Error("joining again with other writers was accepted")
	}
	// The bounds travel with the settings: the status gives them, every
	// bound given, and their digest; a join of the collection with other
	// bounds is refused, naming the fields that differ.
	open := join("open")
	open.Settings.MaxRecordsPerWriter, open.Settings.TombstoneHorizon = 10, time.Hour
	st, err = c.SyncJoin(ctx, open)
	want, _ := open.Settings.Normalize()
	if d := want.Digest(); err != nil || !reflect.DeepEqual(st.Settings, want) || st.Digest != hex.EncodeToString(d[:]) ||
		st.Settings.MaxRecordsPerWriter != 10 || st.Settings.MaxRecords != replica.DefaultMaxRecords || st.Settings.TombstoneHorizon != time.Hour {
		t.Fatalf("join with bounds: %+v, %v; want the settings %+v", st, err, want)
	}
	open.Settings.MaxRecordsPerWriter = 0
	if _, err := c.SyncJoin(ctx, open); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "max_records_per_writer is 100000 there and 10 here") {
		t.Errorf("joining again with other bounds: %v", err)
	}
	if got := syncedIn(t, cfg); len(got) != 2 || got[0].Name != "chat" || len(got[0].Writers) != 1 || got[1].Name != "open" ||
		got[1].MaxRecordsPerWriter != 10 || got[1].TombstoneHorizon != time.Hour || got[1].MaxRecords != 0 {
		t.Errorf("the configuration keeps %+v", got)
	}

	rec, err := c.SyncPut(ctx, "chat", "greeting", []byte("hi"))
	if err != nil || rec.Writer != self || rec.Key != "greeting" || rec.Version != 1 || string(rec.Value) != "hi" || rec.Clock.IsZero() {
		t.Fatalf("put: %+v, %v", rec, err)
	}
	if recs, err := c.SyncRecords(ctx, "chat"); err != nil || len(recs) != 1 || recs[0].Key != "greeting" || string(recs[0].Value) != "hi" {
		t.Errorf("records: %+v, %v", recs, err)
	}
	if err := c.SyncDelete(ctx, "chat", "greeting"); err != nil {
		t.Fatal(err)
	}
	if recs, err := c.SyncRecords(ctx, "chat"); err != nil || len(recs) != 0 {
		t.Errorf("records after the delete: %+v, %v", recs, err)
	}
	if st, err := c.SyncStatus(ctx, "chat"); err != nil || st.Records != 0 || st.Tombstones != 1 || st.Peers == nil {
		t.Errorf("status: %+v, %v", st, err)
	}
	if all, err := c.SyncStatuses(ctx); err != nil || len(all) != 2 || all[0].Name != "chat" || all[1].Name != "open" {
		t.Errorf("statuses: %+v, %v", all, err)
	}

	if err := c.SyncLeave(ctx, "chat"); err != nil {
		t.Fatal(err)
	}
	if err := c.SyncLeave(ctx, "chat"); !errors.Is(err, node.ErrNotJoined) {
		t.Errorf("leaving twice: %v", err)
	}
	if _, err := c.SyncStatus(ctx, "chat"); !errors.Is(err, node.ErrNotJoined) {
		t.Errorf("status after leaving: %v", err)
	}
	if got := syncedIn(t, cfg); len(got) != 1 || got[0].Name != "open" {
		t.Errorf("after leaving, the configuration keeps %+v", got)
	}
	if c, err := config.Load(cfg); err != nil || c.MDNS {
		t.Errorf("the configuration's other keys changed: %+v, %v", c, err)
	}
}

// join asks to join the collection name with writers.
func join(name string, writers ...peer.ID) control.SyncJoinRequest {
	return control.SyncJoinRequest{Settings: replica.Settings{Name: name, Writers: writers}}
}

func syncedIn(t *testing.T, path string) []config.Sync {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c.Sync
}

// TestNamesWithControlCharacters: a record name, a record key's name or a
// synced record's key holding a control character is refused as invalid
// by put, get and sync put, before anything is stored or looked up; a
// record held under such a name can still be removed.
func TestNamesWithControlCharacters(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := shortDir(t)
	n := startNode(t, ctx, dir, node.ModeServer)
	c := serve(t, ctx, n, dir)
	syn, err := n.JoinSync(ctx, replica.Settings{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	key := envelope.Key(n.ID(), "a\x00b")
	for what, call := range map[string]func() error{
		"put of a name": func() error {
			_, err := c.Put(ctx, control.PutRequest{Name: "a\x00b", Value: []byte("v")})
			return err
		},
		"put of a key": func() error {
			_, err := c.Put(ctx, control.PutRequest{Key: key, Value: []byte("v")})
			return err
		},
		"get": func() error {
			_, err := c.Get(ctx, key)
			return err
		},
		"sync put": func() error {
			_, err := c.SyncPut(ctx, "notes", "k\x07", []byte("v"))
			return err
		},
	} {
		if err := call(); !errors.Is(err, core.ErrInvalidKey) || !strings.Contains(err.Error(), "holds the control character") {
			t.Errorf("%s: %v; want it refused for its control character", what, err)
		}
	}
	if recs, err := c.Records(ctx, envelope.Namespace); err != nil || len(recs) != 0 {
		t.Errorf("records: %+v, %v; want none", recs, err)
	}
	if recs, err := c.SyncRecords(ctx, "notes"); err != nil || len(recs) != 0 {
		t.Errorf("synced records: %+v, %v; want none", recs, err)
	}

	// Records held under such names, which peers may send, are removed.
	if _, err := n.Publish(ctx, "a\x00b", "bytes", 1, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, key); err != nil {
		t.Errorf("remove: %v", err)
	}
	if _, err := syn.Put(ctx, "k\x07", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := c.SyncDelete(ctx, "notes", "k\x07"); err != nil {
		t.Errorf("sync rm: %v", err)
	}
	if recs, err := c.SyncRecords(ctx, "notes"); err != nil || len(recs) != 0 {
		t.Errorf("synced records after the removal: %+v, %v; want none", recs, err)
	}
}
