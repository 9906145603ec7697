package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/replica"
)

// File names in a data directory, besides the node's own (such as
// node.IdentityFile).
const (
	// FileName is the configuration file.
	FileName = "config.toml"
	// SocketFile is the daemon's control socket.
	SocketFile = "netabase.sock"
)

// DefaultMetricsAddress is where the daemon serves metrics when they are
// on and no address is given: loopback only, so that nothing outside the
// machine reads them unless the operator says so.
const DefaultMetricsAddress = "127.0.0.1:4190"

// DefaultGatewayAddress is where the daemon serves its read-only gateway
// when it is on and no address is given: loopback only, like the metrics.
const DefaultGatewayAddress = "127.0.0.1:4180"

// Config is a node's configuration, as the file holds it. A field's tags
// say all there is to say about its key: toml its name, comment its one
// text (the file written, the package doc and netabase init --help read
// it), node the option of node.Config it converts into (see NodeConfig),
// and flag, "name,usage", the flag of netabase init and daemon that sets
// it.
type Config struct {
	// Storage is the storage backend's URL.
	Storage string `toml:"storage" node:"Storage" flag:"storage,storage backend URL, such as pebble:///abs/path or memory://" comment:"Storage backend, by URL, such as pebble:///abs/path (the default) or memory://;\nnetabase backends lists the backends and the form of their URLs."`
	// SyncWrites makes a persistent backend's every write durable (an
	// engine Sync, shared by writes that arrive together) before the node
	// acknowledges it. A file without the key means true.
	SyncWrites bool `toml:"sync_writes" node:"!NoSyncWrites" comment:"Sync the store to disk before acknowledging a write, so an acknowledged write\nsurvives a crash or power loss; writes that arrive together share one sync.\nfalse is faster, but a crash may then lose writes the node acknowledged.\nNo effect on a store that is not persistent (memory://)."`
	// Listen holds the multiaddrs to listen on.
	Listen []string `toml:"listen" node:"Listen" flag:"listen,multiaddr to listen on" comment:"Addresses to listen on, as multiaddrs: TCP and QUIC, IPv4 and IPv6."`
	// ProtocolPrefix is the DHT protocol prefix.
	ProtocolPrefix string `toml:"protocol_prefix" node:"ProtocolPrefix" flag:"prefix,DHT protocol prefix: /netabase or /ipfs" comment:"DHT protocol prefix: /netabase for a netabase network (where netabase records\nlive), /ipfs to join the public IPFS DHT (pk and ipns records only)."`
	// Mode is the DHT mode: auto, client or server.
	Mode string `toml:"mode" node:"Mode" flag:"mode,DHT mode: auto, client or server" comment:"DHT mode: auto (serve unless found unreachable), client or server."`
	// Bootstrap holds the multiaddrs of peers to join the network through,
	// each ending in /p2p/<peer ID>.
	Bootstrap []string `toml:"bootstrap" node:"Bootstrap" flag:"bootstrap,multiaddr of a peer to join through, ending in /p2p/<peer ID>" comment:"Peers to join the network through, as multiaddrs ending in /p2p/<peer ID>."`
	// MDNS turns on discovery of peers on the local network.
	MDNS bool `toml:"mdns" node:"MDNS" comment:"Find peers on the local network with mDNS."`
	// Limits bound the node's connections and resources.
	Limits Limits `toml:"limits" comment:"Connection and resource limits."`
	// Records govern record lifetimes.
	Records Records `toml:"records" comment:"Record lifetimes."`
	// Quota bounds what the node accepts from other peers.
	Quota Quota `toml:"quota" comment:"What the node stores for other peers, and how fast they may send it. Past a\nlimit a peer's write is refused, logged once a minute per peer and counted\n(netabase id). The node's own records are never refused. 0 turns a limit off."`
	// Metrics serves the node's metrics and profiles over HTTP.
	Metrics Metrics `toml:"metrics" comment:"Prometheus metrics at http://<address>/metrics and Go's profiles at\n/debug/pprof/; netabase daemon --metrics <address> turns them on too.\nThe README's table of metrics lists them."`
	// Tracing sends the node's traces to an OTLP collector.
	Tracing Tracing `toml:"tracing" comment:"OpenTelemetry traces of the control API's calls, the DHT's operations and\nthe storage backend's (a plugin's too), sent over OTLP/HTTP; netabase daemon\n--tracing <endpoint> turns them on too, and so does the standard\nOTEL_EXPORTER_OTLP_ENDPOINT variable."`
	// Gateway serves the node's records read-only over HTTP.
	Gateway Gateway `toml:"gateway" comment:"A read-only HTTP gateway: records, providers and synced collections for\nprograms that do not speak libp2p, such as a page in a browser; netabase\ndaemon --gateway <address> turns it on too."`
	// Sync lists the synced collections the node joins at start.
	Sync []Sync `toml:"sync,omitempty" comment:"A synced collection the node joins at start (netabase sync join adds one,\nnetabase sync leave removes it). Every node of a collection must give it\nthe same settings: writers, bounds and horizon; a bound left out takes its\ndefault."`
}

