//go:build js && wasm

package idbstore_test

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"syscall/js"
	"testing"

	"github.com/netabase/netabase/backends/idbstore"
	"github.com/netabase/netabase/core"
)

// These tests run under Node.js (scripts/test.sh), which has no IndexedDB;
// TestBrowser runs the store itself in Chromium.

func TestURLs(t *testing.T) {
	d := idbstore.Driver()
	for _, tc := range []struct {
		url  string
		name string // "" when the URL is refused
		sync bool
	}{
		{"idb://notes", "notes", false},
		{"idb://notes/", "notes", false},
		{"idb://notes?sync=true", "notes", true},
		{"idb://", "", false},
		{"idb:///notes", "", false},
		{"idb://notes/more", "", false},
		{"idb://notes:80", "", false},
		{"idb://notes?cache=1MiB", "", false},
		{"idb://notes?sync=maybe", "", false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		_, derr := d.Describe(t.Context(), u)
		opts, err := idbstore.ParseURL(u)
		if tc.name == "" {
			if err == nil || derr == nil || !errors.Is(err, core.ErrInvalidURL) {
				t.Errorf("%s: ParseURL = %v, Describe = %v; want both to refuse it with ErrInvalidURL", tc.url, err, derr)
			}
			continue
		}
		if err != nil || derr != nil {
			t.Errorf("%s: ParseURL = %v, Describe = %v; want it accepted", tc.url, err, derr)
			continue
		}
		if opts.Name != tc.name || opts.Sync != tc.sync {
			t.Errorf("%s: options %+v, want name %q, sync %v", tc.url, opts, tc.name, tc.sync)
		}
	}
}

// TestScratchNeverNamesTheStore checks that the scratch databases the
// conformance suite runs on are other databases, with the store's options.
func TestScratchNeverNamesTheStore(t *testing.T) {
	d := idbstore.Driver()
	u, err := url.Parse("idb://notes?sync=true")
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := d.Scratch(t.Context(), u, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := d.Scratch(t.Context(), u, "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	if s.Host == s2.Host {
		t.Errorf("two scratch stores for %s are both %s", u, s)
	}
	for _, s := range []*url.URL{s, s2} {
		if s.Host == u.Host || s.Query().Get("sync") != "true" {
			t.Errorf("scratch store %s for %s: want another database with the same options", s, u)
		}
	}
}

func TestOpenWithoutIndexedDB(t *testing.T) {
	if v := js.Global().Get("indexedDB"); !v.IsUndefined() {
		t.Skip("this runtime has IndexedDB; TestBrowser covers it")
	}
	_, err := idbstore.Open(t.Context(), &idbstore.Options{Name: "notes"})
	if err == nil || !strings.Contains(err.Error(), "IndexedDB is not available") {
		t.Fatalf("Open under Node.js = %v, want an error saying IndexedDB is not available", err)
	}
}

// programDigest is the digest TestMain gives as the loader of a page does.
const programDigest = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestMain(m *testing.M) {
	js.Global().Set(idbstore.ProgramDigest, strings.ToUpper(programDigest))
	os.Exit(m.Run())
}

// TestBuildNamesTheProgram: a certificate for idb:// holds for one build
// of the program, the one whose digest the page's loader gave.
func TestBuildNamesTheProgram(t *testing.T) {
	u, _ := url.Parse("idb://notes")
	info, err := idbstore.Driver().Describe(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.Build, "program sha256:"+programDigest) {
		t.Errorf("Info.Build = %q; want it to name the program's digest", info.Build)
	}
}

// fakeLocalStorage installs a localStorage (Node.js has none) holding
// items, and removes it when the test ends.
func fakeLocalStorage(t *testing.T, items map[string]string) {
	t.Helper()
	ls := js.Global().Get("Object").New()
	get := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if v, ok := items[args[0].String()]; ok {
			return v
		}
		return nil
	})
	set := js.FuncOf(func(_ js.Value, args []js.Value) any {
		items[args[0].String()] = args[1].String()
		return nil
	})
	ls.Set("getItem", get)
	ls.Set("setItem", set)
	js.Global().Set("localStorage", ls)
	t.Cleanup(func() {
		js.Global().Delete("localStorage")
		get.Release()
		set.Release()
	})
}

func TestCertificateCache(t *testing.T) {
	c := idbstore.CertificateCache("page")
	if b, err := c.LoadCertificates(); b != nil || err == nil {
		t.Errorf("LoadCertificates without localStorage = %q, %v; want nothing and an error", b, err)
	}
	if err := c.SaveCertificates([]byte("[]")); err == nil || !strings.Contains(err.Error(), "no localStorage") {
		t.Errorf("SaveCertificates without localStorage = %v; want an error saying there is none", err)
	}

	items := map[string]string{}
	fakeLocalStorage(t, items)
	if b, err := c.LoadCertificates(); b != nil || err != nil {
		t.Errorf("LoadCertificates of an empty localStorage = %q, %v; want nothing", b, err)
	}
	if err := c.SaveCertificates([]byte(`[{"scheme":"idb"}]`)); err != nil {
		t.Fatal(err)
	}
	if got := items[idbstore.CertificatePrefix+"page"]; got != `[{"scheme":"idb"}]` {
		t.Errorf("localStorage holds %q", got)
	}
	if b, err := c.LoadCertificates(); string(b) != `[{"scheme":"idb"}]` || err != nil {
		t.Errorf("LoadCertificates = %q, %v; want what was saved", b, err)
	}
	if b, _ := idbstore.CertificateCache("other").LoadCertificates(); b != nil {
		t.Errorf("another cache's name reads %q", b)
	}
}
