package config_test

import (
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

func TestDefaultRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := config.Default(dir)
	if err := c.Check(); err != nil {
		t.Fatalf("the defaults do not pass Check: %v", err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, config.FileName)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("loaded %+v, wrote %+v", got, c)
	}
	if c.Storage != "pebble://"+filepath.Join(dir, "store") {
		t.Errorf("default storage %q is not pebble under the data dir", c.Storage)
	}
	for _, key := range []string{"storage", "sync_writes = true", "listen", "protocol_prefix", "mode", "bootstrap", "mdns", "[limits]", "conn_high_water", "[records]", "republish_interval", "[metrics]", "enabled = false", `address = '127.0.0.1:4190'`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("the written config has no %s", key)
		}
	}
}

// TestDefaultStorageEscapesPath: the default storage URL names the store
// under the data directory whatever characters its path holds.
func TestDefaultStorageEscapesPath(t *testing.T) {
	for _, dir := range []string{"/data/n?x=1", "/data/n#2", "/data/100%", "/data/my node"} {
		c := config.Default(dir)
		u, err := url.Parse(c.Storage)
		if err != nil {
			t.Errorf("Default(%q).Storage = %q: %v", dir, c.Storage, err)
			continue
		}
		if u.Scheme != "pebble" || u.Path != dir+"/store" || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("Default(%q).Storage = %q: path %q, query %q, fragment %q", dir, c.Storage, u.Path, u.RawQuery, u.Fragment)
		}
	}
}

// TestEmptyFileIsDefaults: every key is optional.
func TestEmptyFileIsDefaults(t *testing.T) {
	got, err := config.Parse("c.toml", nil, "/data")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, config.Default("/data")) {
		t.Errorf("an empty file gives %+v", got)
	}
}

func TestParse(t *testing.T) {
	got, err := config.Parse("c.toml", []byte(`
storage = "memory://"
listen = ["/ip4/127.0.0.1/tcp/0"]
mode = "client"
bootstrap = ["/ip4/127.0.0.1/tcp/4101/p2p/12D3KooWGRUVh7TmVTNNfckbuMsL4tH2Bu1fvWBFBFNsG3gXvs7q"]
mdns = false
[limits]
conn_low_water = 5
conn_high_water = 10
[records]
max_age = "48h"
[metrics]
enabled = true
`), "/data")
	if err != nil {
		t.Fatal(err)
	}
	if got.Storage != "memory://" || got.Mode != "client" || got.MDNS || got.Limits.ConnHighWater != 10 || got.ProtocolPrefix != "/netabase" {
		t.Errorf("parsed %+v", got)
	}
	nc, err := got.NodeConfig()
	peers := nc.Bootstrap
	if err != nil || len(peers) != 1 || len(peers[0].Addrs) != 1 {
		t.Errorf("bootstrap peers %v, %v", peers, err)
	}
	if !got.Metrics.Enabled || got.Metrics.Address != config.DefaultMetricsAddress {
		t.Errorf("metrics %+v, want enabled on the default address", got.Metrics)
	}
	if d := nc.MaxRecordAge; err != nil || d != 48*time.Hour {
		t.Errorf("max age %v, %v", d, err)
	}
	if d := nc.RepublishInterval; err != nil || d != 12*time.Hour {
		t.Errorf("republish interval %v, %v (the default)", d, err)
	}
}

// TestSyncWrites: writes are synced unless the file says otherwise, also
// for a file written before the key existed, which names its storage.
func TestSyncWrites(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{"storage = \"pebble:///data/store\"\nmdns = false\n", true},
		{"sync_writes = true\n", true},
		{"storage = \"pebble:///data/store\"\nsync_writes = false\n", false},
	} {
		c, err := config.Parse("c.toml", []byte(tc.doc), "/data")
		if err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		if c.SyncWrites != tc.want {
			t.Errorf("%q: sync_writes is %v, want %v", tc.doc, c.SyncWrites, tc.want)
		}
	}
}

