package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core/gateway/gatewayclient"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/systest"
)

// stepTimeout bounds one step in the browser: loading the 18 MB page on
// a loaded machine takes seconds.
const stepTimeout = 90 * time.Second

// daemon is a netabase daemon process with its gateway on.
type daemon struct {
	bin, dir string
	gateway  string
	id       string
}

// startDaemon builds the netabase binary and starts a daemon on loopback
// with the gateway on, allowing origin; it is stopped (its process group
// killed) when the test ends.
func startDaemon(t *testing.T, ctx context.Context, origin string) *daemon {
	t.Helper()
	d := &daemon{bin: filepath.Join(t.TempDir(), "netabase"), dir: t.TempDir()}
	if _, err := goOutput(ctx, nil, "build", "-o", d.bin, "github.com/netabase/netabase/cmd/netabase"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(d.bin, "daemon", "--data-dir", d.dir, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--no-mdns", "--gateway", "127.0.0.1:0", "--gateway-origin", origin)
	cmd.Env = append(os.Environ(), "NETABASE_CERT_DIR="+d.dir) // not the user's cache directory
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", stderr.String())
		}
	})
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	gw := regexp.MustCompile(`^Gateway: +(http://\S+) \(read-only\)$`)
	id := regexp.MustCompile(`^Peer ID: +(\S+)$`)
	for d.gateway == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the daemon stopped before it served the gateway:\n%s", stderr.String())
			}
			if m := gw.FindStringSubmatch(line); m != nil {
				d.gateway = m[1]
			}
			if m := id.FindStringSubmatch(line); m != nil {
				d.id = m[1]
			}
		case <-ctx.Done():
			t.Fatalf("the daemon did not serve its gateway: %v\n%s", ctx.Err(), stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return d
}

// cli runs a netabase command against the daemon and returns its stdout.
func (d *daemon) cli(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, d.bin, append([]string{"--data-dir", d.dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("netabase %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// browser starts headless Chromium with a fresh profile. The page's
// console and exceptions are logged when the test fails.
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	path := systest.LookPath(t, "chromium", "chromium")
	actx, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	var mu sync.Mutex
	var console []string
	err := chromedp.Listen(bctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			line = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			line = "exception: " + ev.ExceptionDetails.Text + " " + exceptionDescription(ev.ExceptionDetails)
		default:
			return
		}
		mu.Lock()
		console = append(console, line)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() {
			t.Logf("the page's console:\n%s", strings.Join(console, "\n"))
		}
	})
	return bctx
}

// admissionTimeout bounds the first load's admission: the conformance
// suite in the page takes about 25 s in Chromium on an idle machine, and
// minutes on one that is loaded.
const admissionTimeout = 5 * time.Minute

// step runs browser actions within stepTimeout.
func step(t *testing.T, bctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepWithin(t, bctx, stepTimeout, what, actions...)
}

// stepWithin runs browser actions within timeout.
func stepWithin(t *testing.T, bctx context.Context, timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, text)
	}
}

// text is the text of the first element sel selects. It is read in one
// evaluation in the page: the page rebuilds its lists as records arrive, so
// a node found by one protocol call may be gone by the next.
func text(t *testing.T, bctx context.Context, sel string) string {
	t.Helper()
	return read(t, bctx, sel, "textContent")
}

// attr is an attribute of the first element sel selects, read as text is.
func attr(t *testing.T, bctx context.Context, sel, name string) string {
	t.Helper()
	return read(t, bctx, sel, "getAttribute("+quote(name)+")")
}

