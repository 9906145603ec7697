//go:build linux

package idbstore_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/internal/testkit/systest"
)

// pageTimeout bounds one load of the page: an admission (the conformance
// suite on scratch databases) and the phase's work, on a loaded machine.
const pageTimeout = 8 * time.Minute

// pageResult is the report the page sets in window.netabaseResult.
type pageResult struct {
	Error     string              `json:"error"`
	Admission *conformance.Report `json:"admission"`
	Cached    bool                `json:"cached"`
	Build     string              `json:"build"`
	Written   int                 `json:"written"`
	Found     map[string]int      `json:"found"`
	Refusals  []string            `json:"refusals"`
	Eval      bool                `json:"eval"`
	Bench     []struct {
		Backend string  `json:"backend"`
		Op      string  `json:"op"`
		N       int     `json:"n"`
		PerSec  float64 `json:"per_sec"`
		Seconds float64 `json:"seconds"`
	} `json:"bench"`
}

// TestBrowser runs idbstore in headless Chromium: a page (internal/page,
// built for js/wasm) admits idb://notes through the admission gate, which
// runs the conformance suite on scratch databases and keeps its pass in
// localStorage, and writes typed notes; the page loaded again in the same
// profile is admitted from that certificate and finds them (persistent); after
// more notes and a Sync, every Chromium process of the profile is killed at
// once, and a new Chromium on the same profile, admitting idb://notes?sync=true
// by the suite again, finds every synced note (durable).
func TestBrowser(t *testing.T) {
	chromium := systest.LookPath(t, "chromium", "chromium")
	site, _, _ := servePage(t)
	profile := t.TempDir()
	const n = 40

	b := startBrowser(t, chromium, profile)
	r := b.load(t, site+"/?phase=write&db=notes&cache=t&gen=a&n="+strconv.Itoa(n))
	checkAdmission(t, r)
	if r.Written != n {
		t.Fatalf("the page wrote %d notes, want %d", r.Written, n)
	}

	// Persistent: the page, loaded anew, finds what it wrote; the gate
	// admits the store from the certificate the first load kept in
	// localStorage for this build of the program.
	r = b.load(t, site+"/?phase=check&db=notes&cache=t&gen=a&n="+strconv.Itoa(n))
	checkCached(t, r)
	if r.Found["a"] != n {
		t.Fatalf("after a reload the page found %d of the %d notes it wrote", r.Found["a"], n)
	}

	// Durable: notes acknowledged and synced survive a crash of the browser.
	r = b.load(t, site+"/?phase=write&db=notes&cache=t&gen=b&n="+strconv.Itoa(n))
	checkCached(t, r)
	if r.Written != n {
		t.Fatalf("the page wrote %d notes, want %d", r.Written, n)
	}
	b.crash(t)

	// Opened with sync=true this time, and with no certificate cache, so
	// the admission runs the suite again, on stores that commit every write
	// with durability "strict".
	b = startBrowser(t, chromium, profile)
	r = b.load(t, site+"/?phase=check&db=notes&sync=true&gen=a,b&n="+strconv.Itoa(n))
	checkAdmission(t, r)
	for _, gen := range []string{"a", "b"} {
		if r.Found[gen] != n {
			t.Errorf("after the browser was killed, the page found %d of the %d synced notes of generation %s", r.Found[gen], n, gen)
		}
	}
}

// TestBrowserWithoutEval admits idb:// by the conformance suite in a page
// whose Content-Security-Policy forbids making functions from source, which
// idbstore uses to read a page of a scan in one copy: it reads each entry
// by itself there, and passes the suite all the same.
func TestBrowserWithoutEval(t *testing.T) {
	chromium := systest.LookPath(t, "chromium", "chromium")
	site, _, _ := servePage(t)
	b := startBrowser(t, chromium, t.TempDir())
	r := b.load(t, site+"/?phase=write&db=noeval&gen=a&n=5&csp=no-eval")
	if r.Eval {
		t.Fatalf("the page could make a function from source despite its Content-Security-Policy")
	}
	checkAdmission(t, r)
	if r.Written != 5 {
		t.Fatalf("the page wrote %d notes, want 5", r.Written)
	}
	r = b.load(t, site+"/?phase=refusals&n=1")
	if !r.Eval {
		t.Errorf("the page without a Content-Security-Policy could not make a function from source")
	}
}

