// Command serve builds the page of examples/wasm (its Go program compiled
// with GOOS=js GOARCH=wasm) and serves it with Go's wasm_exec.js and
// index.html:
//
//	go run ./examples/wasm/serve                 # http://127.0.0.1:8080
//	go run ./examples/wasm/serve -addr 127.0.0.1:9000
//
// It needs the Go toolchain (it runs go build) and is meant for trying the
// example on this machine: it listens on loopback unless told otherwise.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

// pagePackage is the import path of the page's Go program.
const pagePackage = "github.com/netabase/netabase/examples/wasm"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "host:port to serve the page on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, out io.Writer) error {
	dir, err := os.MkdirTemp("", "netabase-wasm-page-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(out, "building the page (GOOS=js GOARCH=wasm)...")
	size, err := Build(ctx, dir)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot serve on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: Handler(dir), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "main.wasm is %d bytes; open http://%s/ (Ctrl-C stops)\n", size, l.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Build writes the page into dir: main.wasm, built from the page's
// package, wasm_exec.js from the Go toolchain that builds it, and
// index.html. It returns main.wasm's size.
func Build(ctx context.Context, dir string) (int64, error) {
	src, err := goOutput(ctx, []string{"GOOS=js", "GOARCH=wasm"}, "list", "-f", "{{.Dir}}", pagePackage)
	if err != nil {
		return 0, err
	}
	root, err := goOutput(ctx, nil, "env", "GOROOT")
	if err != nil {
		return 0, err
	}
	wasm := filepath.Join(dir, "main.wasm")
	if _, err := goOutput(ctx, []string{"GOOS=js", "GOARCH=wasm"}, "build", "-o", wasm, pagePackage); err != nil {
		return 0, err
	}
	for _, f := range []struct{ from, to string }{
		{filepath.Join(root, "lib", "wasm", "wasm_exec.js"), "wasm_exec.js"},
		{filepath.Join(src, "index.html"), "index.html"},
	} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(dir, f.to), b, 0o644); err != nil {
			return 0, err
		}
	}
	fi, err := os.Stat(wasm)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// goOutput runs the go command and returns its output, trimmed.
func goOutput(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// Handler serves the page in dir; nothing is cached, so a rebuilt page
// is the one a reload gets.
func Handler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "this server only serves the page: use GET", http.StatusMethodNotAllowed)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".wasm") {
			w.Header().Set("Content-Type", "application/wasm")
		}
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
}