// TestErrors: every error names the key and its line.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", "mode = \"auto\"\nmoed = \"client\"\n", []string{"c.toml:2:", "key moed", "not a configuration key"}},
		{"unknown key in table", "[limits]\n\nconn_hi = 3\n", []string{"c.toml:3:", "key limits.conn_hi"}},
		{"bad mode", "\n\nmode = \"fast\"\n", []string{"c.toml:3:", "key mode", `"fast" is not a mode`, "auto, client, server"}},
		{"sync_writes not a boolean", "sync_writes = 1\n", []string{"c.toml:1:", "key sync_writes: is a TOML integer where the key takes a boolean: true or false"}},
		{"wrong type", "mdns = \"yes\"\n", []string{"c.toml:1:", "key mdns: is a TOML string where the key takes a boolean: true or false"}},
		{"string for an array", "\nlisten = \"/ip4/0.0.0.0/tcp/1\"\n", []string{"c.toml:2:", "key listen: is a TOML string where the key takes an array of strings"}},
		{"number in an array", "bootstrap = [1]\n", []string{"c.toml:1:", "key bootstrap: is a TOML integer where the key takes a string in quotes"}},
		{"string for a number", "[limits]\nconn_low_water = \"ten\"\n", []string{"c.toml:2:", "key limits.conn_low_water: is a TOML string where the key takes a whole number"}},
		{"number for a duration", "[records]\nmax_age = 30\n", []string{"c.toml:2:", "key records.max_age: is a TOML integer where the key takes a string in quotes"}},
		{"number for a table", "limits = 5\n", []string{"c.toml:1:", "key limits: is a TOML integer where the key takes a table: a line [limits]"}},
		{"syntax", "mode = \n", []string{"c.toml:1:", "key mode: has no value; the key takes a string in quotes"}},
		{"value TOML cannot read", "storage = \"memory://\"\nmdns = yes\n", []string{"c.toml:2:", "key mdns: yes is not a TOML value (", "); the key takes a boolean: true or false"}},
		{"multiaddr without quotes", "listen = [/ip4/0.0.0.0/tcp/1]\n", []string{"c.toml:1:", "key listen: [/ip4/0.0.0.0/tcp/1] is not a TOML value", "the key takes an array of strings in quotes"}},
		{"value TOML cannot read in a table", "[limits] # connections\nconn_low_water = lots\n", []string{"c.toml:2:", "key limits.conn_low_water: lots is not a TOML value", "the key takes a whole number"}},
		{"value TOML cannot read in a sync table", "[[sync]]\nname = \"a\"\n[[sync]]\nname = b\n", []string{"c.toml:4:", "key sync[2].name: b is not a TOML value", "the key takes a string in quotes"}},
		{"bad listen", "listen = [\"/ip4/1.2.3.4/tcp/x\"]\n", []string{"c.toml:1:", "key listen", "not a multiaddr"}},
		{"empty listen", "listen = []\n", []string{"c.toml:1:", "key listen", "is empty"}},
		{"bootstrap without peer", "bootstrap = [\"/ip4/1.2.3.4/tcp/1\"]\n", []string{"c.toml:1:", "key bootstrap", "/p2p/<peer ID>"}},
		{"bad prefix", "protocol_prefix = \"netabase\"\n", []string{"c.toml:1:", "key protocol_prefix"}},
		{"negative", "[limits]\nmax_streams = -1\n", []string{"c.toml:2:", "key limits.max_streams", "negative"}},
		{"water", "[limits]\nconn_low_water = 50\nconn_high_water = 10\n", []string{"c.toml:3:", "key limits.conn_high_water"}},
		{"bad duration", "[records]\nmax_age = \"two days\"\n", []string{"c.toml:2:", "key records.max_age", "not a duration"}},
		{"short republish", "[records]\nrepublish_interval = \"10ms\"\n", []string{"c.toml:2:", "key records.republish_interval"}},
		{"negative quota", "[quota]\nmax_records_per_owner = -5\n", []string{"c.toml:2:", "key quota.max_records_per_owner", "negative", "0 turns the limit off"}},
		{"no burst", "[quota]\nput_rate = 5\nput_burst = 0\n", []string{"c.toml:3:", "key quota.put_burst", "no PUT_VALUE could ever pass"}},
		{"number for quota", "quota = 1\n", []string{"c.toml:1:", "key quota: is a TOML integer where the key takes a table: a line [quota]"}},
		{"empty storage", "storage = \"\"\n", []string{"c.toml:1:", "key storage", "is empty"}},
		{"sync not tables", "sync = 5\n", []string{"c.toml:1:", "key sync: is a TOML integer where the key takes tables: a line [[sync]]"}},
		{"unknown sync key", "[[sync]]\nname = \"a\"\nwritrs = []\n", []string{"c.toml:3:", "key sync[1].writrs", "not a configuration key"}},
		{"bad sync name", "[[sync]]\nname = \"a\"\n\n[[sync]]\nname = \"a b\"\n", []string{"c.toml:5:", "key sync[2].name", `collection name "a b" holds a space`}},
		{"no sync name", "[[sync]]\nwriters = []\n", []string{"key sync[1].name", "1 to 128 bytes"}},
		{"sync name twice", "[[sync]]\nname = \"a\"\n[[sync]]\nname = \"a\"\n", []string{"c.toml:4:", "key sync[2].name", "sync[1] too"}},
		{"metrics address without port", "[metrics]\nenabled = true\naddress = \"localhost\"\n", []string{"c.toml:3:", "key metrics.address", `"localhost" is not a host:port`}},
		{"metrics port", "\n[metrics]\naddress = \"127.0.0.1:http\"\n", []string{"c.toml:3:", "key metrics.address", "no port number"}},
		{"metrics not a table", "metrics = true\n", []string{"c.toml:1:", "key metrics: is a TOML boolean where the key takes a table: a line [metrics]"}},
		{"gateway address", "[gateway]\nenabled = true\naddress = \"localhost\"\n", []string{"c.toml:3:", "key gateway.address", `"localhost" is not a host:port`}},
		{"gateway origin", "[gateway]\nallowed_origins = [\"http://a.test/x\"]\n", []string{"c.toml:2:", "key gateway.allowed_origins", `"http://a.test/x" is not an origin`}},
		{"gateway origin scheme", "[gateway]\nallowed_origins = [\"a.test\"]\n", []string{"c.toml:2:", "key gateway.allowed_origins", `"a.test" is not an origin`}},
		{"gateway not a table", "gateway = 1\n", []string{"c.toml:1:", "key gateway: is a TOML integer where the key takes a table: a line [gateway]"}},
		{"metrics enabled not a boolean", "[metrics]\nenabled = \"yes\"\n", []string{"c.toml:2:", "key metrics.enabled: is a TOML string where the key takes a boolean"}},
		{"tracing endpoint not a URL", "[tracing]\nenabled = true\nendpoint = \"127.0.0.1:4318\"\n", []string{"c.toml:3:", "key tracing.endpoint", `"127.0.0.1:4318" is not an http:// or https:// URL`}},
		{"tracing not a table", "tracing = true\n", []string{"c.toml:1:", "key tracing: is a TOML boolean where the key takes a table: a line [tracing]"}},
		{"bad writer", "[[sync]]\nname = \"a\"\nwriters = [\"x\"]\n", []string{"c.toml:3:", "key sync[1].writers", `"x" is not a peer ID`}},
		{"negative sync bound", "[[sync]]\nname = \"a\"\nmax_records = -1\n", []string{"c.toml:3:", "key sync[1].max_records: is -1; give a positive bound, or 0 for the default 1000000"}},
		{"sync bound not a number", "[[sync]]\nname = \"a\"\n\n[[sync]]\nname = \"b\"\nmax_bytes_per_writer = \"1 GiB\"\n", []string{"c.toml:6:", "key sync[2].max_bytes_per_writer", `"1 GiB" is not a whole number`}},
		{"sync horizon not a duration", "[[sync]]\nname = \"a\"\ntombstone_horizon = \"a month\"\n", []string{"c.toml:3:", "key sync[1].tombstone_horizon", `"a month" is not a duration`}},
		{"sync horizon a number", "[[sync]]\nname = \"a\"\ntombstone_horizon = 3600\n", []string{"c.toml:3:", "key sync[1].tombstone_horizon: is a number where the key takes a duration as text, such as \"720h\""}},
		{"sync horizon negative", "[[sync]]\nname = \"a\"\ntombstone_horizon = \"-1h\"\n", []string{"c.toml:3:", "key sync[1].tombstone_horizon: is -1h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("c.toml", []byte(tc.doc), "/data")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
		})
	}
}

