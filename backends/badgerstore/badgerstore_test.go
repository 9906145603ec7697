package badgerstore_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	logging "github.com/ipfs/go-log/v2"

	"github.com/netabase/netabase/backends/badgerstore"
	"github.com/netabase/netabase/conformance/crashdriver"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

func TestMain(m *testing.M) {
	crashdriver.ServeChild(badgerstore.Driver())
	os.Exit(m.Run())
}

func TestDisk(t *testing.T) {
	storetest.Disk(t, badgerstore.Driver(), storetest.CorruptFiles("MANIFEST"))
}

func TestURLs(t *testing.T) {
	const gc = badgerstore.DefaultGCInterval
	storetest.URLs(t, badgerstore.ParseURL, []storetest.URLCase[badgerstore.Options]{
		{URL: "badger:///var/db", Want: &badgerstore.Options{Path: "/var/db", GCInterval: gc}},
		{URL: "badger:///var/db/?sync=true", Want: &badgerstore.Options{Path: "/var/db", Sync: true, GCInterval: gc}},
		{URL: "badger:///var/db?sync=false&gc=1h", Want: &badgerstore.Options{Path: "/var/db", GCInterval: time.Hour}},
		{URL: "badger:///var/db?gc=0", Want: &badgerstore.Options{Path: "/var/db"}},
		{URL: "badger://var/db", Want: nil},
		{URL: "badger://", Want: nil},
		{URL: "badger:relative", Want: nil},
		{URL: "badger:///var/db?sync=maybe", Want: nil},
		{URL: "badger:///var/db?gc=often", Want: nil},
		{URL: "badger:///var/db?gc=-1m", Want: nil},
		{URL: "badger:///var/db?sync=true&sync=false", Want: nil},
		{URL: "badger:///var/db?cache=1MiB", Want: nil},
	})
}

func BenchmarkBackend(b *testing.B) {
	storetest.Bench(b, badgerstore.Driver(), "badger:///unused")
}

// TestEngineLogQuiet: opening a store turns off go-log's badger4
// subsystem, whose "batch not committed or canceled" errors would reach
// the user's terminal.
func TestEngineLogQuiet(t *testing.T) {
	if os.Getenv("GOLOG_LOG_LEVEL") != "" {
		t.Skip("GOLOG_LOG_LEVEL is set, so the engine's log level is the user's")
	}
	s, err := badgerstore.Open(t.Context(), &badgerstore.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name, err := logging.SubsystemLevelName("badger4")
	if err != nil {
		t.Fatal(err)
	}
	if lvl, err := logging.Parse(name); err != nil || lvl <= logging.LevelError {
		t.Errorf("go-log's badger4 subsystem logs at level %s (%v); want above error", name, err)
	}
}