func read(t *testing.T, bctx context.Context, sel, what string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(bctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector(`+quote(sel)+`); return e ? String(e.`+what+`) : "(no element)"; })()`))
	if err != nil {
		t.Fatalf("reading %s of %s: %v", what, sel, err)
	}
	return s
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// wait waits for an element sel selects.
func wait(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitReady(chromedp.CSS(sel)) }

func pageURL(base, gateway string, q url.Values) string {
	q.Set("gateway", gateway)
	return base + "/?" + q.Encode()
}

// TestBrowser loads the example in headless Chromium against a daemon
// with its gateway on: the page's store is admitted by the conformance
// suite on the first load and from the cached certificate, naming the
// page's program, on a reload; a record put with the CLI shows up verified
// with its owner, and so do the notes of a synced collection, the ones written
// before the page opened and one written while it is open; a fake gateway
// that alters an envelope is refused, and stores nothing in the page.
func TestBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	bctx := browser(t, ctx)

	pageDir := t.TempDir()
	if _, err := Build(ctx, pageDir); err != nil {
		t.Fatal(err)
	}
	h, err := Handler(pageDir)
	if err != nil {
		t.Fatal(err)
	}
	page := httptest.NewServer(h)
	defer page.Close()
	d := startDaemon(t, ctx, page.URL)

	key := d.cli(t, ctx, "put", "greeting", "hello from the CLI")
	if want := "/netabase/" + d.id + "/greeting"; key != want {
		t.Fatalf("put printed %q, want %q", key, want)
	}
	d.cli(t, ctx, "sync", "join", "notes")
	d.cli(t, ctx, "sync", "put", "notes", "n1", "the first note")

	wasm, err := os.ReadFile(filepath.Join(pageDir, "main.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	program := "program sha256:" + hex.EncodeToString(sum[:])

	start := time.Now()
	step(t, bctx, "the record put with the CLI, verified",
		chromedp.Navigate(pageURL(page.URL, d.gateway, url.Values{"key": {key}})),
		wait(`#record[data-state="verified"]`),
	)
	// The first load of this build in this browser: the page's store is
	// admitted by running the conformance suite.
	stepWithin(t, bctx, admissionTimeout, "the page's store, admitted by the conformance suite",
		wait(`#admission[data-state="admitted"]`))
	firstLoad := time.Since(start)
	checkAdmission(t, bctx, false, program)
	owner, value := attr(t, bctx, "#record", "data-owner"), text(t, bctx, `#record [data-field="value"] span`)
	if owner != d.id || value != "hello from the CLI" {
		t.Errorf("the page shows %q by %s; want %q by the daemon's peer %s", value, owner, "hello from the CLI", d.id)
	}
	step(t, bctx, "the note written before the page opened",
		wait(`#sync[data-state="live"]`),
		wait(`#notes li[data-key="n1"]`),
	)
	writer, note1 := attr(t, bctx, `#notes li[data-key="n1"]`, "data-writer"), text(t, bctx, `#notes li[data-key="n1"] .text`)
	if writer != d.id || note1 != "the first note" {
		t.Errorf("note n1 shows %q by %s; want %q by %s", note1, writer, "the first note", d.id)
	}
	d.cli(t, ctx, "sync", "put", "notes", "n2", "written while the page is open")
	step(t, bctx, "the note written while the page is open", wait(`#notes li[data-key="n2"]`))
	if note2 := text(t, bctx, `#notes li[data-key="n2"] .text`); note2 != "written while the page is open" {
		t.Errorf("note n2 shows %q", note2)
	}

	// A reload with no daemon to reach: the store is admitted from the
	// certificate the first load cached, and the notes come from IndexedDB.
	start = time.Now()
	step(t, bctx, "the page's store, admitted from the cached certificate",
		chromedp.Navigate(pageURL(page.URL, "http://127.0.0.1:1", url.Values{})),
		wait(`#admission[data-state="admitted"]`),
	)
	reload := time.Since(start)
	checkAdmission(t, bctx, true, program)
	t.Logf("load to admitted store: %.1f s with the suite (first load), %.1f s from the cached certificate (reload)",
		firstLoad.Seconds(), reload.Seconds())
	step(t, bctx, "the notes kept in IndexedDB, shown with no daemon",
		wait(`#sync[data-state="offline"]`),
		wait(`#notes[data-count="2"]`),
	)
	if note := text(t, bctx, `#notes li[data-key="n1"] .text`); note != "the first note" {
		t.Errorf("after a reload without the daemon, note n1 shows %q", note)
	}
	if writer := attr(t, bctx, `#notes li[data-key="n2"]`, "data-writer"); writer != d.id {
		t.Errorf("after a reload without the daemon, note n2 is by %q", writer)
	}
	// Back to the daemon, which got a note meanwhile: the page resumes
	// from its cursor (Last-Event-ID, through a CORS preflight) and catches
	// up.
	d.cli(t, ctx, "sync", "put", "notes", "n3", "written while the page was away")
	d.cli(t, ctx, "sync", "rm", "notes", "n1")
	step(t, bctx, "the notes written while the page was away",
		chromedp.Navigate(pageURL(page.URL, d.gateway, url.Values{})),
		wait(`#sync[data-state="live"]`),
		wait(`#notes li[data-key="n3"]`),
		wait(`#notes[data-count="2"]`),
	)
	if note := text(t, bctx, `#notes li[data-key="n3"] .text`); note != "written while the page was away" {
		t.Errorf("note n3 shows %q", note)
	}
	if shown := text(t, bctx, "#notes"); strings.Contains(shown, "the first note") {
		t.Errorf("the page still shows n1, which was removed: %q", shown)
	}

	// A gateway that alters what it serves.
	rec := fetch(t, d.gateway+"/v1/record?key="+url.QueryEscape(key))
	var evs []string
	for _, line := range strings.Split(fetchStream(t, ctx, d.gateway+"/v1/sync/notes/events"), "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok && !strings.HasPrefix(data, "{") {
			evs = append(evs, data)
		}
	}
	var note []byte
	for _, e := range evs {
		b, err := base64.StdEncoding.DecodeString(e)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("written while the page was away")) {
			note = b
		}
	}
	if note == nil {
		t.Fatalf("the daemon's stream does not hold note n3")
	}
	fake := fakeGateway(t, tamper(t, rec, "hello from the CLI"), tamper(t, note, "written while the page was away"))
	step(t, bctx, "the tampered record and note, refused",
		chromedp.Navigate(pageURL(page.URL, fake.URL, url.Values{"key": {key}})),
		wait(`#record[data-state="refused"]`),
		wait(`#refused[data-count="1"]`),
		wait(`#sync[data-state="live"]`),
	)
	if refused := text(t, bctx, "#record"); !strings.Contains(refused, "the signature does not verify") {
		t.Errorf("the tampered record is refused saying %q; want the signature not verifying", refused)
	}
	if refused := text(t, bctx, "#refused li"); !strings.Contains(refused, "the signature does not verify") {
		t.Errorf("the tampered note is refused saying %q", refused)
	}
	if shown := text(t, bctx, "#notes"); strings.Contains(shown, "vritten while the page was away") {
		t.Errorf("the page shows the tampered note: %q", shown)
	}
}

