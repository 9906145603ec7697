package pgtest_test

import (
	"strings"
	"testing"

	"github.com/netabase/netabase/internal/testkit/pgtest"
)

// TestServer starts a server, writes a row, kills the server and restarts
// it: the committed row is still there after crash recovery.
func TestServer(t *testing.T) {
	s := pgtest.Start(t)
	ctx := t.Context()
	s.Psql(ctx, "", "CREATE TABLE t (k int PRIMARY KEY); INSERT INTO t VALUES (42)")
	if got := s.Psql(ctx, "", "SHOW fsync"); strings.TrimSpace(got) != "on" {
		t.Errorf("fsync is %q; the server must run with fsync on", got)
	}
	s.Kill()
	s.Restart()
	if got := strings.TrimSpace(s.Psql(ctx, "", "SELECT k FROM t")); got != "42" {
		t.Errorf("after a kill and restart the table holds %q; want 42", got)
	}
}
