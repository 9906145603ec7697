package badgerstore_test

import (
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/netabase/netabase/backends/badgerstore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/storetest"
)

func TestMain(m *testing.M) {
	if storetest.IsChild() {
		storetest.RunChild(badgerstore.Driver())
	}
	os.Exit(m.Run())
}

func TestDisk(t *testing.T) {
	storetest.Disk(t, badgerstore.Driver(), storetest.CorruptFiles("MANIFEST"))
}

func TestURLs(t *testing.T) {
	const gc = badgerstore.DefaultGCInterval
	for _, tc := range []struct {
		url  string
		want *badgerstore.Options // nil: an ErrInvalidURL
	}{
		{"badger:///var/db", &badgerstore.Options{Path: "/var/db", GCInterval: gc}},
		{"badger:///var/db/?sync=true", &badgerstore.Options{Path: "/var/db", Sync: true, GCInterval: gc}},
		{"badger:///var/db?sync=false&gc=1h", &badgerstore.Options{Path: "/var/db", GCInterval: time.Hour}},
		{"badger:///var/db?gc=0", &badgerstore.Options{Path: "/var/db"}},
		{"badger://var/db", nil},
		{"badger://", nil},
		{"badger:relative", nil},
		{"badger:///var/db?sync=maybe", nil},
		{"badger:///var/db?gc=often", nil},
		{"badger:///var/db?gc=-1m", nil},
		{"badger:///var/db?sync=true&sync=false", nil},
		{"badger:///var/db?cache=1MiB", nil},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := badgerstore.ParseURL(u)
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
