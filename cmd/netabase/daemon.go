package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/control"
)

type daemonOptions struct {
	nodeFlags
	newIdentity bool
}

func newDaemonCmd(e *env) *cobra.Command {
	var opts daemonOptions
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node",
		Long: `Run the netabase node of the data directory until interrupted: a libp2p host
with the Kademlia DHT, mDNS and Identify, whose records live in the
configured storage backend.

On first start, with no configuration in the data directory, the daemon
creates one with the defaults and the flags given, and a new identity key,
as netabase init would. A first start that fails removes what it created
(configuration, identity key, store, data directory), keeping what the
data directory held before, so the corrected command starts the
node afresh. Before the node starts, its storage backend must pass the
conformance suite; a backend that fails stops the daemon with the suite's
report. A pass is kept as a certificate of that backend build and suite
version for all of the user's nodes, in $NETABASE_CERT_DIR, else netabase
in the user's cache directory ($XDG_CACHE_HOME, else ~/.cache, on Linux),
so the suite runs once per backend build, not once per data directory; a
changed suite version, engine version or plugin binary runs it again.

At later starts the flags override the configuration file's keys for this
run, and the file is left as it is (a --storage other than the file's says
so on stderr). Client
commands (netabase id, put, get, ...) talk to the daemon through the
control socket netabase.sock in the data directory, which only its owner
can open. The daemon takes the data directory and its socket first, so a
second daemon (or init) for the same data directory is refused; until the
node has started (on first start, checking the backend can take some
seconds) client commands fail at once saying the daemon is starting.

With --metrics <host:port> (or enabled = true in the [metrics] table of
config.toml) the daemon serves Prometheus metrics at
http://<host:port>/metrics (go-libp2p's, the storage backend's operations,
the node's records, peers, quota refusals, events and synced collections:
the README lists them) and Go's profiles at /debug/pprof/. The address is
127.0.0.1:4190 unless given: only this machine can read them, unless the
operator opens another address. netabase stats summarises the same
figures on one screen.

With --tracing <endpoint URL> (or enabled = true in the [tracing] table of
config.toml, or the standard OTEL_EXPORTER_OTLP_ENDPOINT variable) the
daemon sends OpenTelemetry traces over OTLP/HTTP to a collector: a span for
each control API call, each DHT put, get, provide and provider lookup
(kad-dht's own spans within), and each storage backend operation; a storage
plugin's own spans join them. Other OTEL_ variables (OTEL_SERVICE_NAME,
OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, ...) work as
OpenTelemetry documents them.

With --gateway <host:port> (or enabled = true in the [gateway] table) the
daemon serves a read-only HTTP gateway: GET /v1/record?key=<key> returns a
record's signed envelope as stored, /v1/providers?key=<key> the providers
of a key, /v1/sync/<name>/events a synced collection's records as
Server-Sent Events (go doc ./core/gateway/gatewayclient has the API). It
has no way to write, unless --gateway-sync (sync = true) also serves
/v1/sync/<name>/ws: over a WebSocket, a page replicates a synced
collection the daemon has joined and writes records into it, each
admitted as a gossiped record is (SYNC.md §6; go doc
./core/gateway/wsync). The address is 127.0.0.1:4180 unless given; pages
of other origins may read it, or sync, only when --gateway-origin
(allowed_origins) lists their origin.

The identity key, identity.key, gives the node its peer ID. When the data
directory has a configuration but no identity key, the daemon refuses to
start rather than silently become a new peer; restore the key from a
backup, or give --new-identity to create a new one. It warns when the key
can be read by other users.

Examples:
  netabase daemon
  netabase daemon --data-dir /tmp/n2 --listen /ip4/127.0.0.1/tcp/4102 --no-mdns
  netabase daemon --storage memory:// --mode server` + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.note(cmd)
			return runDaemon(cmd.Context(), e, opts)
		},
	}
	opts.register(cmd)
	cmd.Flags().BoolVar(&opts.newIdentity, "new-identity", false, "when the data directory has a configuration but no identity key, create one: the node becomes a new peer")
	return cmd
}