// TestSeveralErrors: Check reports every bad key, not only the first.
func TestSeveralErrors(t *testing.T) {
	_, err := config.Parse("c.toml", []byte("mode = \"x\"\nprotocol_prefix = \"y\"\n"), "/data")
	if err == nil || !strings.Contains(err.Error(), "c.toml:1: key mode") || !strings.Contains(err.Error(), "c.toml:2: key protocol_prefix") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), config.FileName))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "netabase init") {
		t.Fatalf("got %v", err)
	}
}

// TestLoadEmpty: a configuration file that is empty, or only white space,
// is refused, saying how to recreate it.
func TestLoadEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), config.FileName)
	for _, content := range []string{"", " \n\t\r\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path)
		if err == nil || !strings.Contains(err.Error(), "the configuration file "+path+" is empty") || !strings.Contains(err.Error(), "netabase init") {
			t.Errorf("a file holding %q: %v; want it refused as empty, saying how to recreate it", content, err)
		}
	}
}

func TestLoadDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), config.FileName)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if want := "the configuration file " + path + " is a directory, not a file"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestCheckWithoutFile(t *testing.T) {
	c := config.Default("/data")
	c.Mode = "sometimes"
	err := c.Check()
	if err == nil || err.Error() != `key mode: "sometimes" is not a mode; use one of auto, client, server` {
		t.Fatalf("got %v", err)
	}
}

