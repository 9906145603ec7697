package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestHandlerServesGzip serves a page as Build writes it: main.wasm goes
// gzipped, with Content-Encoding, Vary and an ETag of its own, to a client
// that accepts gzip, and as it is to one that does not; a request that
// names the ETag it holds gets 304; nothing is served as no-store.
func TestHandlerServesGzip(t *testing.T) {
	dir := t.TempDir()
	wasm := bytes.Repeat([]byte("\x00asm not really a program "), 4096)
	gz, err := gzipped(wasm)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"index.html": []byte("<!doctype html><title>page</title>"), "main.wasm": wasm, "main.wasm.gz": gz} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Handler(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	// The transport neither asks for gzip nor decodes it by itself.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, b
	}

	res, body := get("/main.wasm", "Accept-Encoding", "gzip, deflate, br, zstd")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("main.wasm to a browser: %d, Content-Encoding %q, Content-Type %q; want 200, gzip, application/wasm",
			res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Content-Type"))
	}
	if len(body) != len(gz) {
		t.Errorf("main.wasm gzipped is %d bytes, want the %d of main.wasm.gz", len(body), len(gz))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, wasm) {
		t.Fatalf("main.wasm gzipped does not decode to main.wasm (%v)", err)
	}
	gzTag := res.Header.Get("ETag")
	if res.Header.Get("Vary") != "Accept-Encoding" || res.Header.Get("Cache-Control") != "no-cache" || gzTag == "" {
		t.Errorf("main.wasm gzipped: Vary %q, Cache-Control %q, ETag %q; want Accept-Encoding, no-cache and an ETag",
			res.Header.Get("Vary"), res.Header.Get("Cache-Control"), gzTag)
	}

	res, body = get("/main.wasm")
	if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, wasm) {
		t.Errorf("main.wasm to a client that does not accept gzip: Content-Encoding %q, %d bytes; want it as it is, %d bytes",
			res.Header.Get("Content-Encoding"), len(body), len(wasm))
	}
	if tag := res.Header.Get("ETag"); tag == "" || tag == gzTag {
		t.Errorf("main.wasm plain has ETag %q, gzipped %q: want two different ETags", tag, gzTag)
	}
	if res, _ = get("/main.wasm", "Accept-Encoding", "gzip;q=0, identity"); res.Header.Get("Content-Encoding") != "" {
		t.Errorf("main.wasm to a client that refuses gzip (q=0) came with Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}

	if res, _ = get("/main.wasm", "Accept-Encoding", "gzip", "If-None-Match", gzTag); res.StatusCode != http.StatusNotModified {
		t.Errorf("main.wasm asked for with the ETag held: %d, want 304", res.StatusCode)
	}

	res, body = get("/", "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "" || !bytes.Contains(body, []byte("<title>page</title>")) ||
		res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("/: %d, Content-Encoding %q, Cache-Control %q, Content-Type %q, %q; want index.html as it is, no-cache",
			res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"), body)
	}
	if res, _ = get("/main.wasm.gz"); res.StatusCode != http.StatusNotFound {
		t.Errorf("/main.wasm.gz: %d, want 404 (it is served as main.wasm)", res.StatusCode)
	}
}
