package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/metrics"
)

// metricsEndpoint is the daemon's metrics endpoint ([metrics] in
// config.toml, --metrics): its listener, taken before the node starts so
// that a busy address stops the daemon at once, and the registry the node's
// libp2p host reports to, and kad-dht through OpenTelemetry.
type metricsEndpoint struct {
	l        net.Listener
	reg      *prometheus.Registry
	srv      *http.Server
	stopOTel func(context.Context) error
}

// listenMetrics takes the address of m when metrics are on, and returns
// nil when they are off.
func listenMetrics(m config.Metrics, flag bool, dir string) (*metricsEndpoint, error) {
	if !m.Enabled {
		return nil, nil
	}
	l, err := listenHTTP(m.Address, "metrics", "metrics", flag, dir)
	if err != nil {
		return nil, err
	}
	e := &metricsEndpoint{l: l, reg: metrics.NewRegistry()}
	if e.stopOTel, err = metrics.BridgeOpenTelemetry(e.reg); err != nil {
		_ = l.Close()
		return nil, failed(fmt.Errorf("cannot export kad-dht's metrics: %w", err))
	}
	return e, nil
}

// listenHTTP takes addr for an HTTP endpoint of the daemon that serves
// what, set by the flag --section (flag is true) or by section.address in
// the config.toml of dir; a failure names the one that set it.
func listenHTTP(addr, what, section string, flag bool, dir string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l, nil
	}
	msg := fmt.Sprintf("cannot serve %s on %s (is another program using it?): %v", what, addr, err)
	if flag {
		return nil, failed(fmt.Errorf("--%s: %s", section, msg))
	}
	return nil, failed(config.ErrorAt(filepath.Join(dir, config.FileName), section+".address", msg))
}

// registerer is where the node's libp2p host reports: nil when metrics are
// off.
func (m *metricsEndpoint) registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.reg
}

// url is the address of the metrics page, or "" when metrics are off.
func (m *metricsEndpoint) url() string {
	if m == nil {
		return ""
	}
	return "http://" + m.l.Addr().String() + "/metrics"
}

// serve measures n's backend, exports n's figures (and its storage
// plugin's calls, when calls is not nil) and starts serving; a failure to
// serve later is written to stderr.
func (m *metricsEndpoint) serve(n *node.Node, calls func() core.CallStats, stderr io.Writer) error {
	if m == nil {
		return nil
	}
	b, err := metrics.NewBackend(m.reg)
	if err != nil {
		return err
	}
	if err := core.Observe(n.Datastore(), b); err != nil {
		return err
	}
	if err := m.reg.Register(metrics.NewNode(n)); err != nil {
		return err
	}
	if calls != nil {
		if err := m.reg.Register(metrics.NewPlugin(calls)); err != nil {
			return err
		}
	}
	m.srv = &http.Server{Handler: metrics.Handler(m.reg), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := m.srv.Serve(m.l); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "netabase: the metrics endpoint stopped: %v\n", err)
		}
	}()
	return nil
}

// pluginCalls returns what reads the figures of the calls to the storage
// plugin of n since now (the admission suite's calls to scratch stores
// before are left out), or nil when n's backend makes no such calls.
func pluginCalls(n *node.Node) func() core.CallStats {
	base, ok := n.CallStats()
	if !ok {
		return nil
	}
	return func() core.CallStats {
		now, _ := n.CallStats()
		return now.Since(base)
	}
}

// close stops serving, and frees the address.
func (m *metricsEndpoint) close() {
	if m == nil {
		return
	}
	_ = m.stopOTel(context.Background())
	if m.srv != nil {
		_ = m.srv.Close()
		return
	}
	_ = m.l.Close()
}
