package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	"github.com/netabase/netabase/plugins/wire"
)

// Scheme is the URL scheme of plugin backends.
const Scheme = "plugin"

// ErrPluginDown is wrapped by the error of every call made while a store's
// plugin process is not running: it died, or a restart is pending.
var ErrPluginDown = errors.New("storage plugin is not running")

// ErrWritesLost is returned by the first Sync after a plugin process died
// with writes it had acknowledged since its last successful Sync: the
// engine may not have kept them. The Sync syncs nothing; write them again
// and Sync.
var ErrWritesLost = errors.New("writes acknowledged since the last successful Sync may have been lost")

// ErrNoAnswer is wrapped, with ErrPluginDown, by the error of a call that
// the plugin did not answer within Config.CallTimeout: the host killed the
// plugin and is restarting it.
var ErrNoAnswer = errors.New("storage plugin did not answer in time")

// Config configures the plugin driver. The zero value is ready to use.
type Config struct {
	// Logger receives the plugins' log lines and the host's messages about
	// them. Nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds a plugin's start up to the handshake, and then
	// its answer to Describe; default 30s.
	StartTimeout time.Duration
	// CallTimeout bounds each call to a store whose context has no
	// deadline (context.Background(), say): the Open of the store at each
	// start, a read, a write, a Sync, a batch's whole Commit, and a
	// query's wait for each batch of its results (not the whole query). A
	// plugin that does not answer within it is taken for hung: the host
	// kills and restarts it, and the call fails with an error wrapping
	// ErrPluginDown and ErrNoAnswer. A context with a deadline is bounded
	// by it alone. Default 1m.
	CallTimeout time.Duration
	// Backoff paces restarts of a plugin that died.
	Backoff Backoff
}

// Backoff paces restarts: the first waits Initial, each failed one doubles
// the wait up to Max. A process that ran for StableAfter resets it.
type Backoff struct {
	Initial     time.Duration // default 100ms
	Max         time.Duration // default 30s
	StableAfter time.Duration // default 1m
}

func (b Backoff) delay(attempt int) time.Duration {
	d := b.Initial
	for range attempt {
		d *= 2
		if d >= b.Max {
			return b.Max
		}
	}
	return min(d, b.Max)
}

// storeState is the state of an open plugin store.
type storeState int

// The states of a store.
const (
	// up: the plugin process runs and the store is open.
	up storeState = iota + 1
	// down: the process died, or a restart failed; calls fail fast.
	down
	// restarting: a restart is scheduled after event.Delay.
	restarting
	// stopped: the store was closed by its user; no more events follow.
	stopped
)

func (s storeState) String() string {
	switch s {
	case up:
		return "up"
	case down:
		return "down"
	case restarting:
		return "restarting"
	case stopped:
		return "stopped"
	}
	return fmt.Sprintf("storeState(%d)", int(s))
}

// event is a change of an open plugin store's state. The store logs it and
// reports it as a core.BackendState; the package's tests see it whole.
type event struct {
	State storeState
	// Store is the store's URL (the one it was opened with, redacted).
	Store string
	// PID is the plugin process: the new one for up, the dead one for a
	// down after a crash; 0 when there is none.
	PID int
	// Attempt counts restart attempts since the plugin was last stable.
	Attempt int
	// Delay is the wait before the restart attempt, for restarting.
	Delay time.Duration
	// Err says why, for down; for restarting, what failed last.
	Err error
}

// ChecksumError is returned when a plugin binary's checksum is not the one
// its URL pins: the file at Path, or, when PID is set, the program that
// process ran, because the file at Path changed while it was starting.
type ChecksumError struct {
	Path      string
	Want, Got string // hex
	PID       int
}

func (e *ChecksumError) Error() string {
	if e.PID != 0 {
		return fmt.Sprintf("refusing plugin %s: the file changed while it was starting: the program its process (pid %d) ran has sha256 checksum %s, but the storage URL pins %s (something replaced the file at that path after the host checked it and before it ran); the host stopped the process",
			e.Path, e.PID, e.Got, e.Want)
	}
	return fmt.Sprintf("refusing plugin %s: its sha256 checksum is %s, but the storage URL pins %s; if you replaced the binary on purpose, pin it again with `netabase plugin pin %s`",
		e.Path, e.Got, e.Want, e.Path)
}

// Unwrap makes a checksum mismatch match core.ErrRejected.
func (e *ChecksumError) Unwrap() error { return core.ErrRejected }

// Checksum returns the hex SHA-256 checksum of the file at path.
func Checksum(path string) (string, error) { return core.FileChecksum(path) }