// Sync is a synced collection the node joins at start: a [[sync]] table,
// whose keys are the text form of [replica.Settings] (its fields' keys, a
// size in bytes, a duration as text such as "720h"). A bound the table
// leaves out takes its default, so a table of a name and writers defines
// the collection it defined before the bounds were keys.
type Sync struct {
	replica.Settings
	// bad holds what the table gave that the settings cannot take; Check
	// reports it under the table's key.
	bad []*replica.FieldError
}

// UnmarshalTOML reads a [[sync]] table (go-toml's unstable.Unmarshaler).
// A key or value it cannot take is kept for Check, which knows the
// table's place in the file.
func (s *Sync) UnmarshalTOML(data []byte) error {
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		return err
	}
	*s = Sync{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.ContainsFunc(replica.Fields(), func(f replica.Field) bool { return f.Key == k }) {
			s.bad = append(s.bad, &replica.FieldError{Key: k, Err: errors.New("is not a configuration key; see netabase init --help for the keys")})
			continue
		}
		var fe *replica.FieldError
		if err := s.Set(k, m[k]); errors.As(err, &fe) {
			s.bad = append(s.bad, fe)
		}
	}
	return nil
}

// MarshalTOML writes the table's keys, each after its comment: the name,
// the writers, and the bounds not left to their defaults.
func (s Sync) MarshalTOML() ([]byte, error) {
	var b bytes.Buffer
	for _, f := range replica.Fields() {
		v := s.Get(f.Key)
		if f.Number && (v == int64(0) || v == "0s") {
			continue
		}
		line, err := toml.Marshal(map[string]any{f.Key: v})
		if err != nil {
			return nil, err
		}
		doc := f.Doc
		if f.Default != "" {
			doc += " Default " + f.Default + "."
		}
		fmt.Fprintf(&b, "# %s\n%s", doc, line)
	}
	return b.Bytes(), nil
}

// SetSync adds s to the collections joined at start, in place of one of
// the same name.
func (c *Config) SetSync(s Sync) {
	if i := slices.IndexFunc(c.Sync, func(o Sync) bool { return o.Name == s.Name }); i >= 0 {
		c.Sync[i] = s
		return
	}
	c.Sync = append(c.Sync, s)
}

// RemoveSync removes the collection called name from those joined at
// start, and reports whether it was there.
func (c *Config) RemoveSync(name string) bool {
	n := len(c.Sync)
	c.Sync = slices.DeleteFunc(c.Sync, func(o Sync) bool { return o.Name == name })
	return len(c.Sync) < n
}

// Metrics says whether and where the daemon serves its metrics.
type Metrics struct {
	// Enabled turns the endpoint on.
	Enabled bool `toml:"enabled" comment:"Serve them."`
	// Address is the host:port to listen on.
	Address string `toml:"address" comment:"The host:port to serve them on. The default is reachable from this machine\nonly; anyone who can reach the address reads the metrics and profiles, so\nopen it wider (such as 0.0.0.0:4190) only behind a firewall."`
}

// Tracing says whether and where the daemon sends its traces.
type Tracing struct {
	// Enabled turns tracing on.
	Enabled bool `toml:"enabled" comment:"Send them."`
	// Endpoint is the collector's OTLP/HTTP URL; empty means the
	// standard OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318.
	Endpoint string `toml:"endpoint" comment:"The collector's OTLP/HTTP URL, such as http://127.0.0.1:4318 (spans go to its\n/v1/traces). Empty: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318."`
}

