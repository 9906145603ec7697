package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/page"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/control"
)

// TestSyncStatusPages: a page (core/page over a memory store) connected
// to a daemon's gateway sync endpoint is listed by sync status beside the
// libp2p peers, with its figures, and in --json; its record is listed by
// sync list with the page's peer ID as writer; once the page goes, it is
// no longer listed.
func TestSyncStatusPages(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://", "--gateway", "127.0.0.1:0", "--gateway-sync")
	m := regexp.MustCompile(`(?m)^Gateway: +http://(\S+) `).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("the banner gives no gateway:\n%s", d.out.String())
	}
	d.cli(t, ctx, "sync", "join", "notes")

	u, _ := url.Parse("memory://")
	b, err := core.OpenURL(ctx, memstore.Driver(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := page.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := p.JoinSync(ctx, replica.Settings{Name: "notes"}, page.SyncOptions{Daemons: []string{"ws://" + m[1] + "/v1/sync/notes/ws"}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "hello", []byte("from the page")); err != nil {
		t.Fatal(err)
	}
	if peers, err := s.CaughtUp(ctx, 20*time.Second); err != nil || len(peers) != 1 {
		t.Fatalf("the page did not catch up with the daemon: %v, %v", peers, err)
	}

	// The page's record, with the page as its writer.
	list := waitFor(t, ctx, func() string { return d.cli(t, ctx, "sync", "list", "notes") }, "from the page")
	if !regexp.MustCompile(`(?m)^` + p.ID().String() + ` +hello +\S+ +from the page$`).MatchString(list) {
		t.Errorf("sync list does not give the page %s as the writer of its record:\n%s", p.ID(), list)
	}

	// Listed while connected, once its session and its live record are
	// counted on the daemon's side.
	status := func() control.SyncStatus {
		var st control.SyncStatus
		if err := json.Unmarshal([]byte(d.cli(t, ctx, "sync", "status", "notes", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	pages := func() string {
		st := status()
		var out []string
		for _, pg := range st.Pages {
			out = append(out, fmt.Sprintf("%s sessions>0 %v records_in>0 %v bytes %v", pg.ID, pg.Sessions > 0, pg.RecordsIn > 0, pg.BytesIn > 0 && pg.BytesOut > 0))
		}
		return fmt.Sprintf("%d pages: %s", len(st.Pages), strings.Join(out, "; "))
	}
	waitFor(t, ctx, pages, fmt.Sprintf("1 pages: %s sessions>0 true records_in>0 true bytes true", p.ID()))
	st := status()
	if pg := st.Pages[0]; !strings.HasPrefix(pg.Remote, "127.0.0.1:") || pg.Since.IsZero() || time.Since(pg.Since) > time.Minute {
		t.Errorf("the page's entry: %+v", pg)
	}
	out := d.cli(t, ctx, "sync", "status", "notes")
	if !regexp.MustCompile(`(?m)^  PAGE +REMOTE +CONNECTED SINCE +SESSIONS +RECORDS IN +RECORDS OUT +BYTES IN +BYTES OUT$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^  `+p.ID().String()+` +127\.0\.0\.1:\d+ +\S+ +[1-9]\d* +[1-9]\d* +\d+ +[1-9]\d* B +[1-9]\d* B$`).MatchString(out) ||
		!strings.Contains(out, "LAST RECONCILED") {
		t.Errorf("sync status does not list the page beside the peers:\n%s", out)
	}

	// Gone once it disconnects.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, pages, "0 pages: ")
	if out := d.cli(t, ctx, "sync", "status", "notes"); strings.Contains(out, "PAGE") {
		t.Errorf("a page that went is still listed:\n%s", out)
	}
}
