package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	pb3 "github.com/netabase/netabase/plugins/proto/storagev3"
	"github.com/netabase/netabase/plugins/wire"
)

// generation is one running plugin process and its connection.
type generation struct {
	t      *target
	label  string
	client *plugin.Client
	cmd    *exec.Cmd
	conn   *grpc.ClientConn
	// sockDir is the directory, private to the host's user, the plugin
	// makes its socket in (PLUGIN_UNIX_SOCKET_DIR); stop removes it.
	sockDir string
	// version is the protocol version the plugin chose at the handshake.
	version int
	// reads makes the calls every version shares; rpc is the client of
	// version 1, rpc2 of version 2 and rpc3 of version 3: the one of the
	// version the plugin chose, the others nil.
	reads readClient
	rpc   pb.StorageClient
	rpc2  pb2.StorageClient
	rpc3  pb3.StorageClient
	// w is the write stream of versions 2 and 3, made when the store
	// opens; nil under version 1.
	w *writer
	// seeks: the plugin runs queries that start at a key (versions 2, 3).
	seeks   bool
	done    <-chan struct{} // closed when the process has exited
	pid     int
	started time.Time
	out     *lineWriter // the process's stderr
	desc    *pb.DescribeResponse
	limit   time.Duration // Config.CallTimeout
	hung    atomic.Bool   // killed for not answering within limit

	acked  atomic.Int64 // writes acknowledged by this process
	synced atomic.Int64 // of those, how many a successful Sync covers
}

// ack counts a write the plugin acknowledged (err == nil) and returns err.
func (g *generation) ack(err error) error {
	if err == nil {
		g.acked.Add(1)
	}
	return err
}

// syncedUpTo records that a successful Sync covers the first n
// acknowledged writes.
func (g *generation) syncedUpTo(n int64) {
	for {
		cur := g.synced.Load()
		if n <= cur || g.synced.CompareAndSwap(cur, n) {
			return
		}
	}
}

// readClient is what the clients of both protocol versions serve alike:
// the calls whose messages version 2 takes from version 1.
type readClient interface {
	Describe(ctx context.Context, in *pb.DescribeRequest, opts ...grpc.CallOption) (*pb.DescribeResponse, error)
	Get(ctx context.Context, in *pb.GetRequest, opts ...grpc.CallOption) (*pb.GetResponse, error)
	Has(ctx context.Context, in *pb.HasRequest, opts ...grpc.CallOption) (*pb.HasResponse, error)
	GetSize(ctx context.Context, in *pb.GetSizeRequest, opts ...grpc.CallOption) (*pb.GetSizeResponse, error)
	Close(ctx context.Context, in *pb.CloseRequest, opts ...grpc.CallOption) (*pb.CloseResponse, error)
	Destroy(ctx context.Context, in *pb.DestroyRequest, opts ...grpc.CallOption) (*pb.DestroyResponse, error)
}

var (
	_ readClient = pb.StorageClient(nil)
	_ readClient = pb2.StorageClient(nil)
	_ readClient = pb3.StorageClient(nil)
)

// clientPlugin is the host's side of the "storage" plugin.
type clientPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (clientPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host does not serve storage plugins")
}

// dispensed is what the host gets from go-plugin for a started plugin.
type dispensed struct {
	done context.Context // cancelled by go-plugin when the process exits
	conn *grpc.ClientConn
}

func (clientPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &dispensed{done: ctx, conn: conn}, nil
}

// launch starts the plugin, verifies it, and asks it to describe itself. It
// returns when the plugin is ready or ctx ends; a start that outlives ctx is
// cleaned up in the background, bounded by StartTimeout.
func (d *Driver) launch(ctx context.Context, t *target) (*generation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkBinary(t); err != nil {
		return nil, err
	}
	g, err := d.newGeneration(t)
	if err != nil {
		return nil, err
	}
	disp, err := g.start(ctx, d.cfg.StartTimeout)
	if err != nil {
		return nil, err
	}
	if err := g.attach(disp); err != nil {
		return nil, err
	}
	resp, err := g.describe(ctx, d.cfg.StartTimeout)
	if err != nil {
		g.kill()
		return nil, fmt.Errorf("plugin %s did not describe itself: %w", t.path, err)
	}
	g.desc = resp
	d.remember(t, resp)
	return g, nil
}