// check checks the endpoint, whether or not tracing is on.
func (t Tracing) check() error {
	if t.Endpoint == "" {
		return nil
	}
	u, err := url.Parse(t.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return keyErr("tracing.endpoint", "%q is not an http:// or https:// URL; write one such as http://127.0.0.1:4318", t.Endpoint)
	}
	return nil
}

// Gateway says whether and where the daemon serves its read-only HTTP
// gateway, and which pages may read it.
type Gateway struct {
	// Enabled turns the gateway on.
	Enabled bool `toml:"enabled" comment:"Serve it."`
	// Address is the host:port to listen on.
	Address string `toml:"address" comment:"The host:port to serve it on. The default is reachable from this machine\nonly; anyone who can reach the address reads every record the node holds\nor finds, so open it wider (such as 0.0.0.0:4180) only on purpose."`
	// AllowedOrigins are the origins whose pages may read the gateway
	// across origins (CORS); "*" allows any.
	AllowedOrigins []string `toml:"allowed_origins" flag:"gateway-origin,an origin (scheme://host[:port]) whose pages may read the gateway, or * for any" comment:"Origins (scheme://host[:port], such as http://127.0.0.1:8080) whose pages may\nread the gateway from a browser; \"*\" allows any page. Empty: none."`
	// Sync serves the sync endpoint (SYNC.md §6), through which clients
	// write records into the synced collections the node has joined.
	Sync bool `toml:"sync" flag:"gateway-sync,serve the gateway's sync endpoint, /v1/sync/<name>/ws, through which pages of the allowed origins replicate and write the synced collections this node has joined, as SYNC.md §6 says" comment:"Serve the sync endpoint, /v1/sync/<name>/ws: a page of an allowed origin (or\na program) replicates each synced collection this node has joined, and\nwrites records into it, admitted as gossiped records are (SYNC.md §6)."`
}

// Limits bound a node's connections and resources.
type Limits struct {
	ConnLowWater    int    `toml:"conn_low_water" node:"Limits.ConnLowWater" comment:"The connection manager trims connections down to this many..."`
	ConnHighWater   int    `toml:"conn_high_water" node:"Limits.ConnHighWater" comment:"...when there are more than this many."`
	ConnGracePeriod string `toml:"conn_grace_period" node:"Limits.ConnGracePeriod" comment:"A new connection is safe from trimming for this long."`
	MaxConnections  int    `toml:"max_connections" node:"Limits.MaxConnections" comment:"Resource manager limits; 0 scales libp2p's defaults with the machine's memory\nand file descriptors."`
	MaxStreams      int    `toml:"max_streams" node:"Limits.MaxStreams"`
	MaxMemoryMiB    int    `toml:"max_memory_mib" node:"Limits.MaxMemory,MiB"`
}

// Records govern record lifetimes.
type Records struct {
	MaxAge            string `toml:"max_age" node:"MaxRecordAge" comment:"How long a stored record lives unless its owner republishes it; \"0s\" keeps\nrecords until they are removed."`
	RepublishInterval string `toml:"republish_interval" node:"RepublishInterval" comment:"How often the node republishes its own records and provider records."`
}

// Quota bounds what a node accepts from other peers: the records and bytes
// it stores for them (in all, per sending peer and per record owner), its
// provider records, and the rates of PUT_VALUE and ADD_PROVIDER requests.
// 0 turns a limit off.
type Quota struct {
	MaxRecords          int  `toml:"max_records" node:"Quota.MaxRecords" comment:"Value records stored for other peers, in all, and their size in MiB."`
	MaxMiB              int  `toml:"max_mib" node:"Quota.MaxBytes,MiB"`
	MaxRecordsPerPeer   int  `toml:"max_records_per_peer" node:"Quota.MaxRecordsPerPeer" comment:"Value records one peer may have stored here, and their size in MiB."`
	MaxMiBPerPeer       int  `toml:"max_mib_per_peer" node:"Quota.MaxBytesPerPeer,MiB"`
	MaxRecordsPerOwner  int  `toml:"max_records_per_owner" node:"Quota.MaxRecordsPerOwner" comment:"Netabase records of one owner (whoever sends them), and their size in MiB."`
	MaxMiBPerOwner      int  `toml:"max_mib_per_owner" node:"Quota.MaxBytesPerOwner,MiB"`
	MaxProviders        int  `toml:"max_providers" node:"Quota.MaxProviders" comment:"Provider records stored for other peers, in all and per peer."`
	MaxProvidersPerPeer int  `toml:"max_providers_per_peer" node:"Quota.MaxProvidersPerPeer"`
	MaxProviderAddrs    int  `toml:"max_provider_addrs" node:"Quota.MaxProviderAddrs" comment:"Addresses kept from one provider announcement; the rest are dropped."`
	PutRate             int  `toml:"put_rate" node:"Quota.PutRate" comment:"PUT_VALUE requests one peer may send per second, and in one burst."`
	PutBurst            int  `toml:"put_burst" node:"Quota.PutBurst"`
	ProvideRate         int  `toml:"provide_rate" node:"Quota.ProvideRate" comment:"ADD_PROVIDER requests one peer may send per second, and in one burst."`
	ProvideBurst        int  `toml:"provide_burst" node:"Quota.ProvideBurst"`
	IPFSRecords         bool `toml:"ipfs_records" node:"IPFSRecords" comment:"Accept and serve IPFS's pk and ipns records on a network other than /ipfs."`
}

