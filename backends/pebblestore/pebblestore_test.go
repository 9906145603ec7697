package pebblestore_test

import (
	"errors"
	"net/url"
	"os"
	"testing"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/storetest"
)

func TestMain(m *testing.M) {
	if storetest.IsChild() {
		storetest.RunChild(pebblestore.Driver())
	}
	os.Exit(m.Run())
}

func TestDisk(t *testing.T) {
	storetest.Disk(t, pebblestore.Driver(), storetest.CorruptFiles("MANIFEST-*"))
}

func TestURLs(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want *pebblestore.Options // nil: an ErrInvalidURL
	}{
		{"pebble:///var/db", &pebblestore.Options{Path: "/var/db"}},
		{"pebble:///var/db/?sync=true", &pebblestore.Options{Path: "/var/db", Sync: true}},
		{"pebble:///var/db?sync=false&cache=64MiB", &pebblestore.Options{Path: "/var/db", CacheSize: 64 << 20}},
		{"pebble:///var/db?cache=1024", &pebblestore.Options{Path: "/var/db", CacheSize: 1024}},
		{"pebble://var/db", nil},
		{"pebble://", nil},
		{"pebble:relative", nil},
		{"pebble:///var/db?sync=maybe", nil},
		{"pebble:///var/db?cache=lots", nil},
		{"pebble:///var/db?sync=true&sync=false", nil},
		{"pebble:///var/db?synk=true", nil},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pebblestore.ParseURL(u)
		if tc.want == nil {
			if !errors.Is(err, core.ErrInvalidURL) {
				t.Errorf("ParseURL(%s) = %+v, %v; want an error matching ErrInvalidURL", tc.url, got, err)
			}
			continue
		}
		if err != nil || *got != *tc.want {
			t.Errorf("ParseURL(%s) = %+v, %v; want %+v", tc.url, got, err, *tc.want)
		}
	}
}
