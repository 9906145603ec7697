package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	record "github.com/libp2p/go-libp2p-record"
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/replica"
)

// Config is everything a node needs, in typed options: multiaddrs,
// durations, byte sizes. DataDir, Registry and Suite are required; every
// other option's zero value means its default. A program builds a Config
// directly; the daemon converts its configuration file into one
// (core/config's NodeConfig), and reads the file's other tables itself.
type Config struct {
	// DataDir holds the identity key ([IdentityFile], created on first
	// start), the admission gate's certificate cache and, by default, the
	// store. Required.
	DataDir string
	// CertDir, when set, holds the certificate cache instead of DataDir;
	// nodes sharing one skip re-running the suite for the same backend.
	CertDir string
	// Registry opens storage URLs. Required: the node composes no
	// backends of its own; all.Registry() from backends/all has the
	// in-tree ones.
	Registry *core.Registry
	// Suite is the admission gate's conformance suite, which the backend
	// must pass before the node uses it. Required: conformance.Suite("")
	// from the conformance package is the real one, run on scratch stores
	// in the system's temporary directory.
	Suite core.Suite

	// Storage is the storage backend's URL; "" means DefaultStorage of
	// DataDir, pebble in its store directory.
	Storage string
	// NoSyncWrites acknowledges a persistent backend's writes before the
	// engine syncs them: faster, but a crash may lose writes the node
	// acknowledged. By default every write the node acknowledges has been
	// synced (core.SyncWrites), writes that arrive together sharing a sync.
	NoSyncWrites bool
	// Listen holds the addresses to listen on; nil means DefaultListen.
	// Port 0 takes a free port.
	Listen []ma.Multiaddr
	// ProtocolPrefix is the DHT protocol prefix; "" means PrefixNetabase.
	ProtocolPrefix protocol.ID
	// Mode is the DHT mode; "" means ModeAuto.
	Mode Mode
	// Bootstrap holds the peers to join the network through.
	Bootstrap []peer.AddrInfo
	// MDNS turns on discovery of peers on the local network.
	MDNS bool
	// Limits bound the node's connections and resources; nil means
	// DefaultLimits.
	Limits *Limits
	// MaxRecordAge is how long a stored record lives unless its owner
	// republishes it; 0 keeps records until they are removed.
	MaxRecordAge time.Duration
	// RepublishInterval is how often the node republishes its own records
	// and provider records; 0 means DefaultRepublishInterval. At least a
	// second.
	RepublishInterval time.Duration
	// Quota bounds what the node stores for other peers, and how fast they
	// may send it; nil means DefaultQuota.
	Quota *Quota
	// IPFSRecords accepts and serves IPFS's pk and ipns records on a
	// network other than /ipfs.
	IPFSRecords bool
	// SyncVersions are the reconciliation protocol versions the node
	// speaks, the newest first (SYNC.md §5): it answers sessions of each,
	// and starts each session in the first of them its peer speaks. nil
	// means every version of core/replica (replica.Versions); a node given
	// only replica.Version1 speaks as nodes did before version 2.
	SyncVersions []replica.Version
	// SyncInterval is how often each synced collection is reconciled with
	// the peers that share it, besides when they meet; 0 means
	// DefaultSyncInterval.
	SyncInterval time.Duration

	// Validators validate records of namespaces of the application's own,
	// besides "netabase". They need a private protocol prefix: the /ipfs
	// network accepts only pk and ipns records.
	Validators map[string]record.Validator
	// Logger receives what the node has to say outside any call, such as a
	// republish that failed. Nil discards it.
	Logger *slog.Logger
	// ConnectionGater, when set, decides which peers and addresses the
	// host may connect to and accept.
	ConnectionGater coreconnmgr.ConnectionGater
	// BandwidthReporter, when set, counts the bytes of every stream the
	// host opens or accepts, by protocol and by peer (for instance a
	// metrics.BandwidthCounter).
	BandwidthReporter metrics.Reporter
	// Metrics, when set, is the Prometheus registry the libp2p host and
	// its resource manager report to (swarm, identify, eventbus, the
	// resource manager...: go-libp2p's own metrics). Nil turns them off.
	// The node's own figures are read through its methods (Refused,
	// Accepted, Held, EventStats, ...) by whoever exports them.
	Metrics prometheus.Registerer
}

