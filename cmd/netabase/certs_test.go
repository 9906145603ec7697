package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
)

// admissionLine starts a daemon process on a new data directory with
// storage, waits until it is ready, stops it, and returns the banner's
// Admission line.
func admissionLine(t *testing.T, ctx context.Context, storage string) string {
	t.Helper()
	dir := shortDir(t)
	p := startProcess(t, "daemon", "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--storage", storage)
	waitReady(t, ctx, p.stdout.lines, p.exited, p.output)
	p.stop(t)
	if _, err := os.Stat(filepath.Join(dir, core.CertificateFile)); !os.IsNotExist(err) {
		t.Errorf("the daemon kept a certificate in its data directory %s (%v); want it in the user's", dir, err)
	}
	for line := range strings.Lines(p.stdout.String()) {
		if a, ok := strings.CutPrefix(line, "Admission:  passed"); ok {
			return strings.TrimSpace(a)
		}
	}
	t.Fatalf("the daemon printed no Admission line of a pass:\n%s", p.output())
	return ""
}

// TestCertificatesPerUser: the admission suite runs once per backend
// build for all of a user's nodes, not once per data directory: a second
// node with the same backend build is admitted by the first one's
// certificate, and a new suite version or another plugin binary runs the
// suite again.
func TestCertificatesPerUser(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	certs := t.TempDir()
	t.Setenv(certDirEnv, certs)
	ranNow := "v" + conformance.Version + " just now (certificate kept in " + certs + ")"
	cached := func(line string) bool {
		return strings.HasPrefix(line, "conformance suite v"+conformance.Version+" (certificate of ") && strings.HasSuffix(line, " in "+certs+")")
	}

	if got := admissionLine(t, ctx, "memory://"); got != "conformance suite "+ranNow {
		t.Fatalf("the first node's admission: %q; want the suite to run (%q)", got, ranNow)
	}
	if got := admissionLine(t, ctx, "memory://"); !cached(got) {
		t.Errorf("a second node with the same backend: %q; want it admitted by the first node's certificate in %s", got, certs)
	}

	// A certificate of an older suite admits nothing.
	file := filepath.Join(certs, core.CertificateFile)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var list []core.Certificate
	if err := json.Unmarshal(b, &list); err != nil || len(list) != 1 {
		t.Fatalf("the certificates are %s (%v); want one", b, err)
	}
	list[0].Suite = "0"
	if b, err = json.Marshal(list); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := admissionLine(t, ctx, "memory://"); got != "conformance suite "+ranNow {
		t.Errorf("with a certificate of suite v0: %q; want the suite to run", got)
	}

	// Another build of a plugin, by its checksum, is another backend.
	bins, err := testplugins.Build(t.TempDir(), testplugins.Bbolt)
	if err != nil {
		t.Fatal(err)
	}
	bin := bins[testplugins.Bbolt]
	other := filepath.Join(t.TempDir(), "bbolt")
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, append(exe, 0), 0o700); err != nil {
		t.Fatal(err)
	}
	plugin := func(bin string) string {
		sum, err := host.Checksum(bin)
		if err != nil {
			t.Fatal(err)
		}
		return host.FormatURL(bin, sum, url.Values{"path": {filepath.Join(t.TempDir(), "x.db")}})
	}
	if got := admissionLine(t, ctx, plugin(bin)); got != "conformance suite "+ranNow {
		t.Fatalf("the first node with the plugin: %q; want the suite to run", got)
	}
	if got := admissionLine(t, ctx, plugin(other)); got != "conformance suite "+ranNow {
		t.Errorf("a node with another build of the plugin: %q; want the suite to run", got)
	}
}