func runDaemon(ctx context.Context, e *env, opts daemonOptions) error {
	dir, err := dataDir(e)
	if err != nil {
		return err
	}
	_, err = os.Stat(dir)
	missing := errors.Is(err, fs.ErrNotExist)
	// The data directory's lock and socket come first: they keep a second
	// daemon out, and the socket answers clients while the node starts.
	unlock, err := takeDataDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	fresh, err := newFreshNode(dir, missing)
	if err != nil {
		return failed(err)
	}
	// A first start that fails leaves no node behind, once everything
	// deferred below has closed.
	ready := false
	defer func() {
		if !ready {
			fresh.remove(e)
		}
	}()
	sock := filepath.Join(dir, config.SocketFile)
	l, err := control.Listen(sock)
	if err != nil {
		return failed(err)
	}
	defer l.Close()
	api := control.NewServer(dir, slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	api.KeepSyncIn(filepath.Join(dir, config.FileName))
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- api.Serve(sctx, l) }()

	n, m, tr, gw, err := startNode(ctx, e, opts, dir, fresh)
	if err != nil {
		stop()
		<-served
		return err
	}
	defer tr.close(e.stderr)
	defer n.Close()
	defer m.close()
	defer gw.close()
	calls := pluginCalls(n)
	if err := m.serve(n, calls, e.stderr); err != nil {
		stop()
		<-served
		return failed(fmt.Errorf("cannot serve metrics: %w", err))
	}
	if err := tr.trace(n); err != nil {
		stop()
		<-served
		return failed(fmt.Errorf("cannot trace the storage backend: %w", err))
	}
	gw.serve(n, e.stderr)
	api.ReportPluginCalls(calls)
	api.Ready(n)
	ready = true
	printBanner(e, n, sock, certDir(dir), m.url(), tr.banner(), gw.banner())

	select {
	case err = <-served:
		if ctx.Err() != nil {
			// A stop signal ended the control API (its context is a child
			// of ctx) and the select took that first: a normal stop.
			break
		}
		// The control API failed while the daemon was meant to run.
		if err == nil {
			err = errors.New("the control API stopped")
		}
		err = failed(err)
	case <-ctx.Done():
		err = <-served
	}
	fmt.Fprintln(e.stdout, "Stopping...")
	if cerr := n.Close(); cerr != nil && err == nil {
		err = failed(fmt.Errorf("stopping the node: %w", cerr))
	}
	if err == nil {
		fmt.Fprintln(e.stdout, "Stopped.")
	}
	return err
}

// startNode creates the node of dir on first start (fresh is not nil:
// dir holds no configuration), and starts it: its storage backend
// admitted through the conformance gate. When the configuration turns
// metrics or the gateway on, it takes their addresses first and returns
// their endpoints, not yet serving; otherwise an endpoint is nil.
func startNode(ctx context.Context, e *env, opts daemonOptions, dir string, fresh *freshNode) (n *node.Node, m *metricsEndpoint, tr *daemonTracing, gw *gatewayEndpoint, err error) {
	exists := fresh == nil
	var c config.Config
	if exists {
		if c, err = config.Load(filepath.Join(dir, config.FileName)); err != nil {
			return nil, nil, nil, nil, failed(err)
		}
		configured := c.Storage
		if err := opts.apply(&c); err != nil {
			return nil, nil, nil, nil, err
		}
		if c.Storage != configured {
			fmt.Fprintf(e.stderr, "netabase: using --storage %s for this run; the configuration %s says %s, and is left as it is\n",
				c.Storage, filepath.Join(dir, config.FileName), configured)
		}
	} else {
		// On first start the flags go into the new configuration, as
		// with init, once the storage URL is known to be good.
		c = config.Default(dir)
		if err := opts.apply(&c); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	if err := checkStorage(ctx, e, dir, c.Storage, opts.given["storage"]); err != nil {
		return nil, nil, nil, nil, err
	}
	// The metrics address is taken before anything is written, so a busy
	// one leaves a fresh data directory as it was.
	if m, err = listenMetrics(c.Metrics, opts.given["metrics"], dir); err != nil {
		return nil, nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if gw, err = listenGateway(c.Gateway, opts.given["gateway"], dir); err != nil {
		return nil, nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			gw.close()
		}
	}()
	// Tracing starts before the node, whose storage plugin learns at its
	// launch that the host traces.
	if tr, err = startTracing(ctx, c.Tracing); err != nil {
		return nil, nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			tr.close(e.stderr)
		}
	}()
	if !exists {
		res, err := initNode(dir, c, fresh)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		fmt.Fprintf(e.stdout, "First start: created a node in %s (configuration %s, identity key %s).\n",
			dir, res.Config, res.Identity)
	}
	if err := checkIdentity(e, dir, opts.newIdentity); err != nil {
		return nil, nil, nil, nil, err
	}

	fmt.Fprintf(e.stdout, "netabase %s\nData dir:   %s\nStorage:    %s\n", netabase.Version, dir, c.Storage)
	fmt.Fprintln(e.stdout, "Admission:  checking the storage backend against the conformance suite...")
	nc, err := c.NodeConfig() // checked with the flags, so it converts
	if err != nil {
		return nil, nil, nil, nil, failed(err)
	}
	nc.DataDir = dir
	nc.CertDir = certDir(dir)
	nc.Registry = e.registry
	nc.Suite = conformance.Suite("")
	nc.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nc.Metrics = m.registerer()
	err = fresh.around(startedNames(e.registry, dir, c.Storage), func() (err error) {
		n, err = node.New(ctx, nc)
		return err
	})
	if errors.Is(err, core.ErrInvalidURL) {
		return nil, nil, nil, nil, storageErr(opts.given["storage"], dir, err)
	}
	if err != nil {
		// An admission failure carries the suite's report.
		return nil, nil, nil, nil, failed(fmt.Errorf("the node did not start: %w", err))
	}
	if err := joinSynced(ctx, n, dir, c.Sync); err != nil {
		_ = n.Close()
		return nil, nil, nil, nil, err
	}
	return n, m, tr, gw, nil
}