// Limits bound a node's connections and resources.
type Limits struct {
	// The connection manager trims connections down to ConnLowWater when
	// there are more than ConnHighWater; a new connection is safe from
	// trimming for ConnGracePeriod.
	ConnLowWater, ConnHighWater int
	ConnGracePeriod             time.Duration
	// The resource manager's limits of the whole node; 0 scales libp2p's
	// defaults with the machine's memory and file descriptors.
	MaxConnections, MaxStreams int
	MaxMemory                  int64 // bytes
}

// DefaultLimits are the limits of a node whose Config leaves them out.
func DefaultLimits() Limits {
	return Limits{ConnLowWater: 100, ConnHighWater: 400, ConnGracePeriod: time.Minute}
}

// Quota bounds what a node accepts from other peers: the records and bytes
// it stores for them (in all, per sending peer and per record owner), its
// provider records, and the rates of PUT_VALUE and ADD_PROVIDER requests
// (per second, and in one burst). Past a limit a peer's write is refused
// and counted ([Node.Refused]); the node's own records are never refused.
// 0 turns a limit off.
type Quota struct {
	MaxRecords         int   // value records stored for other peers, in all
	MaxBytes           int64 // and their size in bytes
	MaxRecordsPerPeer  int   // value records one peer may have stored here
	MaxBytesPerPeer    int64 // and their size in bytes
	MaxRecordsPerOwner int   // netabase records of one owner, whoever sends them
	MaxBytesPerOwner   int64 // and their size in bytes
	// MaxProviders and MaxProvidersPerPeer bound the provider records
	// stored for other peers, in all and per peer.
	MaxProviders, MaxProvidersPerPeer int
	// MaxProviderAddrs is how many addresses are kept from one provider
	// announcement; the rest are dropped.
	MaxProviderAddrs          int
	PutRate, PutBurst         int
	ProvideRate, ProvideBurst int
}

// DefaultQuota is the quota of a node whose Config leaves it out: enough
// for a busy private network, small enough for a small disk (under 300 MiB
// of records and 20 MB of provider records for other peers).
func DefaultQuota() Quota {
	return Quota{
		MaxRecords:          100_000,
		MaxBytes:            256 << 20,
		MaxRecordsPerPeer:   10_000,
		MaxBytesPerPeer:     32 << 20,
		MaxRecordsPerOwner:  1_000,
		MaxBytesPerOwner:    16 << 20,
		MaxProviders:        100_000,
		MaxProvidersPerPeer: 10_000,
		MaxProviderAddrs:    16,
		PutRate:             20,
		PutBurst:            200,
		ProvideRate:         20,
		ProvideBurst:        200,
	}
}

// IdentityFile is the file of a data directory that holds the node's
// private key.
const IdentityFile = "identity.key"

// Protocol prefixes with a meaning of their own.
const (
	// PrefixNetabase is the default: a private netabase network, where the
	// "netabase" record namespace lives.
	PrefixNetabase protocol.ID = "/netabase"
	// PrefixIPFS joins the public Amino DHT (IPFS), whose peers accept only
	// "pk" and "ipns" records.
	PrefixIPFS protocol.ID = "/ipfs"
)

// DefaultPort is the TCP and UDP port a node listens on by default.
const DefaultPort = 4101

// DefaultRepublishInterval is how often a node republishes its own records
// and provider records unless its Config says otherwise.
const DefaultRepublishInterval = 12 * time.Hour

