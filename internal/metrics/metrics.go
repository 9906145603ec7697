// Package metrics exports a netabase node's figures to Prometheus, and
// serves them, with Go's profiles, over HTTP: the daemon's --metrics
// endpoint.
//
// Four kinds of metric share one registry, made by [NewRegistry]: go-libp2p's
// own (the node reports them when node.Config.Metrics is the registry),
// kad-dht's, which it reports through OpenTelemetry ([BridgeOpenTelemetry]), the
// backend's operations ([Backend], a core.Observer, so every backend is
// measured once, in core.Wrap's store), and the node's figures ([Node], read
// from the node when Prometheus scrapes, so they cost nothing between
// scrapes). The README's table of metrics lists every name this package
// exports.
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/netabase/netabase/core"
)

// Namespace is the first part of the name of every metric of netabase's
// own.
const Namespace = "netabase"

// NewRegistry returns a registry holding the Go runtime's and the
// process's metrics (go_*, process_*), for the others to join.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the metrics of g at /metrics and Go's profiles at
// /debug/pprof/ (as net/http/pprof serves them, without touching
// http.DefaultServeMux).
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Backend measures a backend's operations: a core.Observer for core.Observe.
type Backend struct {
	durations *prometheus.HistogramVec
	errs      *prometheus.CounterVec
	// by opIndex, resolved once so that Observe looks up no labels
	duration [numOps]prometheus.Observer
	failed   [numOps]prometheus.Counter
}

var _ core.Observer = (*Backend)(nil)

// numOps is the number of operations opIndex knows.
const numOps = 9

// opIndex is the place of op in Backend's arrays, or -1 for an operation
// it does not know. A switch on the name costs a few nanoseconds, less than
// a map's hash of it.
func opIndex(op core.Op) int {
	switch op {
	case core.OpGet:
		return 0
	case core.OpHas:
		return 1
	case core.OpGetSize:
		return 2
	case core.OpPut:
		return 3
	case core.OpDelete:
		return 4
	case core.OpQuery:
		return 5
	case core.OpCommit:
		return 6
	case core.OpSync:
		return 7
	case core.OpTxnCommit:
		return 8
	}
	return -1
}

// NewBackend returns a Backend registered with reg.
func NewBackend(reg prometheus.Registerer) (*Backend, error) {
	b := &Backend{
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "operation_duration_seconds",
			Help: "How long the storage backend's operations took, until acknowledged (a synced write includes its sync), by operation.",
			// 10µs to ~10s: an in-memory get to a slow fsync.
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 11),
		}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "backend", Name: "operation_errors_total",
			Help: "Storage backend operations that failed, by operation; a read of a missing key is not a failure.",
		}, []string{"op"}),
	}
	for _, op := range core.Ops {
		i := opIndex(op)
		if i < 0 {
			return nil, fmt.Errorf("metrics: core's operation %q has no place in metrics.Backend", op)
		}
		b.duration[i] = b.durations.WithLabelValues(string(op))
		b.failed[i] = b.errs.WithLabelValues(string(op))
	}
	if err := reg.Register(b.durations); err != nil {
		return nil, err
	}
	if err := reg.Register(b.errs); err != nil {
		return nil, err
	}
	return b, nil
}

// Observe records one operation.
func (b *Backend) Observe(op core.Op, took time.Duration, err error) {
	i := opIndex(op)
	if i < 0 {
		return
	}
	b.duration[i].Observe(took.Seconds())
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		b.failed[i].Inc()
	}
}
