package leveldbstore_test

import (
	"errors"
	"net/url"
	"os"
	"testing"

	"github.com/netabase/netabase/backends/leveldbstore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/storetest"
)

func TestMain(m *testing.M) {
	if storetest.IsChild() {
		storetest.RunChild(leveldbstore.Driver())
	}
	os.Exit(m.Run())
}

func TestDisk(t *testing.T) {
	storetest.Disk(t, leveldbstore.Driver(), storetest.CorruptFiles("MANIFEST-*"))
}

func TestURLs(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want *leveldbstore.Options // nil: an ErrInvalidURL
	}{
		{"leveldb:///var/db", &leveldbstore.Options{Path: "/var/db"}},
		{"leveldb:///var/db/?sync=true", &leveldbstore.Options{Path: "/var/db", Sync: true}},
		{"leveldb:///var/db?sync=false&cache=64MiB", &leveldbstore.Options{Path: "/var/db", CacheSize: 64 << 20}},
		{"leveldb:///var/db?gc=1h", nil},
		{"leveldb:///var/db?cache=1024", &leveldbstore.Options{Path: "/var/db", CacheSize: 1024}},
		{"leveldb://var/db", nil},
		{"leveldb://", nil},
		{"leveldb:relative", nil},
		{"leveldb:///var/db?sync=maybe", nil},
		{"leveldb:///var/db?cache=lots", nil},
		{"leveldb:///var/db?sync=true&sync=false", nil},
		{"leveldb:///var/db?synk=true", nil},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := leveldbstore.ParseURL(u)
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