// FuzzParse: no document makes Parse panic, and whatever it accepts
// passes Check.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", "mode = \"client\"\n", "[limits]\nconn_low_water = 5\n", "limits.conn_high_water = 9\n",
		"'mode' = \"x\"\n", "\"li\\u006dits\" = {conn_low_water = 1}\n", "listen = [\"/ip4/1.2.3.4/tcp/1\",]\n",
		"[records]\nmax_age = \"1h\"\n[limits]\nmax_streams = 2\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := config.Parse("f.toml", []byte(doc), "/data")
		if err == nil {
			if cerr := c.Check(); cerr != nil {
				t.Errorf("Parse accepted %q, but Check says %v", doc, cerr)
			}
		}
	})
}

const writer = "12D3KooWGRUVh7TmVTNNfckbuMsL4tH2Bu1fvWBFBFNsG3gXvs7q"

// syncOf is the [[sync]] table of the collection name with writers.
func syncOf(t testing.TB, name string, writers ...string) config.Sync {
	t.Helper()
	s := config.Sync{Settings: replica.Settings{Name: name}}
	for _, w := range writers {
		id, err := peer.Decode(w)
		if err != nil {
			t.Fatal(err)
		}
		s.Writers = append(s.Writers, id)
	}
	return s
}

// TestSync: [[sync]] tables round-trip, and give the collections'
// settings.
func TestSync(t *testing.T) {
	doc := "[[sync]]\nname = \"chat\"\n\n[[sync]]\nname = \"notes\"\nwriters = [\"" + writer + "\"]\n"
	c, err := config.Parse("c.toml", []byte(doc), "/data")
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Sync{syncOf(t, "chat"), syncOf(t, "notes", writer)}
	if !sameSync(c.Sync, want) {
		t.Fatalf("sync %+v, want %+v", c.Sync, want)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := config.Parse("c.toml", b, "/data")
	if err != nil || !sameSync(again.Sync, c.Sync) {
		t.Fatalf("encoded and parsed again: %+v, %v; want %+v\n%s", again, err, c, b)
	}
	s, err := c.Sync[1].Normalize()
	if err != nil || s.Name != "notes" || len(s.Writers) != 1 || s.Writers[0].String() != writer || s.TombstoneHorizon == 0 {
		t.Errorf("settings %+v, %v", s, err)
	}
	d := config.Default("/data")
	if b, _ := d.Encode(); strings.Contains(string(b), "[[sync]]") {
		t.Errorf("a configuration without synced collections mentions them:\n%s", b)
	}
}

// TestSyncBounds: a [[sync]] table gives a collection's bounds and
// horizon, in the spellings of the settings' text form; bounds at their
// defaults are the same collection as bounds left out, and a table of a
// name alone keeps the digest it had before bounds were keys.
func TestSyncBounds(t *testing.T) {
	doc := "[[sync]]\nname = \"log\"\nwriters = [\"" + writer + "\"]\nmax_records_per_writer = 10\nmax_bytes = 5000\ntombstone_horizon = \"90m\"\n\n" +
		"[[sync]]\nname = \"chat\"\nmax_records = 1000000\ntombstone_horizon = \"720h0m0s\"\n"
	c, err := config.Parse("c.toml", []byte(doc), "/data")
	if err != nil {
		t.Fatal(err)
	}
	log, err := c.Sync[0].Normalize()
	if err != nil || log.MaxRecordsPerWriter != 10 || log.MaxBytes != 5000 || log.TombstoneHorizon != 90*time.Minute || log.MaxRecords != replica.DefaultMaxRecords {
		t.Errorf("log: %+v, %v", log, err)
	}
	chat, err := c.Sync[1].Normalize()
	if d := chat.Digest(); err != nil || hex.EncodeToString(d[:]) != "3d6436fdf8ded1b1edb5bf8b0461fe61" {
		t.Errorf("chat at its defaults: digest %x, %v; want that of a table of its name alone", d, err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"max_records_per_writer = 10\n", "tombstone_horizon = '1h30m'\n", "max_records = 1000000\n", "tombstone_horizon = '720h'\n", "# Records (tombstones included) one writer may have in it"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the encoded file lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "max_bytes_per_writer") {
		t.Errorf("the encoded file gives a bound left to its default:\n%s", b)
	}
	again, err := config.Parse("c.toml", b, "/data")
	if err != nil || !reflect.DeepEqual(again.Sync, c.Sync) {
		t.Fatalf("encoded and parsed again: %+v, %v; want %+v\n%s", again.Sync, err, c.Sync, b)
	}
}

// TestUpdate: Update changes the file's keys and keeps the others; a
// change that does not pass the check leaves the file as it was.
func TestUpdate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, config.FileName)
	if err := os.WriteFile(path, []byte("mode = \"client\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := config.Update(path, func(c *config.Config) error {
		c.SetSync(syncOf(t, "chat"))
		c.SetSync(syncOf(t, "notes"))
		c.SetSync(syncOf(t, "chat", writer))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []config.Sync{syncOf(t, "chat", writer), syncOf(t, "notes")}; c.Mode != "client" || !sameSync(c.Sync, want) {
		t.Fatalf("mode %q, sync %+v; want client and %+v", c.Mode, c.Sync, want)
	}
	before, _ := os.ReadFile(path)
	err = config.Update(path, func(c *config.Config) error {
		if !c.RemoveSync("notes") || c.RemoveSync("nothing") {
			t.Error("RemoveSync reported wrongly")
		}
		c.SetSync(syncOf(t, "a/b"))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "key sync[2].name") {
		t.Fatalf("a bad change: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("a refused change altered the file:\n%s", after)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d files, want only the configuration", len(entries))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the file's mode: %v, %v", fi.Mode(), err)
	}
}

// sameSync compares lists of collections, an empty list of writers
// being the same as none.
func sameSync(a, b []config.Sync) bool {
	return slices.EqualFunc(a, b, func(x, y config.Sync) bool {
		return x.Name == y.Name && slices.Equal(x.Writers, y.Writers)
	})
}

// TestNodeConfig: the file's keys reach the node's typed options, sizes in
// MiB as bytes, and the file's defaults are the node's own.
func TestNodeConfig(t *testing.T) {
	c, err := config.Parse("c.toml", []byte(`
sync_writes = false
listen = ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"]
protocol_prefix = "/ipfs"
mode = "server"
[limits]
conn_grace_period = "7s"
max_memory_mib = 17
[records]
republish_interval = "90m"
[quota]
max_mib = 3
max_mib_per_peer = 0
ipfs_records = true
`), "/data")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := c.NodeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !nc.NoSyncWrites || len(nc.Listen) != 2 || nc.Listen[1].String() != "/ip4/127.0.0.1/udp/0/quic-v1" || nc.ProtocolPrefix != node.PrefixIPFS || nc.Mode != node.ModeServer || !nc.MDNS {
		t.Errorf("options %+v", nc)
	}
	if l := nc.Limits; l == nil || l.ConnGracePeriod != 7*time.Second || l.MaxMemory != 17<<20 || l.ConnLowWater != node.DefaultLimits().ConnLowWater {
		t.Errorf("limits %+v", l)
	}
	if nc.RepublishInterval != 90*time.Minute || nc.MaxRecordAge != 0 {
		t.Errorf("republish interval %v, max age %v", nc.RepublishInterval, nc.MaxRecordAge)
	}
	if q := nc.Quota; q == nil || q.MaxBytes != 3<<20 || q.MaxBytesPerPeer != 0 || q.MaxRecords != node.DefaultQuota().MaxRecords || !nc.IPFSRecords {
		t.Errorf("quota %+v, ipfs records %v", q, nc.IPFSRecords)
	}

	d := config.Default("/data")
	def, err := d.NodeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if def.Storage != node.DefaultStorage("/data") || def.NoSyncWrites || def.ProtocolPrefix != node.PrefixNetabase || def.Mode != node.ModeAuto ||
		def.RepublishInterval != node.DefaultRepublishInterval || *def.Limits != node.DefaultLimits() || *def.Quota != node.DefaultQuota() || def.IPFSRecords {
		t.Errorf("the file's defaults give %+v, limits %+v, quota %+v; want the node's", def, def.Limits, def.Quota)
	}
	if !slices.EqualFunc(def.Listen, node.DefaultListen(), func(a, b ma.Multiaddr) bool { return a.Equal(b) }) {
		t.Errorf("the file's default listen %v, the node's %v", def.Listen, node.DefaultListen())
	}
}

// TestFlags: each key's flag sets that key, and a flag repeated gives a
// copy of the values, not the flag's own slice.
func TestFlags(t *testing.T) {
	byKey := map[string]config.Flag{}
	for _, f := range config.Flags() {
		byKey[f.Key] = f
	}
	c := config.Default("/data")
	prefix := byKey["protocol_prefix"]
	v := prefix.Value().(*string)
	*v = "/other"
	prefix.Set(&c, v)
	if prefix.Name != "prefix" || c.ProtocolPrefix != "/other" {
		t.Errorf("--%s set protocol_prefix to %q", prefix.Name, c.ProtocolPrefix)
	}
	origins := byKey["gateway.allowed_origins"]
	o := origins.Value().(*[]string)
	*o = []string{"http://a.test"}
	origins.Set(&c, o)
	(*o)[0] = "changed"
	if origins.Name != "gateway-origin" || !slices.Equal(c.Gateway.AllowedOrigins, []string{"http://a.test"}) {
		t.Errorf("--%s set gateway.allowed_origins to %q", origins.Name, c.Gateway.AllowedOrigins)
	}
	if sync := byKey["gateway.sync"]; sync.Name != "gateway-sync" {
		t.Errorf("gateway.sync's flag is %q", sync.Name)
	}
}