// newGeneration prepares, without starting it, the process of the plugin
// t names and go-plugin's client of it: checksum pinned, AutoMTLS, gRPC
// only, the plugin's output logged line by line, its socket in a new
// directory only the host's user can enter.
func (d *Driver) newGeneration(t *target) (*generation, error) {
	label := pluginLabel(t.path)
	log := d.log.With("plugin", label)
	g := &generation{t: t, label: label, cmd: exec.Command(t.path), out: newLineWriter(log, "stderr"), limit: d.cfg.CallTimeout}
	ownGroup(g.cmd)
	// go-plugin's servers make their socket in PLUGIN_UNIX_SOCKET_DIR, or
	// else in TMPDIR, which every user can enter. os.MkdirTemp makes the
	// directory with mode 0700: another user can neither reach the socket
	// nor remove or replace it.
	var err error
	if g.sockDir, err = os.MkdirTemp("", "netabase-plugin-"); err != nil {
		return nil, fmt.Errorf("cannot start plugin %s: making the directory for its socket: %w", t.path, err)
	}
	g.cmd.Env = append(hostEnv(), plugin.EnvUnixSocketDir+"="+g.sockDir)
	cfg := &plugin.ClientConfig{
		HandshakeConfig: wire.Handshake,
		// cmd.Env holds the host's environment already.
		SkipHostEnv:      true,
		VersionedPlugins: versionedPlugins(),
		Cmd:              g.cmd,
		SecureConfig:     &plugin.SecureConfig{Checksum: t.sum, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     d.cfg.StartTimeout,
		// go-plugin's own parsing of plugin log lines trusts their JSON
		// types and can panic on a malformed line; with its logger off it
		// hands the raw lines to Stderr, which parses them safely.
		Logger:     hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
		Stderr:     g.out,
		SyncStdout: newLineWriter(log, "stdout"),
		SyncStderr: newLineWriter(log, "stderr"),
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(wire.MaxMessageSize),
				grpc.MaxCallSendMsgSize(wire.MaxMessageSize),
			),
			grpc.WithInitialWindowSize(wire.StreamWindow),
			grpc.WithInitialConnWindowSize(wire.ConnWindow),
			grpc.WithWriteBufferSize(wire.BufferSize),
			grpc.WithReadBufferSize(wire.BufferSize),
		},
	}
	d.instrument(cfg)
	g.client = plugin.NewClient(cfg)
	return g, nil
}

// hostEnv is the host's environment for a plugin, less a
// PLUGIN_UNIX_SOCKET_DIR of its own: the host sets that.
func hostEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, plugin.EnvUnixSocketDir+"=")
	})
}

// stop has go-plugin end the process (see kill) and its goroutines, and
// removes the socket's directory.
func (g *generation) stop() {
	g.client.Kill()
	_ = os.RemoveAll(g.sockDir)
}

// versionedPlugins are the protocol versions the host offers at the
// handshake: every one it speaks. The plugin picks the newest it serves.
func versionedPlugins() map[int]plugin.PluginSet {
	sets := map[int]plugin.PluginSet{}
	for _, v := range wire.Versions {
		sets[v] = plugin.PluginSet{wire.PluginName: clientPlugin{}}
	}
	return sets
}

// start starts the process, verifies its checksum and completes the
// handshake, within timeout (go-plugin's StartTimeout). When ctx ends
// first it returns ctx's error at once and leaves the start to finish, or
// fail, in the background, then stops the process.
func (g *generation) start(ctx context.Context, timeout time.Duration) (*dispensed, error) {
	type result struct {
		disp *dispensed
		err  error
	}
	ready := make(chan result, 1)
	go func() {
		disp, err := g.connect()
		ready <- result{disp, err}
	}()
	var r result
	select {
	case r = <-ready:
	case <-ctx.Done():
		go func() {
			if r := <-ready; r.err != nil {
				killGroup(g.cmd)
			}
			g.stop()
		}()
		return nil, ctx.Err()
	}
	if r.err != nil {
		// The plugin never served: nothing in its group needs a
		// graceful end.
		killGroup(g.cmd)
		g.stop()
		return nil, g.startErr(r.err, timeout)
	}
	return r.disp, nil
}

