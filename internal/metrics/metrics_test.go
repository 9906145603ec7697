package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/metrics"
	"github.com/netabase/netabase/plugins/host"
)

func TestBackend(t *testing.T) {
	ctx := context.Background()
	reg := metrics.NewRegistry()
	m, err := metrics.NewBackend(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.Wrap(dssync.MutexWrap(ds.NewMapDatastore()), core.Info{Name: "map", Version: "v1", Build: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := core.Observe(b, m); err != nil {
		t.Fatal(err)
	}
	_ = b.Put(ctx, ds.NewKey("/a"), []byte("v"))
	_, _ = b.Get(ctx, ds.NewKey("/a"))
	_, _ = b.Get(ctx, ds.NewKey("/missing"))
	_ = b.Close()
	_, _ = b.Get(ctx, ds.NewKey("/a"))
	m.Observe(core.OpSync, 50*time.Microsecond, nil) // between the bounds 40µs and 160µs
	plugin := new(host.Driver).CallStats()           // the plugin driver's histogram, empty
	plugin.Calls, plugin.Seconds, plugin.InFlight, plugin.Restarts = 1, 0.001, 2, 3
	if err := reg.Register(metrics.NewPlugin(func() core.CallStats { return plugin })); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	text := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`netabase_backend_operation_duration_seconds_count{op="put"} 1`,
		`netabase_backend_operation_duration_seconds_count{op="get"} 3`,
		`netabase_backend_operation_errors_total{op="get"} 1`, // the closed store's, not the missing key's
		`netabase_backend_operation_errors_total{op="put"} 0`,
		`netabase_backend_operation_duration_seconds_bucket{op="put",le="+Inf"} 1`,
		`netabase_backend_operation_duration_seconds_bucket{op="sync",le="4e-05"} 0`,
		`netabase_backend_operation_duration_seconds_bucket{op="sync",le="0.00016"} 1`,
		`netabase_backend_operation_duration_seconds_sum{op="sync"} 5e-05`,
		`netabase_plugin_calls_in_flight 2`,
		`netabase_plugin_restarts_total 3`,
		`netabase_plugin_call_duration_seconds_count 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics has no line %q", want)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := promlint.NewWithMetricFamilies(families).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("the metrics break Prometheus's naming conventions: %v %v", problems, err)
	}
	if !strings.Contains(get(t, srv.URL+"/debug/pprof/"), "goroutine") {
		t.Error("/debug/pprof/ does not list the goroutine profile")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, res.Status, err)
	}
	return string(b)
}