// Driver opens plugin:// URLs. Make one with NewDriver.
type Driver struct {
	cfg Config
	log *slog.Logger
	// onState, when set, is called with every event of every store the
	// driver opened; only the package's tests set it.
	onState func(event)

	mu    sync.Mutex
	descs map[string]*pb.DescribeResponse // by binary path and checksum

	calls calls // see CallStats
}

var _ core.Driver = (*Driver)(nil)

// NewDriver returns the driver for plugin:// URLs.
func NewDriver(cfg Config) *Driver {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = time.Minute
	}
	if cfg.Backoff.Initial <= 0 {
		cfg.Backoff.Initial = 100 * time.Millisecond
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = 30 * time.Second
	}
	if cfg.Backoff.StableAfter <= 0 {
		cfg.Backoff.StableAfter = time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{cfg: cfg, log: log, descs: map[string]*pb.DescribeResponse{}}
}

// About describes the driver.
func (d *Driver) About() core.About {
	return core.About{
		Scheme:  Scheme,
		Name:    "plugin",
		Version: fmt.Sprintf("storage plugin protocol v%d", wire.ProtocolVersion),
		Form:    "plugin:///abs/path/to/binary?sha256=<hex>[&option=value...]",
		Params: []core.Param{
			{Name: wire.HostParam, Doc: "the binary's SHA-256 checksum, required; `netabase plugin pin <binary>` prints the URL with it"},
			{Name: "<option>", Doc: "any other parameter is one of the plugin's own options"},
		},
	}
}

// target is a parsed plugin URL.
type target struct {
	u       *url.URL
	path    string
	sum     []byte
	options []*pb.Option
}

func (t *target) hexSum() string { return hex.EncodeToString(t.sum) }
func (t *target) build() string  { return "sha256:" + t.hexSum() }
func (t *target) key() string    { return t.path + "\x00" + t.hexSum() }

// parseURL parses a plugin:// URL; the plugin checks its own options.
func parseURL(u *url.URL) (*target, error) {
	path, err := core.Path(u)
	if err != nil {
		return nil, err
	}
	vals, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, core.InvalidURL(u, "malformed query %q: %v", u.RawQuery, err)
	}
	sums := vals[wire.HostParam]
	switch {
	case len(sums) == 0:
		return nil, core.InvalidURL(u, "a plugin URL must pin the binary's checksum with ?sha256=<hex>; `netabase plugin pin %s` prints the URL with it", path)
	case len(sums) > 1:
		return nil, core.InvalidURL(u, "parameter %q is given %d times; give it once", wire.HostParam, len(sums))
	}
	sum, err := hex.DecodeString(sums[0])
	if err != nil || len(sum) != sha256.Size {
		return nil, core.InvalidURL(u, "sha256=%q is not a SHA-256 checksum (64 hex digits); `netabase plugin pin %s` prints the right one", sums[0], path)
	}
	t := &target{u: u, path: path, sum: sum}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range vals {
			if n != wire.HostParam && !yield(n) {
				return
			}
		}
	}) {
		for _, v := range vals[name] {
			t.options = append(t.options, &pb.Option{Name: name, Value: v})
		}
	}
	return t, nil
}

// FormatURL returns the plugin URL of the binary at path with checksum sum
// (hex) and options, in a stable order.
func FormatURL(path, sum string, options url.Values) string {
	q := url.Values{}
	for n, vs := range options {
		q[n] = slices.Clone(vs)
	}
	q.Set(wire.HostParam, sum)
	return (&url.URL{Scheme: Scheme, Path: path, RawQuery: encodeQuery(q)}).String()
}

// encodeQuery encodes q with sha256 first and the rest sorted by name.
func encodeQuery(q url.Values) string {
	first := url.Values{wire.HostParam: q[wire.HostParam]}.Encode()
	rest := url.Values{}
	for n, vs := range q {
		if n != wire.HostParam {
			rest[n] = vs
		}
	}
	if len(rest) == 0 {
		return first
	}
	return first + "&" + rest.Encode()
}

func info(desc *pb.DescribeResponse, t *target) core.Info {
	return core.Info{
		Name:    desc.GetName(),
		Version: desc.GetVersion(),
		Build:   t.build(),
		Capabilities: core.Capabilities{
			Persistent: desc.GetCapabilities().GetPersistent(),
			Durable:    desc.GetCapabilities().GetDurable(),
		},
	}
}