// TestBrowserRefusals opens, in Chromium, two databases another program
// made (one with object stores of its own, one at a higher version): the
// store refuses each with an error saying why and leaves it as it was.
func TestBrowserRefusals(t *testing.T) {
	chromium := systest.LookPath(t, "chromium", "chromium")
	site, _, _ := servePage(t)
	b := startBrowser(t, chromium, t.TempDir())
	r := b.load(t, site+"/?phase=refusals&n=1")
	if len(r.Refusals) != 2 {
		t.Fatalf("the page reports %d refusals, want 2: %q", len(r.Refusals), r.Refusals)
	}
	for _, e := range r.Refusals {
		t.Logf("refused: %s", e)
	}
}

// BenchmarkBrowser measures, in one page in headless Chromium, typed puts
// and gets (core/model, one Put per write) over idb:// against the memory
// backend, and reports the page program's size. Run it once:
//
//	go test ./backends/idbstore -run '^$' -bench Browser -benchtime 1x
func BenchmarkBrowser(b *testing.B) {
	chromium := systest.LookPath(b, "chromium", "chromium")
	site, size, gzSize := servePage(b)
	const n = 2000
	for b.Loop() {
		br := startBrowser(b, chromium, b.TempDir())
		r := br.load(b, site+"/?phase=bench&n="+strconv.Itoa(n))
		rate := map[string]float64{}
		for _, m := range r.Bench {
			rate[m.Backend+"-"+m.Op] = m.PerSec
		}
		for _, op := range []string{"put", "get"} {
			idb, mem := rate["idb-"+op], rate["memory-"+op]
			if idb == 0 || mem == 0 {
				b.Fatalf("the page measured no %s rate: %+v", op, r.Bench)
			}
			b.ReportMetric(idb, "idb-"+op+"/s")
			b.ReportMetric(mem, "memory-"+op+"/s")
			b.ReportMetric(mem/idb, "memory/idb-"+op)
		}
	}
	b.ReportMetric(float64(size), "wasm-bytes")
	b.ReportMetric(float64(gzSize), "wasm-gzip-bytes")
}

// BenchmarkBrowserSuite runs the conformance suite on idb:// in one page
// in headless Chromium, one case at a time (conformance.Check) against
// eight at a time (conformance.CheckConcurrently, as a page's gate runs it
// with conformance.ConcurrentSuite), alternately, and reports the medians
// and their ratio. Run it once:
//
//	go test ./backends/idbstore -run '^$' -bench BrowserSuite -benchtime 1x
func BenchmarkBrowserSuite(b *testing.B) {
	chromium := systest.LookPath(b, "chromium", "chromium")
	site, _, _ := servePage(b)
	const rounds, at = 5, 8
	for b.Loop() {
		br := startBrowser(b, chromium, b.TempDir())
		r := br.load(b, site+"/?phase=suite&n="+strconv.Itoa(rounds)+"&at="+strconv.Itoa(at))
		took := map[string][]float64{}
		for _, m := range r.Bench {
			took[m.Op] = append(took[m.Op], m.Seconds)
		}
		one, many := took["suite-1"], took["suite-"+strconv.Itoa(at)]
		if len(one) != rounds || len(many) != rounds {
			b.Fatalf("the page ran the suite %d and %d times, want %d each: %+v", len(one), len(many), rounds, r.Bench)
		}
		b.Logf("one case at a time: %.2f s; %d at a time: %.2f s (each run)", one, at, many)
		slices.Sort(one)
		slices.Sort(many)
		b.ReportMetric(one[rounds/2], "s/suite-1")
		b.ReportMetric(many[rounds/2], "s/suite-"+strconv.Itoa(at))
		b.ReportMetric(one[rounds/2]/many[rounds/2], "speedup")
	}
}

// checkAdmission fails t unless the page's admission ran the conformance
// suite and every case passed or was skipped for a capability idbstore
// does not declare.
func checkAdmission(t testing.TB, r *pageResult) {
	t.Helper()
	if r.Admission == nil {
		t.Fatalf("the page reports no conformance run of its admission")
	}
	if !r.Admission.Passed() {
		t.Fatalf("idbstore failed the conformance suite in Chromium:\n%s", r.Admission)
	}
	if r.Admission.Suite != conformance.Version {
		t.Fatalf("the page ran suite v%s, want v%s", r.Admission.Suite, conformance.Version)
	}
	for _, c := range r.Admission.Cases {
		if c.Status == conformance.Skip && !slices.Contains([]string{"ttl", "transactions", "durable"}, c.Name) {
			t.Errorf("case %s was skipped in Chromium: %s", c.Name, c.Error)
		}
	}
	t.Logf("admission in %s:\n%s", r.Build, r.Admission)
}

