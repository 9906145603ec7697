package leveldbstore_test

import (
	"os"
	"testing"

	"github.com/netabase/netabase/backends/leveldbstore"
	"github.com/netabase/netabase/conformance/crashdriver"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

func TestMain(m *testing.M) {
	crashdriver.ServeChild(leveldbstore.Driver())
	os.Exit(m.Run())
}

func TestDisk(t *testing.T) {
	storetest.Disk(t, leveldbstore.Driver(), storetest.CorruptFiles("MANIFEST-*"))
}

func TestURLs(t *testing.T) {
	storetest.URLs(t, leveldbstore.ParseURL, []storetest.URLCase[leveldbstore.Options]{
		{URL: "leveldb:///var/db", Want: &leveldbstore.Options{Path: "/var/db"}},
		{URL: "leveldb:///var/db/?sync=true", Want: &leveldbstore.Options{Path: "/var/db", Sync: true}},
		{URL: "leveldb:///var/db?sync=false&cache=64MiB", Want: &leveldbstore.Options{Path: "/var/db", CacheSize: 64 << 20}},
		{URL: "leveldb:///var/db?gc=1h", Want: nil},
		{URL: "leveldb:///var/db?cache=1024", Want: &leveldbstore.Options{Path: "/var/db", CacheSize: 1024}},
		{URL: "leveldb://var/db", Want: nil},
		{URL: "leveldb://", Want: nil},
		{URL: "leveldb:relative", Want: nil},
		{URL: "leveldb:///var/db?sync=maybe", Want: nil},
		{URL: "leveldb:///var/db?cache=lots", Want: nil},
		{URL: "leveldb:///var/db?sync=true&sync=false", Want: nil},
		{URL: "leveldb:///var/db?synk=true", Want: nil},
	})
}

func BenchmarkBackend(b *testing.B) {
	storetest.Bench(b, leveldbstore.Driver(), "leveldb:///unused")
}
