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
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
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
	h, err := Handler(dir)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "main.wasm is %d bytes, %d gzipped; open http://%s/ (Ctrl-C stops)\n", size.Plain, size.Gzipped, l.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// BuildFlags are the flags of go build for the page's program: no symbol
// table and no DWARF (-s -w), no file system paths (-trimpath).
var BuildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// Size is the size of the page's program, as built and gzipped.
type Size struct{ Plain, Gzipped int64 }

// Build writes the page into dir: main.wasm, built from the page's
// package with BuildFlags, and main.wasm.gz, the same gzipped;
// wasm_exec.js from the Go toolchain that builds it, and index.html. It
// returns main.wasm's size.
func Build(ctx context.Context, dir string) (Size, error) {
	src, err := goOutput(ctx, []string{"GOOS=js", "GOARCH=wasm"}, "list", "-f", "{{.Dir}}", pagePackage)
	if err != nil {
		return Size{}, err
	}
	root, err := goOutput(ctx, nil, "env", "GOROOT")
	if err != nil {
		return Size{}, err
	}
	wasm := filepath.Join(dir, "main.wasm")
	args := append(append([]string{"build"}, BuildFlags...), "-o", wasm, pagePackage)
	if _, err := goOutput(ctx, []string{"GOOS=js", "GOARCH=wasm"}, args...); err != nil {
		return Size{}, err
	}
	for _, f := range []struct{ from, to string }{
		{filepath.Join(root, "lib", "wasm", "wasm_exec.js"), "wasm_exec.js"},
		{filepath.Join(src, "index.html"), "index.html"},
	} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			return Size{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, f.to), b, 0o644); err != nil {
			return Size{}, err
		}
	}
	b, err := os.ReadFile(wasm)
	if err != nil {
		return Size{}, err
	}
	gz, err := gzipped(b)
	if err != nil {
		return Size{}, err
	}
	if err := os.WriteFile(wasm+".gz", gz, 0o644); err != nil {
		return Size{}, err
	}
	return Size{Plain: int64(len(b)), Gzipped: int64(len(gz))}, nil
}

// gzipped is b compressed with gzip at its best compression: the page is
// compressed once, when it is built, and served many times.
func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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

// Handler serves the page that Build wrote in dir: main.wasm gzipped
// (Content-Encoding: gzip) to a browser that accepts it, which every
// browser does. Every file is served with an ETag, its content's SHA-256,
// and Cache-Control: no-cache, so that a browser keeps it but asks each
// time whether it changed: a reload of the same build costs a 304, a
// rebuilt page is the one a reload gets. The files are read once, here.
func Handler(dir string) (http.Handler, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string]*file{}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".gz") {
			continue
		}
		f, err := readFile(dir, e.Name())
		if err != nil {
			return nil, err
		}
		files["/"+e.Name()] = f
	}
	if files["/index.html"] == nil {
		return nil, fmt.Errorf("%s holds no index.html: build the page into it first (Build)", dir)
	}
	files["/"] = files["/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "this server only serves the page: use GET", http.StatusMethodNotAllowed)
			return
		}
		f := files[r.URL.Path]
		if f == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", f.contentType)
		body, tag := f.plain, f.tag
		if f.gz != nil {
			h.Set("Vary", "Accept-Encoding")
			if acceptsGzip(r.Header.Get("Accept-Encoding")) {
				body, tag = f.gz, f.gzTag
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("ETag", tag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}), nil
}

// file is one file of the page, as served.
type file struct {
	contentType string
	plain, gz   []byte // gz: nil when the file is not served compressed
	tag, gzTag  string // ETags
}

// readFile reads name in dir, and its gzipped form name.gz when there is one.
func readFile(dir, name string) (*file, error) {
	plain, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	f := &file{plain: plain, tag: etag(plain)}
	switch filepath.Ext(name) {
	case ".wasm":
		f.contentType = "application/wasm"
	case ".html":
		f.contentType = "text/html; charset=utf-8"
	case ".js":
		f.contentType = "text/javascript; charset=utf-8"
	default:
		f.contentType = http.DetectContentType(plain)
	}
	gz, err := os.ReadFile(filepath.Join(dir, name+".gz"))
	switch {
	case err == nil:
		f.gz, f.gzTag = gz, etag(gz)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return f, nil
}

// etag is a strong ETag of b: its SHA-256.
func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip: it
// names gzip (or *) with a quality that is not 0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		if v, ok := strings.CutPrefix(q, "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}