// DefaultListen are the addresses a node listens on unless its Config says
// otherwise: TCP and QUIC on DefaultPort, IPv4 and IPv6, every interface.
func DefaultListen() []ma.Multiaddr {
	port := fmt.Sprint(DefaultPort)
	var out []ma.Multiaddr
	for _, s := range []string{
		"/ip4/0.0.0.0/tcp/" + port,
		"/ip4/0.0.0.0/udp/" + port + "/quic-v1",
		"/ip6/::/tcp/" + port,
		"/ip6/::/udp/" + port + "/quic-v1",
	} {
		out = append(out, ma.StringCast(s))
	}
	return out
}

// DefaultStorage is the storage URL of a node whose data directory is
// dataDir and whose Config names none: pebble in dataDir's store
// directory.
func DefaultStorage(dataDir string) string {
	// Built as a URL, so that a "?", "#" or "%" in the path is escaped,
	// not taken for the start of the query, the fragment or an escape.
	return (&url.URL{Scheme: "pebble", Path: filepath.ToSlash(filepath.Join(dataDir, "store"))}).String()
}

// required checks the options New cannot do without, which have no
// default.
func (c Config) required() error {
	if c.DataDir == "" {
		return errors.New("netabase: node.Config.DataDir is empty; give the node a data directory")
	}
	if c.Registry == nil {
		return errors.New("netabase: node.Config.Registry is nil; pass all.Registry() from backends/all (or a core.Registry of your own)")
	}
	if c.Suite == nil {
		return errors.New(`netabase: node.Config.Suite is nil; pass conformance.Suite("") from the conformance package (or a core.Suite of your own)`)
	}
	return nil
}

// WithDefaults returns c with each option left to its default set to it:
// the one place the node's defaults are given (core/config's Default
// writes them in the file's form from here). Storage's default needs
// DataDir.
func (c Config) WithDefaults() Config {
	if c.Storage == "" && c.DataDir != "" {
		c.Storage = DefaultStorage(c.DataDir)
	}
	if len(c.Listen) == 0 {
		c.Listen = DefaultListen()
	}
	if c.ProtocolPrefix == "" {
		c.ProtocolPrefix = PrefixNetabase
	}
	if c.Mode == "" {
		c.Mode = ModeAuto
	}
	if c.Limits == nil {
		l := DefaultLimits()
		c.Limits = &l
	}
	if c.RepublishInterval == 0 {
		c.RepublishInterval = DefaultRepublishInterval
	}
	if c.Quota == nil {
		q := DefaultQuota()
		c.Quota = &q
	}
	return c
}

// Names say how Check's sentences name a Config's options and show their
// values, for a caller that took the options in another form: core/config
// names the file's keys and shows sizes in MiB. A nil func keeps Go's:
// another option is named by its field (such as "ConnLowWater"), and a
// value is shown as fmt prints it.
type Names struct {
	// Option names the option at path, such as "Limits.ConnLowWater".
	Option func(path string) string
	// Value shows v, the value of the option at path.
	Value func(path string, v any) string
}

// OptionError is an option of a Config that Check refuses.
type OptionError struct {
	// Option is the option's path in Config, such as "Limits.ConnHighWater".
	Option string
	// Msg says what is wrong, in the words of the Names Check was given;
	// it follows the option's name.
	Msg string
}

func (e *OptionError) Error() string { return "netabase: node.Config." + e.Option + " " + e.Msg }

