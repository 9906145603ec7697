package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkFirstLoad measures the first load of a build of the page in
// headless Chromium, from navigation (download and compile included) until
// the conformance suite admitted its store (#admission admitted) and, for
// this tree's page, until it takes messages (#chat ready): each load in a
// fresh profile, with no daemon to reach. With NETABASE_BASELINE_REV set
// to a git revision, the page of that revision (built from `git archive`
// of it) loads too, alternately with this tree's, and the benchmark reports
// both medians and their ratio:
//
//	NETABASE_BASELINE_REV=82365d7 go test ./examples/wasm/serve -run '^$' -bench FirstLoad -benchtime 1x
func BenchmarkFirstLoad(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	type build struct {
		name  string
		site  string
		ready string // what the page shows once it takes writes; "": admission only
		took  []float64
	}
	serve := func(dir string) string {
		h, err := Handler(dir)
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		return srv.URL
	}
	dir := b.TempDir()
	if _, err := Build(ctx, dir); err != nil {
		b.Fatal(err)
	}
	builds := []*build{{name: "this tree", site: serve(dir), ready: `#chat[data-state="ready"]`}}
	if rev := os.Getenv("NETABASE_BASELINE_REV"); rev != "" {
		dir := b.TempDir()
		if err := buildAt(ctx, rev, dir); err != nil {
			b.Fatal(err)
		}
		builds = append(builds, &build{name: rev, site: serve(dir)})
	}
	const rounds = 3
	for b.Loop() {
		for i := range rounds * len(builds) {
			bl := builds[i%len(builds)]
			if (i/len(builds))%2 == 1 {
				bl = builds[len(builds)-1-i%len(builds)]
			}
			bctx := browser(b, ctx)
			start := time.Now()
			stepWithin(b, bctx, admissionTimeout, "the first load of "+bl.name,
				chromedp.Navigate(bl.site+"/?daemon=ws://127.0.0.1:1/v1/sync/chat/ws&gateway=http://127.0.0.1:1"),
				wait(`#admission[data-state="admitted"]`))
			admitted := time.Since(start)
			if bl.ready != "" {
				stepWithin(b, bctx, stepTimeout, "the page of "+bl.name+", taking messages", wait(bl.ready))
			}
			took := time.Since(start)
			b.Logf("%s: admitted after %.1f s, ready after %.1f s (load %s)", bl.name, admitted.Seconds(), took.Seconds(), loadAverage())
			bl.took = append(bl.took, took.Seconds())
		}
	}
	for _, bl := range builds {
		slices.Sort(bl.took)
	}
	med := func(bl *build) float64 { return bl.took[len(bl.took)/2] }
	b.ReportMetric(med(builds[0]), "s/first-load")
	if len(builds) > 1 {
		b.ReportMetric(med(builds[1]), "s/first-load-baseline")
		b.ReportMetric(med(builds[1])/med(builds[0]), "speedup")
	}
}

// buildAt writes into dir the page of examples/wasm at the git revision
// rev, built as the serve command of that time built it (plain go build)
// but with -trimpath, to share the build cache.
func buildAt(ctx context.Context, rev, dir string) error {
	src, err := os.MkdirTemp("", "netabase-page-"+rev+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	archive := exec.CommandContext(ctx, "sh", "-c", `cd "$(git rev-parse --show-toplevel)" && git archive "$1" | tar -x -C "$2"`, "sh", rev, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s: %w\n%s", rev, err, out)
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "main.wasm"), "./examples/wasm")
	build.Dir = src
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the page of %s: %w\n%s", rev, err, out)
	}
	root, err := goOutput(ctx, nil, "env", "GOROOT")
	if err != nil {
		return err
	}
	for from, to := range map[string]string{
		filepath.Join(root, "lib", "wasm", "wasm_exec.js"):   "wasm_exec.js",
		filepath.Join(src, "examples", "wasm", "index.html"): "index.html",
	} {
		b, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