// checkAdmission checks what the page says of its store's admission: by
// the conformance suite run now, or by the certificate cached for the
// program whose build is program.
func checkAdmission(t *testing.T, bctx context.Context, cached bool, program string) {
	t.Helper()
	shown, build := text(t, bctx, "#admission"), attr(t, bctx, "#admission", "title")
	t.Logf("the page: %s (the gate took %s s)", shown, attr(t, bctx, "#admission", "data-seconds"))
	how := "the suite ran now"
	if cached {
		how = "cached certificate"
	}
	if got := attr(t, bctx, "#admission", "data-cached"); got != strconv.FormatBool(cached) ||
		!strings.Contains(shown, "conformance suite v"+conformance.Version+" passed") || !strings.Contains(shown, how) {
		t.Errorf("the page's admission shows %q, cached %s; want suite v%s passed, %s", shown, got, conformance.Version, how)
	}
	if !strings.Contains(build, program) {
		t.Errorf("the admitted build is %q; want it to name the page's program, %s", build, program)
	}
}

// fetch reads a URL.
func fetch(t *testing.T, u string) []byte {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", u, res.StatusCode, err)
	}
	return b
}

// fetchStream reads an event stream up to its ready event.
func fetchStream(t *testing.T, ctx context.Context, u string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if sc.Text() == "event: ready" {
			return b.String()
		}
	}
	t.Fatalf("the stream %s ended before its ready event: %v", u, sc.Err())
	return ""
}

// tamper flips a bit of the first byte of value inside an envelope: it
// stays well-formed, and only the signature can tell.
func tamper(t *testing.T, data []byte, value string) []byte {
	t.Helper()
	i := bytes.Index(data, []byte(value))
	if i < 0 {
		t.Fatalf("the envelope does not hold %q", value)
	}
	out := bytes.Clone(data)
	out[i] ^= 0x01
	return out
}

// fakeGateway serves record for every key and a stream holding note,
// to any origin.
func fakeGateway(t *testing.T, record, note []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Headers", "Last-Event-ID")
		switch {
		case r.Method == http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/v1/info":
			// The collection as a daemon that joined it with no options
			// describes it; the page checks the settings before it follows.
			notes, err := replica.Settings{Name: "notes"}.Normalize()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			d := notes.Digest()
			h.Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(gatewayclient.Info{ID: "fake", Synced: []gatewayclient.Collection{{Settings: notes, Digest: hex.EncodeToString(d[:])}}})
		case r.URL.Path == "/v1/record":
			h.Set("Content-Type", "application/vnd.netabase.envelope+cbor")
			_, _ = w.Write(record)
		case r.URL.Path == "/v1/sync/notes/events":
			h.Set("Content-Type", "text/event-stream")
			ready, _ := json.Marshal(map[string]int{"records": 1})
			fmt.Fprintf(w, "event: record\ndata: %s\n\nid: %d\nevent: ready\ndata: %s\n\n",
				base64.StdEncoding.EncodeToString(note), time.Now().UnixNano(), ready)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections() // ends the stream the page holds open
		srv.Close()
	})
	return srv
}

func exceptionDescription(d *runtime.ExceptionDetails) string {
	if d.Exception == nil {
		return ""
	}
	return d.Exception.Description
}