// Check checks c's options (an option left to its default counts as its
// default) and returns the errors, joined, each an *OptionError whose
// sentence uses n's names. It is the one statement of what the node takes:
// New calls it, and so does core/config for the file's keys.
func (c Config) Check(n Names) error {
	c = c.WithDefaults()
	name := n.Option
	if name == nil {
		name = func(path string) string { return path[strings.LastIndex(path, ".")+1:] }
	}
	show := n.Value
	if show == nil {
		show = func(_ string, v any) string { return fmt.Sprint(v) }
	}
	var errs []error
	bad := func(option, format string, args ...any) {
		errs = append(errs, &OptionError{Option: option, Msg: fmt.Sprintf(format, args...)})
	}
	for _, a := range c.Listen {
		if len(a) == 0 {
			bad("Listen", "holds an empty multiaddr; give addresses such as /ip4/0.0.0.0/tcp/%d", DefaultPort)
		}
	}
	if p := string(c.ProtocolPrefix); p[0] != '/' || strings.HasSuffix(p, "/") || strings.ContainsAny(p, " \t\n") {
		bad("ProtocolPrefix", "%q is not a protocol prefix; use one path segment or more, such as /netabase or /ipfs", p)
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		bad("Mode", "%q is not a DHT mode; use ModeAuto, ModeClient or ModeServer", c.Mode)
	}
	for _, ai := range c.Bootstrap {
		if ai.ID == "" {
			bad("Bootstrap", "holds a peer without an ID (addresses %v); every bootstrap peer needs its peer ID", ai.Addrs)
		}
	}
	l := c.Limits
	for _, f := range []struct {
		path string
		v    any
		neg  bool
	}{
		{"Limits.ConnLowWater", l.ConnLowWater, l.ConnLowWater < 0},
		{"Limits.ConnHighWater", l.ConnHighWater, l.ConnHighWater < 0},
		{"Limits.ConnGracePeriod", l.ConnGracePeriod, l.ConnGracePeriod < 0},
		{"Limits.MaxConnections", l.MaxConnections, l.MaxConnections < 0},
		{"Limits.MaxStreams", l.MaxStreams, l.MaxStreams < 0},
		{"Limits.MaxMemory", l.MaxMemory, l.MaxMemory < 0},
	} {
		if f.neg {
			bad(f.path, "is negative (%s)", show(f.path, f.v))
		}
	}
	if l.ConnHighWater < l.ConnLowWater {
		bad("Limits.ConnHighWater", "is %s, below %s (%s); it must be at least as large",
			show("Limits.ConnHighWater", l.ConnHighWater), name("Limits.ConnLowWater"), show("Limits.ConnLowWater", l.ConnLowWater))
	}
	if c.MaxRecordAge < 0 {
		bad("MaxRecordAge", "is %s; it may not be negative (0 keeps records until they are removed)", show("MaxRecordAge", c.MaxRecordAge))
	}
	if c.RepublishInterval < time.Second {
		bad("RepublishInterval", "is %s; use at least 1s", show("RepublishInterval", c.RepublishInterval))
	}
	q := c.Quota
	for _, f := range []struct {
		path string
		v    int64
	}{
		{"MaxRecords", int64(q.MaxRecords)}, {"MaxBytes", q.MaxBytes},
		{"MaxRecordsPerPeer", int64(q.MaxRecordsPerPeer)}, {"MaxBytesPerPeer", q.MaxBytesPerPeer},
		{"MaxRecordsPerOwner", int64(q.MaxRecordsPerOwner)}, {"MaxBytesPerOwner", q.MaxBytesPerOwner},
		{"MaxProviders", int64(q.MaxProviders)}, {"MaxProvidersPerPeer", int64(q.MaxProvidersPerPeer)},
		{"MaxProviderAddrs", int64(q.MaxProviderAddrs)},
		{"PutRate", int64(q.PutRate)}, {"PutBurst", int64(q.PutBurst)},
		{"ProvideRate", int64(q.ProvideRate)}, {"ProvideBurst", int64(q.ProvideBurst)},
	} {
		if f.v < 0 {
			bad("Quota."+f.path, "is %s; it may not be negative (0 turns the limit off)", show("Quota."+f.path, f.v))
		}
	}
	for _, r := range []struct {
		rate, burst string
		r, b        int
		request     string
	}{
		{"Quota.PutRate", "Quota.PutBurst", q.PutRate, q.PutBurst, "PUT_VALUE"},
		{"Quota.ProvideRate", "Quota.ProvideBurst", q.ProvideRate, q.ProvideBurst, "ADD_PROVIDER"},
	} {
		if r.r > 0 && r.b < 1 {
			bad(r.burst, "is %s, so no %s could ever pass; use at least 1, or %s 0 to turn the rate off", show(r.burst, int64(r.b)), r.request, name(r.rate))
		}
	}
	return errors.Join(errs...)
}