// Default returns the configuration of a node whose data directory is
// dataDir: the node's own defaults (node.Config.WithDefaults) in the
// file's form, read through the keys' node tags, with mDNS on, and the
// daemon's tables off.
func Default(dataDir string) Config {
	c := Config{
		Metrics: Metrics{Address: DefaultMetricsAddress},
		Gateway: Gateway{Address: DefaultGatewayAddress, AllowedOrigins: []string{}},
	}
	c.defaults(dataDir)
	// The file's own default: a node the daemon starts finds its peers on
	// the local network unless told not to.
	c.MDNS = true
	return c
}

// formatDuration writes d as the file gives durations: as time.Duration
// does, without the zero minutes and seconds of a whole number of hours
// or minutes ("12h", "1m").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Error is a configuration error: the key it is about, the line of the key
// in the file when there is a file, and what is wrong.
type Error struct {
	File string // the file, or "" for a configuration built in code or by flags
	Line int    // 1-based; 0 when unknown
	Key  string // dotted, such as "limits.conn_low_water" or "sync[1].name"
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %s: ", e.Key)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorAt returns an error about key in the configuration file at path,
// with the line that defines the key when the file has one.
func ErrorAt(path, key, msg string) *Error {
	e := &Error{File: path, Key: key, Msg: msg}
	if b, err := os.ReadFile(path); err == nil {
		e.Line = keyLines(b)[key]
	}
	return e
}

func keyErr(key, format string, args ...any) *Error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Check validates every key, returning all the errors found (joined), each
// an *Error naming its key: the node's keys by converting them
// (NodeConfig), the daemon's tables by their own checks.
func (c *Config) Check() error {
	_, err := c.NodeConfig()
	var errs []error
	if err != nil {
		errs = unjoin(err)
	}
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(c.Metrics.check())
	add(c.Tracing.check())
	add(c.Gateway.check())
	seen := map[string]int{}
	for i, s := range c.Sync {
		table := fmt.Sprintf("sync[%d]", i+1)
		for _, fe := range s.bad {
			add(keyErr(table+"."+fe.Key, "%v", fe.Err))
		}
		if len(s.bad) > 0 {
			continue // the settings are not what the table says
		}
		var fe *replica.FieldError
		if _, err := s.Normalize(); errors.As(err, &fe) {
			add(keyErr(table+"."+fe.Key, "%v", strings.TrimPrefix(fe.Err.Error(), core.ErrInvalidKey.Error()+": ")))
		} else if err != nil {
			add(keyErr(table, "%v", err))
		} else if j, ok := seen[s.Name]; ok {
			add(keyErr(table+".name", "%q is the name of sync[%d] too; a collection is joined once", s.Name, j))
		} else {
			seen[s.Name] = i + 1
		}
	}
	return errors.Join(errs...)
}

// check checks the metrics address, whether or not metrics are on, so
// that turning them on later cannot fail on it.
func (m Metrics) check() error {
	return checkAddress("metrics.address", m.Address, DefaultMetricsAddress)
}

// check checks the gateway's address and origins, whether or not it is
// on, so that turning it on later cannot fail on them.
func (g Gateway) check() error {
	var errs []error
	if err := checkAddress("gateway.address", g.Address, DefaultGatewayAddress); err != nil {
		errs = append(errs, err)
	}
	for _, o := range g.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs = append(errs, keyErr("gateway.allowed_origins", "%q is not an origin; write scheme://host[:port] with nothing after it, such as http://127.0.0.1:8080, or \"*\" for any", o))
		}
	}
	return errors.Join(errs...)
}