// attach takes the connection of the started plugin, and stops it unless
// the running process is still the binary the URL pins.
func (g *generation) attach(disp *dispensed) error {
	g.conn, g.done = disp.conn, disp.done.Done()
	g.version = g.client.NegotiatedVersion()
	switch g.version {
	case wire.ProtocolV1:
		g.rpc = pb.NewStorageClient(disp.conn)
		g.reads = g.rpc
	case wire.ProtocolV2:
		g.rpc2 = pb2.NewStorageClient(disp.conn)
		g.reads = g.rpc2
	default:
		// go-plugin negotiates only the versions the host offers.
		g.rpc3 = pb3.NewStorageClient(disp.conn)
		g.reads = g.rpc3
	}
	g.pid, g.started = g.cmd.Process.Pid, time.Now()
	if err := checkRunning(g.pid, g.t.path, g.t.sum); err != nil {
		// Kill fails only when the process has already exited.
		_ = g.cmd.Process.Kill()
		g.kill()
		return err
	}
	return nil
}

// describe asks the plugin what it is and checks the answer. Describe is
// part of the start: a plugin that never answers it is refused within
// timeout, whatever ctx allows.
func (g *generation) describe(ctx context.Context, timeout time.Duration) (*pb.DescribeResponse, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := g.reads.Describe(dctx, &pb.DescribeRequest{})
	switch {
	case err == nil:
		err = wire.Error(g.label, resp.GetError())
	case ctx.Err() == nil && (dctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded):
		// The plugin's server may end the call at the deadline it was
		// sent, rounded down, before dctx's own timer fires.
		err = fmt.Errorf("it did not answer within the start timeout (%v)", timeout)
	default:
		err = g.startCallErr(ctx, err)
	}
	if err == nil {
		err = checkDescription(resp)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// checkBinary refuses a URL whose path names no executable file: a
// mistake in the URL, not a fault of the plugin.
func checkBinary(t *target) error {
	fi, err := os.Stat(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return core.InvalidURL(t.u, "there is no plugin binary at %s", t.path)
	case err != nil:
		return fmt.Errorf("cannot run plugin %s: %w", t.path, err)
	case fi.IsDir():
		return core.InvalidURL(t.u, "%s is a directory, not a plugin binary", t.path)
	case !fi.Mode().IsRegular():
		return core.InvalidURL(t.u, "%s is not a regular file, so not a plugin binary", t.path)
	case fi.Mode().Perm()&0o111 == 0:
		return core.InvalidURL(t.u, "%s is not executable; a plugin binary needs execute permission (chmod +x)", t.path)
	}
	return nil
}

// Bounds of what a plugin declares about itself, in bytes: its name and
// version appear in every error, event and log line about it.
const (
	maxName    = 64
	maxVersion = 256
)

// printable reports whether s is UTF-8 text without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// checkDescription refuses a description no plugin built with the SDK
// sends, and a name or version too long or not printable.
func checkDescription(desc *pb.DescribeResponse) error {
	if desc.GetName() == "" || desc.GetVersion() == "" {
		return errors.New("it gives no name or no version; a netabase storage plugin declares both")
	}
	for _, f := range []struct {
		what, text string
		max        int
	}{{"name", desc.GetName(), maxName}, {"version", desc.GetVersion(), maxVersion}} {
		if len(f.text) > f.max || !printable(f.text) {
			return fmt.Errorf("its %s %q is longer than %d bytes or holds characters that are not printable", f.what, wire.Clip(f.text), f.max)
		}
	}
	seen := map[string]bool{}
	for _, o := range desc.GetOptions() {
		if seen[o.GetName()] || o.GetName() == wire.HostParam || o.GetName() == "" {
			return fmt.Errorf("it declares the option %q twice, unnamed, or under the host's own name", o.GetName())
		}
		seen[o.GetName()] = true
		if !plainWord(o.GetName()) {
			return fmt.Errorf("it declares an option named %q; an option's name is a plain word", wire.Clip(o.GetName()))
		}
		if !wire.KnownKind(o.GetKind()) {
			return fmt.Errorf("it declares the option %q with %s", o.GetName(), wire.KindName(o.GetKind()))
		}
		if def := o.GetDefaultValue(); def != "" {
			if o.GetRequired() {
				return fmt.Errorf("it declares the option %q required and with a default", o.GetName())
			}
			if _, err := wire.ParseValue(o.GetKind(), def); err != nil {
				return fmt.Errorf("it declares the option %q with a default it does not take: %v", o.GetName(), err)
			}
		}
	}
	return nil
}

// plainWord reports whether name is fit to name an option: short,
// printable, free of URL syntax, and, since Scratch makes it a file name
// in a scratch directory, leading nowhere outside it.
func plainWord(name string) bool {
	return len(name) <= maxName && printable(name) && !strings.ContainsAny(name, "&=?#% ") && filepath.IsLocal(name)
}

// connect starts the process and dispenses the storage plugin.
func (g *generation) connect() (*dispensed, error) {
	proto, err := g.client.Client()
	if err != nil {
		return nil, err
	}
	raw, err := proto.Dispense(wire.PluginName)
	if err != nil {
		return nil, err
	}
	disp, ok := raw.(*dispensed)
	if !ok {
		return nil, fmt.Errorf("go-plugin dispensed a %T", raw)
	}
	return disp, nil
}

var versionMismatch = regexp.MustCompile(`Plugin version: (\d+)`)

// startErr explains why the plugin did not start within timeout.
func (g *generation) startErr(err error, timeout time.Duration) error {
	path := g.t.path
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		got, herr := Checksum(path)
		if herr != nil {
			return fmt.Errorf("refusing plugin %s: its checksum does not match the storage URL's, and it cannot be read again: %v", path, herr)
		}
		return &ChecksumError{Path: path, Want: g.t.hexSum(), Got: got}
	case strings.HasPrefix(msg, "error verifying checksum"):
		return fmt.Errorf("cannot run plugin %s: %s; check the path in the storage URL", path, strings.TrimPrefix(msg, "error verifying checksum: "))
	case strings.Contains(msg, "incompatible API version"):
		theirs := "another version"
		if m := versionMismatch.FindStringSubmatch(msg); m != nil {
			theirs = "version " + m[1]
		}
		return fmt.Errorf("refusing plugin %s: it speaks netabase storage plugin protocol %s, and this netabase speaks versions %s; rebuild the plugin with a netabase plugins/sdk that speaks one of them",
			path, theirs, versionList())
	case strings.Contains(msg, "unsupported plugin protocol"):
		return fmt.Errorf("refusing plugin %s: it serves go-plugin's net/rpc, and netabase storage plugins speak gRPC; build it with netabase's plugins/sdk", path)
	case strings.Contains(msg, "Unrecognized remote plugin message") && !strings.Contains(msg, "Failed to read any lines"):
		printed, _, _ := strings.Cut(strings.TrimPrefix(msg, "Unrecognized remote plugin message: "), "\n")
		return fmt.Errorf("refusing %s: it is not a netabase storage plugin: it printed %q instead of the plugin handshake%s", path, wire.Clip(printed), g.out.lastLines())
	case strings.Contains(msg, "exited before we could connect") || strings.Contains(msg, "Failed to read any lines"):
		return fmt.Errorf("plugin %s exited (%s) before the plugin handshake: it crashed at start, or it is not a netabase storage plugin%s",
			path, g.exitStatus(), g.out.lastLines())
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("plugin %s did not complete the plugin handshake within the start timeout (%v), so it was stopped: it is not a netabase storage plugin, or it hangs at start%s", path, timeout, g.out.lastLines())
	}
	return fmt.Errorf("cannot start plugin %s: %v%s", path, err, g.out.lastLines())
}

// versionList names the protocol versions the host speaks, such as "1
// and 2".
func versionList() string {
	names := make([]string, len(wire.Versions))
	for i, v := range wire.Versions {
		names[i] = strconv.Itoa(v)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// exitStatus describes how the process ended. Call it only once the
// process has exited (after done is closed, or Start reported its exit).
func (g *generation) exitStatus() string {
	if st := g.cmd.ProcessState; st != nil {
		return st.String()
	}
	return "exit status unknown"
}

// exited reports whether the process has exited.
func (g *generation) exited() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// downErr is the error of calls after the process died.
func (g *generation) downErr() error {
	if g.hung.Load() {
		return g.noAnswerErr()
	}
	return fmt.Errorf("%w: plugin %s (pid %d) exited: %s; the host is restarting it%s",
		ErrPluginDown, g.t.path, g.pid, g.exitStatus(), g.out.lastLines())
}

// startCallErr explains a failed call to a plugin that is being started,
// which nothing restarts: when the connection broke, it waits for the
// process to end and gives its exit status and last output.
func (g *generation) startCallErr(ctx context.Context, err error) error {
	if ctx.Err() == nil && (status.Code(err) == codes.Unavailable || g.exited()) {
		g.kill()
		return fmt.Errorf("%w: the connection to plugin %s (pid %d) broke, and its process ended (%s)%s",
			ErrPluginDown, g.t.path, g.pid, g.exitStatus(), g.out.lastLines())
	}
	return g.callErr(ctx, err)
}

// openErr explains a failed Open, made with ctx, which the call timeout
// bounds.
func (g *generation) openErr(ctx context.Context, err error) error {
	if status.Code(err) == codes.DeadlineExceeded {
		// As in callErr: the plugin's server may end the call a moment
		// before ctx's own timer fires.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < deadlineSlack {
			<-ctx.Done()
		}
	}
	if errors.Is(context.Cause(ctx), errCallLimit) {
		g.hung.Store(true)
		return fmt.Errorf("%w: plugin %s (pid %d) did not answer Open within %v (the host's call timeout), so the host stopped it: %w",
			ErrPluginDown, g.t.path, g.pid, g.limit, ErrNoAnswer)
	}
	return g.startCallErr(ctx, err)
}

// deadlineSlack is how much earlier than its context's deadline a call may
// end with the plugin saying the deadline passed.
const deadlineSlack = 100 * time.Millisecond

// errCallLimit ends the context of a call at its Config.CallTimeout.
var errCallLimit = errors.New("the call timeout ended the call")

// callErr explains a failed gRPC call to the plugin, made with ctx.
func (g *generation) callErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(context.Cause(ctx), errCallLimit) {
			return g.unresponsive()
		}
		return cerr
	}
	if g.exited() {
		return g.downErr()
	}
	switch status.Code(err) {
	case codes.Unavailable:
		return fmt.Errorf("%w: the connection to plugin %s (pid %d) broke: %v", ErrPluginDown, g.t.path, g.pid, wire.Clip(status.Convert(err).Message()))
	case codes.Canceled:
		return context.Canceled
	case codes.DeadlineExceeded:
		// The plugin's server ends a call at the deadline it was sent,
		// rounded down, a moment before ctx's own timer fires: wait for
		// that, so the error says whose limit ended the call.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < deadlineSlack {
			<-ctx.Done()
			return g.callErr(ctx, err)
		}
		return context.DeadlineExceeded
	}
	return fmt.Errorf("plugin %s: the call failed: %v", g.label, wire.Clip(status.Convert(err).Message()))
}

// unresponsive kills the process, which did not answer a call within its
// limit, so that the supervisor restarts it, and returns the call's error.
func (g *generation) unresponsive() error {
	g.hung.Store(true)
	// Kill fails only when the process has already exited.
	_ = g.cmd.Process.Kill()
	return g.noAnswerErr()
}

func (g *generation) noAnswerErr() error {
	return fmt.Errorf("%w: plugin %s (pid %d) did not answer a call within %v (the host's call timeout), so the host killed it and is restarting it: %w",
		ErrPluginDown, g.t.path, g.pid, g.limit, ErrNoAnswer)
}

// killGrace is how long kill lets go-plugin end the plugin (it asks the
// process to exit and kills it after two seconds) before it kills the
// plugin's process group.
const killGrace = 5 * time.Second

// kill stops the process: go-plugin asks it to exit, and kills it if it
// does not within two seconds. It waits for the process to end; when
// processes the plugin started keep it waiting, it kills them too.
func (g *generation) kill() {
	if g.w != nil {
		g.w.abort()
	}
	done := make(chan struct{})
	go func() {
		g.stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(killGrace):
		killGroup(g.cmd)
		<-done
	}
}
