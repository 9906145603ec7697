package main

import (
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/internal/testkit/pgtest"
)

// TestBadOptions: a dsn with a password, a dsn that is no connection
// string, and a table of another shape are refused with errors that say so.
func TestBadOptions(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"host=/tmp dbname=x password=secret", "holds a password"},
		{"postgres://user:secret@db.example/x", "holds a password"},
		{"postgres://db.example/x?password=secret", "holds a password"},
		{"host=/tmp port=notanumber", "not a PostgreSQL connection string"},
	} {
		if _, err := newSettings(tc.dsn, "public", "t", false, time.Second, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("dsn %q: got %v, want an error saying %q", tc.dsn, err, tc.want)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("dsn %q: the error shows the password: %v", tc.dsn, err)
		}
	}

	srv := pgtest.Start(t)
	srv.Psql(t.Context(), "", "CREATE TABLE public.other (key text PRIMARY KEY, value text)")
	c, err := newSettings(srv.DSN(""), "public", "other", false, 10*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := openStore(t.Context(), c); err == nil {
		s.Close()
		t.Error("a table of text columns was opened as a store")
	} else if !strings.Contains(err.Error(), "is not a netabase store") {
		t.Errorf("a table of text columns: got %v, want an error saying it is not a netabase store", err)
	}
}