// checkAddress checks addr, the value of key, as a host:port to listen on,
// suggesting example when it is not one.
func checkAddress(key, addr, example string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return keyErr(key, "%q is not a host:port; write one such as %s", addr, example)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return keyErr(key, "%q has no port number (0 to 65535) after the colon; write one such as %s", addr, example)
	}
	return nil
}

// Load reads the configuration file at path. Keys the file leaves out take
// their defaults for a node whose data directory is the file's directory.
// Every error names the file, the line and the key. A file that is empty
// or holds only white space is refused: a node's file is never written so
// (netabase init writes every key), and on defaults the node would start on
// another, empty store, listening on all interfaces. (Parse, for a file
// a program writes, takes an empty one as all defaults.)
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, fmt.Errorf("no configuration file at %s; create one with netabase init: %w", path, err)
		}
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return Config{}, fmt.Errorf("the configuration file %s is a directory, not a file; move it aside and put the node's configuration file in its place (netabase init --help lists the keys)", path)
		}
		return Config{}, fmt.Errorf("cannot read the configuration file: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return Config{}, fmt.Errorf("the configuration file %s is empty, so the node would start on defaults (a new, empty store, listening on all interfaces) instead of its own settings; restore the file from a backup, or run netabase init --data-dir <a fresh directory> and copy its %s here, setting storage and listen to this node's",
			path, FileName)
	}
	return Parse(path, b, filepath.Dir(path))
}

// Parse parses the configuration in data, read from the file named name,
// for a node whose data directory is dataDir.
func Parse(name string, data []byte, dataDir string) (Config, error) {
	c := Default(dataDir)
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.EnableUnmarshalerInterface() // for Sync
	if err := dec.Decode(&c); err != nil {
		return Config{}, decodeError(name, data, err)
	}
	if err := c.Check(); err != nil {
		return Config{}, placeErrors(name, data, err)
	}
	return c, nil
}

// decodeError turns go-toml's errors into *Error values with the line,
// and the key when there is one; data is the document.
func decodeError(name string, data []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var errs []error
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, _ := de.Position()
			errs = append(errs, &Error{File: name, Line: line, Key: strings.Join(de.Key(), "."),
				Msg: "is not a configuration key; see netabase init --help for the keys"})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		key := strings.Join(de.Key(), ".")
		if m := typeMismatch.FindStringSubmatch(msg); m != nil && wantType[m[2]] != "" {
			msg = fmt.Sprintf("is a TOML %s where the key takes %s", m[1], wantType[m[2]])
		} else if key == "" {
			// A value TOML cannot read, such as yes or a multiaddr without
			// quotes: go-toml names no key, the line does.
			switch k, value, want := lineKey(data, line); {
			case want != "" && value == "":
				key, msg = k, "has no value; the key takes "+want
			case want != "":
				key, msg = k, fmt.Sprintf("%s is not a TOML value (%s); the key takes %s", value, msg, want)
			}
		}
		return &Error{File: name, Line: line, Key: key, Msg: msg}
	}
	return &Error{File: name, Msg: err.Error()}
}

// typeMismatch matches go-toml's report of a value of the wrong type: the
// TOML type found and the Go type of the field.
var typeMismatch = regexp.MustCompile(`^cannot decode TOML (.+) into struct field \S+ of type (\S+)$`)

// wantType says, for each Go type of a field (or of an array's elements),
// what the file should give it.
var wantType = map[string]string{
	"bool":                              "a boolean: true or false",
	"int":                               "a whole number, such as 100",
	"string":                            "a string in quotes",
	"[]string":                          `an array of strings in quotes, such as ["/ip4/0.0.0.0/tcp/4101"]`,
	reflect.TypeFor[Limits]().String():  "a table: a line [limits], its keys on the lines below",
	reflect.TypeFor[Records]().String(): "a table: a line [records], its keys on the lines below",
	reflect.TypeFor[Quota]().String():   "a table: a line [quota], its keys on the lines below",
	reflect.TypeFor[Metrics]().String(): "a table: a line [metrics], its keys on the lines below",
	reflect.TypeFor[Tracing]().String(): "a table: a line [tracing], its keys on the lines below",
	reflect.TypeFor[Gateway]().String(): "a table: a line [gateway], its keys on the lines below",
	reflect.TypeFor[[]Sync]().String():  "tables: a line [[sync]] for each collection, its keys on the lines below",
}

