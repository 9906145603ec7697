package pebblestore_test

import (
	"os"
	"testing"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/conformance/crashdriver"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

func TestMain(m *testing.M) {
	crashdriver.ServeChild(pebblestore.Driver())
	os.Exit(m.Run())
}

func TestDisk(t *testing.T) {
	storetest.Disk(t, pebblestore.Driver(), storetest.CorruptFiles("MANIFEST-*"))
}

func TestURLs(t *testing.T) {
	storetest.URLs(t, pebblestore.ParseURL, []storetest.URLCase[pebblestore.Options]{
		{URL: "pebble:///var/db", Want: &pebblestore.Options{Path: "/var/db"}},
		{URL: "pebble:///var/db/?sync=true", Want: &pebblestore.Options{Path: "/var/db", Sync: true}},
		{URL: "pebble:///var/db?sync=false&cache=64MiB", Want: &pebblestore.Options{Path: "/var/db", CacheSize: 64 << 20}},
		{URL: "pebble:///var/db?cache=1024", Want: &pebblestore.Options{Path: "/var/db", CacheSize: 1024}},
		{URL: "pebble://var/db", Want: nil},
		{URL: "pebble://", Want: nil},
		{URL: "pebble:relative", Want: nil},
		{URL: "pebble:///var/db?sync=maybe", Want: nil},
		{URL: "pebble:///var/db?cache=lots", Want: nil},
		{URL: "pebble:///var/db?sync=true&sync=false", Want: nil},
		{URL: "pebble:///var/db?synk=true", Want: nil},
	})
}

func BenchmarkBackend(b *testing.B) {
	storetest.Bench(b, pebblestore.Driver(), "pebble:///unused")
}
