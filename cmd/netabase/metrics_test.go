package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/internal/control"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
)

// metricsURL returns the metrics address a daemon's banner gave.
func metricsURL(t *testing.T, banner string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Metrics: +(http://\S+/metrics) `).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("the banner gives no metrics address:\n%s", banner)
	}
	return m[1]
}

// scrape reads a metrics page: each series, as written (name{labels}),
// with its value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	body := httpGet(t, url)
	out := map[string]float64{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s: line %q: %v", url, line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func httpGet(t *testing.T, url string) string {
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

// TestMetricsEndpoint runs two daemon processes serving metrics on
// loopback, makes them work (a put that reaches the other, a provider
// record, a synced collection), and checks that the metrics exist and
// move, and that /debug/pprof/ answers.
func TestMetricsEndpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dirA, dirB := shortDir(t), shortDir(t)
	daemonArgs := func(dir string) []string {
		return []string{"daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--storage", "memory://", "--metrics", "127.0.0.1:0"}
	}
	a := startProcess(t, daemonArgs(dirA)...)
	addrA := waitReady(t, ctx, a.stdout.lines, a.exited, a.output)
	b := startProcess(t, daemonArgs(dirB)...)
	waitReady(t, ctx, b.stdout.lines, b.exited, b.output)
	urlA, urlB := metricsURL(t, a.stdout.String()), metricsURL(t, b.stdout.String())

	before := scrape(t, urlB)
	for _, name := range []string{
		`netabase_peers`, `netabase_dht_routing_table_peers`,
		`netabase_dht_accepted_total{kind="record"}`, `netabase_dht_accepted_total{kind="provider"}`,
		`netabase_held_records`, `netabase_held_bytes`, `netabase_held_provider_records`,
		`netabase_backend_state{state="up"}`, `netabase_event_subscribers`, `netabase_events_lost_total`,
		`netabase_backend_operation_duration_seconds_count{op="put"}`, `netabase_backend_operation_errors_total{op="get"}`,
	} {
		if _, ok := before[name]; !ok {
			t.Errorf("b's metrics have no %s", name)
		}
	}
	if before[`netabase_backend_state{state="up"}`] != 1 {
		t.Errorf("netabase_backend_state{state=\"up\"} is %v, want 1", before[`netabase_backend_state{state="up"}`])
	}
	var libp2p bool
	for name := range before {
		libp2p = libp2p || strings.HasPrefix(name, "libp2p_rcmgr_")
	}
	if !libp2p {
		t.Error("b's metrics have no libp2p_rcmgr_* series: go-libp2p's metrics are off")
	}

	runProcess(t, ctx, "connect", "--data-dir", dirB, addrA)
	runProcess(t, ctx, "bootstrap", "--data-dir", dirB)
	runProcess(t, ctx, "bootstrap", "--data-dir", dirA)
	runProcess(t, ctx, "sync", "join", "--data-dir", dirA, "chat")
	runProcess(t, ctx, "sync", "join", "--data-dir", dirB, "chat")
	runProcess(t, ctx, "put", "--data-dir", dirA, "note", "written by a")
	runProcess(t, ctx, "provide", "--data-dir", dirA, "a's dataset")
	runProcess(t, ctx, "sync", "put", "--data-dir", dirA, "chat", "greeting", "hello")

	// Gossip and reconciliation take a moment; the rest is done.
	var after map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		after = scrape(t, urlB)
		if after[`netabase_sync_records{collection="chat"}`] == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, name := range []string{
		`netabase_peers`, `netabase_dht_routing_table_peers`,
		`netabase_dht_accepted_total{kind="record"}`, `netabase_dht_accepted_total{kind="provider"}`,
		`netabase_held_records`, `netabase_held_bytes`, `netabase_held_provider_records`,
		`netabase_backend_operation_duration_seconds_count{op="put"}`,
		`netabase_backend_operation_duration_seconds_count{op="get"}`,
		`netabase_sync_records{collection="chat"}`,
	} {
		if after[name] <= before[name] {
			t.Errorf("b's %s did not move: %v before, %v after", name, before[name], after[name])
		}
	}
	scrapedA := scrape(t, urlA)
	if scrapedA[`netabase_backend_operation_duration_seconds_count{op="put"}`] == 0 {
		t.Error("a's backend puts were not measured")
	}
	var kad float64
	for name, v := range scrapedA {
		if strings.HasPrefix(name, "libp2p_kad_dht_rpc_outbound_messages_total") {
			kad += v
		}
	}
	if kad == 0 {
		t.Error("a's metrics count no kad-dht messages sent (libp2p_kad_dht_rpc_outbound_messages_total)")
	}

	var st control.Stats
	if err := json.Unmarshal([]byte(runProcess(t, ctx, "stats", "--json", "--data-dir", dirB)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Peers != 1 || st.RoutingTable != 1 || st.Accepted.Records == 0 || st.Accepted.Providers == 0 || st.Held.Records == 0 ||
		st.BackendState != "up" || len(st.Synced) != 1 || st.Synced[0].Name != "chat" || st.Synced[0].Records != 1 {
		t.Errorf("b's stats: %+v", st)
	}

	base := strings.TrimSuffix(urlA, "/metrics")
	if !strings.Contains(httpGet(t, base+"/debug/pprof/"), "goroutine") {
		t.Error("/debug/pprof/ does not list the goroutine profile")
	}
	if !strings.Contains(httpGet(t, base+"/debug/pprof/goroutine?debug=1"), "goroutine profile:") {
		t.Error("/debug/pprof/goroutine gives no profile")
	}
}

// TestMetricsRefused: a --metrics that is no address is a usage error, and
// a busy one stops a first start before the data directory is written.
func TestMetricsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := shortDir(t)
	base := []string{"daemon", "--data-dir", dir, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"}
	code, _, errOut := runIn(ctx, nil, append(base, "--metrics", "localhost")...)
	if code != exitUsage || !strings.Contains(errOut, `--metrics: "localhost" is not a host:port`) {
		t.Errorf("--metrics localhost: exit %d, said %q", code, errOut)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, _, errOut = runIn(ctx, nil, append(base, "--metrics", l.Addr().String())...)
	if code != exitFailure || !strings.Contains(errOut, "--metrics: cannot serve metrics on "+l.Addr().String()) {
		t.Errorf("--metrics on a busy address: exit %d, said %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused first start wrote %s: %v", config.FileName, err)
	}
}

// TestStats: netabase stats of a fresh daemon with a synced collection.
func TestStats(t *testing.T) {
	t.Setenv(certDirEnv, t.TempDir()) // stats.golden shows the suite run at start
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := startDaemon(t, ctx, "--storage", "memory://")
	d.cli(t, ctx, "sync", "join", "chat")
	golden(t, "stats.golden", normalise(d.cli(t, ctx, "stats")))
}

// childPIDs returns the processes whose parent is pid (Linux).
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	var out []int
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestPluginMetrics runs a daemon process on the bbolt example plugin with
// metrics on, and checks that the plugin's call round-trip times, calls in
// flight and restarts are on the metrics page and in netabase stats, and
// move: with puts, and with a restart after the plugin is killed.
func TestPluginMetrics(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the plugin's process through /proc")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bins, err := testplugins.Build(t.TempDir(), testplugins.Bbolt)
	if err != nil {
		t.Fatal(err)
	}
	bbolt := bins[testplugins.Bbolt]
	sum, err := host.Checksum(bbolt)
	if err != nil {
		t.Fatal(err)
	}
	storage := host.FormatURL(bbolt, sum, url.Values{"path": {filepath.Join(t.TempDir(), "x.db")}})
	dir := shortDir(t)
	d := startProcess(t, "daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns",
		"--storage", storage, "--metrics", "127.0.0.1:0")
	waitReady(t, ctx, d.stdout.lines, d.exited, d.output)
	page := metricsURL(t, d.stdout.String())

	const (
		count    = `netabase_plugin_call_duration_seconds_count`
		inFlight = `netabase_plugin_calls_in_flight`
		restarts = `netabase_plugin_restarts_total`
	)
	before := scrape(t, page)
	for _, name := range []string{count, `netabase_plugin_call_duration_seconds_bucket{le="+Inf"}`, `netabase_plugin_call_duration_seconds_bucket{le="0.00512"}`, inFlight, restarts} {
		if _, ok := before[name]; !ok {
			t.Errorf("the metrics have no %s", name)
		}
	}
	for i := range 5 {
		runProcess(t, ctx, "put", "--data-dir", dir, fmt.Sprintf("note%d", i), "v")
	}
	after := scrape(t, page)
	if after[count] < before[count]+5 {
		t.Errorf("%s went from %v to %v over 5 puts", count, before[count], after[count])
	}
	if after[inFlight] != 0 || after[restarts] != 0 {
		t.Errorf("%s = %v and %s = %v on a quiet daemon whose plugin never died", inFlight, after[inFlight], restarts, after[restarts])
	}

	var plugins []int
	for _, pid := range childPIDs(t, d.cmd.Process.Pid) {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe == bbolt {
			plugins = append(plugins, pid)
		}
	}
	if len(plugins) != 1 {
		t.Fatalf("the daemon runs %d bbolt plugin processes, want 1", len(plugins))
	}
	if err := syscall.Kill(plugins[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for scrape(t, page)[restarts] != 1 {
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not reach 1 after the plugin was killed: %v", restarts, scrape(t, page)[restarts])
		case <-time.After(100 * time.Millisecond):
		}
	}

	var st control.Stats
	if err := json.Unmarshal([]byte(runProcess(t, ctx, "stats", "--json", "--data-dir", dir)), &st); err != nil {
		t.Fatal(err)
	}
	if p := st.Plugin; p == nil || p.Calls < 5 || p.Restarts != 1 || p.P50MS <= 0 || p.P95MS < p.P50MS {
		t.Errorf("stats of the plugin: %+v", p)
	}
	text := runProcess(t, ctx, "stats", "--data-dir", dir)
	if !regexp.MustCompile(`(?m)^Plugin: +\d+ calls, round trip p50 \d+\.\d{3} ms, p95 \d+\.\d{3} ms; \d+ in flight, 1 restart$`).MatchString(text) {
		t.Errorf("netabase stats does not sum up the plugin's calls:\n%s", text)
	}
}