// checkCached fails t unless the page's admission used a cached
// certificate, for a build naming the page's program by its digest, and
// did not run the suite.
func checkCached(t testing.TB, r *pageResult) {
	t.Helper()
	if !r.Cached || r.Admission != nil {
		t.Fatalf("the page's admission: cached %v, suite run %v; want the certificate the first load kept", r.Cached, r.Admission != nil)
	}
	if !strings.Contains(r.Build, "program sha256:") {
		t.Errorf("the admitted build %q does not name the program's digest", r.Build)
	}
}

// servePage builds the page program for js/wasm and serves it, with Go's
// wasm_exec.js and the page's HTML, on 127.0.0.1. It returns the site's URL
// and the size of the program, plain and gzipped.
func servePage(t testing.TB) (site string, size, gzSize int) {
	t.Helper()
	dir := t.TempDir()
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "page.wasm"), "./internal/page")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the page for js/wasm: %v\n%s", err, out)
	}
	for src, dst := range map[string]string{
		filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"): "wasm_exec.js",
		filepath.Join("internal", "page", "index.html"):                                 "index.html",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wasm, err := os.ReadFile(filepath.Join(dir, "page.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(wasm); err != nil || w.Close() != nil {
		t.Fatal("gzipping the program failed")
	}
	t.Logf("page.wasm: %d bytes, %d gzipped", len(wasm), gz.Len())
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("csp") == "no-eval" {
			// Scripts of the page's own and WebAssembly, but no function
			// made from a string.
			w.Header().Set("Content-Security-Policy", "script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'")
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, len(wasm), gz.Len()
}

// browser is a headless Chromium on one profile directory.
type browser struct {
	ctx     context.Context
	profile string
	cancel  func()
	mu      sync.Mutex
	console []string // what the page wrote to its console
}

func startBrowser(t testing.TB, chromium, profile string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.CombinedOutput(io.Discard),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx, profile: profile}
	b.cancel = func() {
		cancel()
		acancel()
		killProfile(profile, syscall.SIGKILL)
	}
	t.Cleanup(b.cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m.String())
			b.mu.Unlock()
		}
	}()
	return b
}

// load opens url in the browser's tab and returns the page's report,
// failing t on an error the page reports.
func (b *browser) load(t testing.TB, url string) *pageResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Poll[string]("window.netabaseResult",
		chromedp.WithPollingTimeout(pageTimeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for %s to report: %v\nthe page's console:\n%s", url, err, b.consoleText())
	}
	var r pageResult
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("the report of %s: %v: %s", url, err, raw)
	}
	if r.Error != "" {
		if r.Admission != nil {
			t.Logf("the admission's report:\n%s", r.Admission)
		}
		t.Fatalf("%s: %s\nthe page's console:\n%s", url, r.Error, b.consoleText())
	}
	return &r
}

func (b *browser) consoleText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.console, "\n")
}

// crash ends every process of the browser at once, as a crash or a power
// cut of the machine would end them, leaving its profile as they left it:
// all of them are stopped first (none writes after that), then killed.
func (b *browser) crash(t testing.TB) {
	t.Helper()
	if killProfile(b.profile, syscall.SIGSTOP) == 0 {
		t.Fatal("found no Chromium process to crash")
	}
	killProfile(b.profile, syscall.SIGKILL)
	b.cancel()
	deadline := time.Now().Add(time.Minute)
	for killProfile(b.profile, 0) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("Chromium's processes outlived SIGKILL for a minute")
		}
		time.Sleep(20 * time.Millisecond) // polling the process table, not synchronising
	}
}

// killProfile sends sig to every process whose command line names profile
// as its user data directory (Chromium passes it to every child process),
// and returns how many there were. Signal 0 only counts them.
func killProfile(profile string, sig syscall.Signal) int {
	want := []byte("--user-data-dir=" + profile)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !slices.ContainsFunc(bytes.Split(cmdline, []byte{0}), func(a []byte) bool { return bytes.Equal(a, want) }) {
			continue
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && zombie(stat) {
			continue
		}
		if syscall.Kill(pid, sig) == nil {
			n++
		}
	}
	return n
}

// zombie reports whether /proc/<pid>/stat describes a process that has
// exited and waits to be reaped.
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