// StartTimeout is how long a plugin has to start and describe itself.
func (d *Driver) StartTimeout() time.Duration { return d.cfg.StartTimeout }

// Describe starts the plugin (once per binary and checksum; the answer is
// cached), asks what it is, and checks the URL's options against the ones
// it declares.
func (d *Driver) Describe(ctx context.Context, u *url.URL) (core.Info, error) {
	t, err := parseURL(u)
	if err != nil {
		return core.Info{}, err
	}
	desc, err := d.describe(ctx, t)
	if err != nil {
		return core.Info{}, err
	}
	if _, err := wire.ParseOptions(desc.GetOptions(), t.options); err != nil {
		return core.Info{}, core.InvalidURL(u, "%v", err)
	}
	return info(desc, t), nil
}

// Description is what a plugin says about itself.
type Description struct {
	Info    core.Info    `json:"info"`
	Options []OptionSpec `json:"options"`
	// SDK is the netabase module version the plugin was built with.
	SDK string `json:"sdk"`
}

// OptionSpec is one option a plugin declares.
type OptionSpec struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // string, path, bool, int, duration, size or namespace
	Doc      string `json:"doc"`
	Required bool   `json:"required,omitempty"`
	Default  string `json:"default,omitempty"`
}

// Inspect starts the plugin of u and returns what it says about itself,
// without checking u's options.
func (d *Driver) Inspect(ctx context.Context, u *url.URL) (*Description, error) {
	t, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	desc, err := d.describe(ctx, t)
	if err != nil {
		return nil, err
	}
	out := &Description{Info: info(desc, t), SDK: desc.GetSdkVersion()}
	for _, o := range desc.GetOptions() {
		out.Options = append(out.Options, OptionSpec{
			Name: o.GetName(), Kind: wire.KindName(o.GetKind()), Doc: o.GetDoc(),
			Required: o.GetRequired(), Default: o.GetDefaultValue(),
		})
	}
	return out, nil
}

func (d *Driver) describe(ctx context.Context, t *target) (*pb.DescribeResponse, error) {
	d.mu.Lock()
	desc, ok := d.descs[t.key()]
	d.mu.Unlock()
	if ok {
		return desc, nil
	}
	g, err := d.launch(ctx, t)
	if err != nil {
		return nil, err
	}
	g.kill()
	return g.desc, nil
}

func (d *Driver) remember(t *target, desc *pb.DescribeResponse) {
	d.mu.Lock()
	d.descs[t.key()] = desc
	d.mu.Unlock()
}

// Open starts the plugin and opens its store with the URL's options.
func (d *Driver) Open(ctx context.Context, u *url.URL) (ds.Batching, error) {
	t, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	g, err := d.start(ctx, t)
	if err != nil {
		return nil, err
	}
	return newStore(d, t, g), nil
}

// start launches the plugin and opens its store.
func (d *Driver) start(ctx context.Context, t *target) (*generation, error) {
	g, err := d.launch(ctx, t)
	if err != nil {
		return nil, err
	}
	err = g.open(ctx, t, &d.calls)
	if err != nil {
		g.kill()
		if errors.Is(err, wire.ErrInvalidOptions) {
			return nil, core.InvalidURL(t.u, "%v", err)
		}
		return nil, fmt.Errorf("plugin %s could not open its store: %w", t.path, err)
	}
	return g, nil
}

// open opens the store of g's plugin with t's options, in the protocol
// version the plugin chose; under versions 2 and 3 it then opens the
// write stream, whose groups are timed into c.
func (g *generation) open(ctx context.Context, t *target, c *calls) error {
	// Open is bounded like any call: a plugin that does not answer it
	// within the call timeout (a server that never answers, an Open that
	// waits for a lock for ever) is taken for hung, and stopped.
	ctx, cancel := g.bound(ctx)
	defer cancel()
	req := &pb.OpenRequest{Options: t.options}
	var (
		resp *pb2.OpenResponse
		err  error
	)
	switch {
	case g.rpc != nil:
		resp, err := g.rpc.Open(ctx, req)
		if err != nil {
			return g.openErr(ctx, err)
		}
		return wire.Error(g.desc.GetName(), resp.GetError())
	case g.rpc2 != nil:
		resp, err = g.rpc2.Open(ctx, req)
	default:
		resp, err = g.rpc3.Open(ctx, req)
	}
	if err != nil {
		return g.openErr(ctx, err)
	}
	if err := wire.Error(g.desc.GetName(), resp.GetError()); err != nil {
		return err
	}
	g.seeks = resp.GetSeeks()
	g.w, err = newWriter(g, resp.GetSyncWrites(), c)
	return err
}