// lineKey finds the key defined on line (1-based) of data, a document
// that does not parse there: its dotted name (within the table of the
// lines above), the value written, and what the key takes; want is ""
// when the line defines no key of the configuration.
func lineKey(data []byte, line int) (key, value, want string) {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return "", "", ""
	}
	k, v, ok := strings.Cut(lines[line-1], "=")
	if !ok {
		return "", "", ""
	}
	var table []string
	arrays := map[string]int{}
	for _, l := range lines[:line-1] {
		if m := tableLine.FindStringSubmatch(l); m != nil {
			table = []string{strings.TrimSpace(m[2])}
			if m[1] == "[[" {
				arrays[table[0]]++
			}
		}
	}
	parts := slices.Clone(table)
	for _, p := range strings.Split(k, ".") {
		parts = append(parts, strings.Trim(strings.TrimSpace(p), `"'`))
	}
	t := reflect.TypeFor[Config]()
	for i, p := range parts {
		if t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t == reflect.TypeFor[Sync]() && i == len(parts)-1 {
			// A [[sync]] table's keys are the settings' own (replica.Fields).
			i := slices.IndexFunc(replica.Fields(), func(f replica.Field) bool { return f.Key == p })
			if i < 0 {
				return "", "", ""
			}
			want = settingTakes[replica.Fields()[i].Type]
			break
		}
		f, found := fieldOf(t, p)
		if !found {
			return "", "", ""
		}
		t = f.Type
		want = wantType[t.String()]
	}
	if n := arrays[parts[0]]; n > 0 && len(table) > 0 {
		parts[0] = fmt.Sprintf("%s[%d]", parts[0], n)
	}
	v, _, _ = strings.Cut(v, "#")
	return strings.Join(parts, "."), strings.TrimSpace(v), want
}

// settingTakes says, for each type of a synced collection's setting
// (replica.Field.Type), what the file should give it.
var settingTakes = map[string]string{
	"string":   "a string in quotes",
	"peerID":   `an array of peer IDs in quotes, such as ["12D3KooW..."]`,
	"int":      "a whole number, such as 1000",
	"duration": `a duration in quotes, such as "720h"`,
}

// tableLine matches a table's header line, [name] or [[name]].
var tableLine = regexp.MustCompile(`^\s*(\[\[?)([^\[\]]+)\]\]?\s*(#.*)?$`)

// fieldOf returns the field of the struct type t whose TOML key is name.
func fieldOf(t reflect.Type, name string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// placeErrors sets the file and line of each *Error in err.
func placeErrors(name string, data []byte, err error) error {
	lines := keyLines(data)
	var errs []error
	for _, e := range unjoin(err) {
		var ce *Error
		if errors.As(e, &ce) {
			placed := *ce
			placed.File, placed.Line = name, lines[ce.Key]
			e = &placed
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// keyLines maps each dotted key defined in a well-formed document to the
// line that defines it. A key left to its default has no line.
func keyLines(data []byte) map[string]int {
	out := map[string]int{}
	p := unstable.Parser{}
	p.Reset(data)
	var table []string
	arrays := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			table = keyParts(e.Key())
		case unstable.ArrayTable:
			// The Nth [[name]] table is name[N].
			name := strings.Join(keyParts(e.Key()), ".")
			arrays[name]++
			table = []string{fmt.Sprintf("%s[%d]", name, arrays[name])}
		case unstable.KeyValue:
			k := e.Key()
			line := 0
			if k.Next() {
				line = p.Shape(k.Node().Raw).Start.Line
			}
			full := append(slices.Clone(table), keyParts(e.Key())...)
			out[strings.Join(full, ".")] = line
		}
	}
	return out
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// Encode returns c as a commented TOML document.
func (c *Config) Encode() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# netabase node configuration. Every key is optional: a key left out takes\n" +
		"# its default. Flags given to netabase daemon override these keys.\n\n")
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(false)
	enc.SetArraysMultiline(true)
	enc.EnableMarshalerInterface() // for Sync
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