// joinSynced joins the synced collections of the configuration file's
// [[sync]] tables: those the daemon joined before.
func joinSynced(ctx context.Context, n *node.Node, dir string, syncs []config.Sync) error {
	for i, s := range syncs {
		if _, err := n.JoinSync(ctx, s.Settings); err != nil {
			return failed(config.ErrorAt(filepath.Join(dir, config.FileName), fmt.Sprintf("sync[%d].name", i+1),
				fmt.Sprintf("cannot join the synced collection %s: %v; remove its [[sync]] table to start without it", s.Name, err)))
		}
	}
	return nil
}

// checkIdentity refuses a data directory whose identity key is missing,
// unless newIdentity: node.New would create a new key, silently giving an
// existing node a new peer ID. It warns when the key can be read by others.
func checkIdentity(e *env, dir string, newIdentity bool) error {
	path := filepath.Join(dir, node.IdentityFile)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if newIdentity {
			return nil
		}
		return failed(fmt.Errorf("the node in %s has a configuration but no identity key (%s), so it would start as a new peer with a new peer ID; restore %s from a backup, or start with --new-identity to become a new peer",
			dir, path, node.IdentityFile))
	case err != nil:
		return failed(fmt.Errorf("cannot read the identity key: %w", err))
	case !fi.Mode().IsRegular():
		return failed(fmt.Errorf("the identity key %s is not a file; move it aside and restore the key from a backup", path))
	case fi.Mode().Perm()&0o077 != 0:
		fmt.Fprintf(e.stderr, "netabase: warning: the identity key %s can be read by other users (mode %v); make it private with: chmod 600 %s\n",
			path, fi.Mode().Perm(), path)
	}
	return nil
}

// printBanner prints the started node's banner; certs is where its
// admission certificate is kept.
func printBanner(e *env, n *node.Node, sock, certs, metricsURL, tracingTo, gateway string) {
	info := n.Info()
	w := e.stdout
	adm := "passed"
	if a := info.Admission; a != nil {
		if a.Cached {
			adm = fmt.Sprintf("passed conformance suite v%s (certificate of %s in %s)", a.Certificate.Suite, a.Certificate.Passed.Local().Format(time.RFC3339), certs)
		} else {
			adm = fmt.Sprintf("passed conformance suite v%s just now (certificate kept in %s)", a.Certificate.Suite, certs)
		}
	}
	fmt.Fprintf(w, "Admission:  %s\n", adm)
	fmt.Fprintf(w, "Backend:    %s (%s; %s)\n", info.Backend.Name, info.Backend.Version, info.Backend.Capabilities)
	fmt.Fprintf(w, "Peer ID:    %s\n", info.ID)
	fmt.Fprintf(w, "Protocol:   %s/kad/1.0.0, DHT mode %s\n", info.Prefix, modeText(string(info.Mode.Configured), string(info.Mode.Effective)))
	for i, a := range info.Addrs {
		label := "Listening:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%-11s %s\n", label, a)
	}
	if synced := n.SyncedCollections(); len(synced) > 0 {
		names := make([]string, len(synced))
		for i, s := range synced {
			names[i] = s.Name()
		}
		fmt.Fprintf(w, "Synced:     %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintf(w, "Control:    %s\n", sock)
	if metricsURL != "" {
		fmt.Fprintf(w, "Metrics:    %s (profiles at /debug/pprof/)\n", metricsURL)
	}
	if tracingTo != "" {
		fmt.Fprintf(w, "Tracing:    OTLP/HTTP to %s\n", tracingTo)
	}
	if gateway != "" {
		fmt.Fprintf(w, "Gateway:    %s\n", gateway)
	}
	fmt.Fprintln(w, "Ready. Stop with Ctrl-C.")
}

// modeText says a DHT mode and whether the node serves.
func modeText(configured, effective string) string {
	serving := "serving"
	if effective != string(node.ModeServer) {
		serving = "not serving"
	}
	return fmt.Sprintf("%s (%s)", configured, serving)
}