// Scratch returns the URL of a fresh store of the same plugin with the same
// options, every path option rewritten to <dir>/<option name>, where dir is
// a new directory under root ([core.NewScratchDir]), and every namespace
// option to a fresh scratch name (wire.ScratchNamespace), and a function
// that removes the store: it destroys the data behind its namespace
// options through the plugin (see destroyScratch) and removes dir. A
// plugin that declares persistent and neither a path nor a namespace
// option keeps its data where no rewrite can move it, so its scratch store
// would be its live store: Scratch refuses it.
func (d *Driver) Scratch(ctx context.Context, u *url.URL, root string) (*url.URL, func() error, error) {
	t, err := parseURL(u)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StartTimeout+10*time.Second)
	defer cancel()
	desc, err := d.describe(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	var paths []string
	q := url.Values{}
	for _, o := range t.options {
		q.Add(o.GetName(), o.GetValue())
	}
	located := false
	for _, spec := range desc.GetOptions() {
		switch spec.GetKind() {
		case pb.OptionKind_OPTION_KIND_PATH:
			paths = append(paths, spec.GetName())
			located = true
		case pb.OptionKind_OPTION_KIND_NAMESPACE:
			q.Set(spec.GetName(), wire.ScratchNamespace())
			located = true
		}
	}
	if !located && desc.GetCapabilities().GetPersistent() {
		return nil, nil, core.Errorf(core.ErrRejected,
			"plugin %s (%s) declares persistent but no option of kind path or namespace, so nothing tells the host where its data lives: a scratch store for the conformance suite would be the live store, and the suite would write into live data. It is not admitted; its author must declare the option that locates its data as a path (a file or directory) or a namespace (a table, schema or prefix on a server)",
			t.path, desc.GetName())
	}
	dir := ""
	if len(paths) > 0 {
		if dir, err = core.NewScratchDir(root); err != nil {
			return nil, nil, err
		}
	}
	for _, name := range paths {
		q.Set(name, filepath.Join(dir, name))
	}
	q.Set(wire.HostParam, t.hexSum())
	su := &url.URL{Scheme: Scheme, Path: t.path, RawQuery: encodeQuery(q)}
	destroy := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), destroyTimeout)
		defer cancel()
		err := d.destroyScratch(ctx, su)
		if dir != "" {
			err = errors.Join(err, os.RemoveAll(dir))
		}
		return err
	}
	return su, destroy, nil
}

// destroyTimeout bounds the removal of a scratch store's data that lives
// outside its directory.
const destroyTimeout = time.Minute

// destroyScratch removes the data that the scratch store u names keeps
// outside its scratch directory: for a plugin that declares a namespace
// option, it starts the plugin and calls Destroy with u's options. It
// refuses a URL whose namespace options are not all scratch names, so it
// never destroys live data. For any other plugin it does nothing: its
// scratch data lives in the scratch directory.
func (d *Driver) destroyScratch(ctx context.Context, u *url.URL) error {
	t, err := parseURL(u)
	if err != nil {
		return err
	}
	desc, err := d.describe(ctx, t)
	if err != nil {
		return err
	}
	vals, err := wire.ParseOptions(desc.GetOptions(), t.options)
	if err != nil {
		return core.InvalidURL(u, "%v", err)
	}
	namespaced := false
	for _, spec := range desc.GetOptions() {
		if spec.GetKind() != pb.OptionKind_OPTION_KIND_NAMESPACE {
			continue
		}
		namespaced = true
		if v, _ := vals[spec.GetName()].(string); !wire.IsScratchNamespace(v) {
			return core.Errorf(core.ErrRejected, "refusing to destroy %s: its option %s=%q is not a scratch namespace, so it may name live data", u.Redacted(), spec.GetName(), v)
		}
	}
	if !namespaced {
		return nil
	}
	g, err := d.launch(ctx, t)
	if err != nil {
		return err
	}
	defer g.kill()
	resp, err := g.reads.Destroy(ctx, &pb.DestroyRequest{Options: t.options})
	if err == nil {
		err = wire.Error(g.desc.GetName(), resp.GetError())
	} else {
		err = g.startCallErr(ctx, err)
	}
	if err != nil {
		return fmt.Errorf("plugin %s could not destroy the scratch store %s, whose data may be left behind: %w", t.path, u.Redacted(), err)
	}
	return nil
}

// pluginLabel names a plugin in messages: its binary's base name.
func pluginLabel(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".exe")
}
