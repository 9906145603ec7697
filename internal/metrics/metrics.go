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
	"sync/atomic"
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
// Its histogram is its own, read by Prometheus at a scrape: an operation
// costs it two atomic additions (its bucket and the sum of durations, in
// nanoseconds), where a prometheus.Histogram makes four, one of them a
// compare-and-swap loop on a float.
type Backend struct {
	counts [numOps][len(durationBounds) + 1]atomic.Uint64 // by op and bucket; the last is +Inf
	sums   [numOps]atomic.Int64                           // nanoseconds, by op
	errs   *prometheus.CounterVec
	failed [numOps]prometheus.Counter // by opIndex, resolved once
}

var _ core.Observer = (*Backend)(nil)

// durationBounds are the histogram's bucket bounds: 10µs to ~10s by
// fours, an in-memory get to a slow fsync.
var durationBounds = [...]time.Duration{
	10 * time.Microsecond, 40 * time.Microsecond, 160 * time.Microsecond, 640 * time.Microsecond,
	2560 * time.Microsecond, 10240 * time.Microsecond, 40960 * time.Microsecond, 163840 * time.Microsecond,
	655360 * time.Microsecond, 2621440 * time.Microsecond, 10485760 * time.Microsecond,
}

var descDuration = prometheus.NewDesc(Namespace+"_backend_operation_duration_seconds",
	"How long the storage backend's operations took, until acknowledged (a synced write includes its sync), by operation.",
	[]string{"op"}, nil)

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
		b.failed[i] = b.errs.WithLabelValues(string(op))
	}
	if err := reg.Register(histograms{b}); err != nil {
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
	k := 0
	for k < len(durationBounds) && took > durationBounds[k] {
		k++
	}
	b.counts[i][k].Add(1)
	b.sums[i].Add(int64(took))
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		b.failed[i].Inc()
	}
}

// histograms collects a Backend's histograms.
type histograms struct{ b *Backend }

func (histograms) Describe(ch chan<- *prometheus.Desc) { ch <- descDuration }

// Collect reads every operation's histogram. Its count is the sum of its
// buckets, read one by one while operations go on, so a scrape is
// consistent with itself though not an instant's picture.
func (h histograms) Collect(ch chan<- prometheus.Metric) {
	for _, op := range core.Ops {
		i := opIndex(op)
		buckets := make(map[float64]uint64, len(durationBounds))
		var count uint64
		for k, bound := range durationBounds {
			count += h.b.counts[i][k].Load()
			buckets[bound.Seconds()] = count
		}
		count += h.b.counts[i][len(durationBounds)].Load()
		sum := time.Duration(h.b.sums[i].Load()).Seconds()
		ch <- prometheus.MustNewConstHistogram(descDuration, count, sum, buckets, string(op))
	}
}
