package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/netabase/netabase/core"
)

// fakeSuite is a conformance suite that counts its runs and returns a set
// verdict.
type fakeSuite struct {
	version string
	verdict fakeVerdict
	err     error // returned by Check when set
	runs    int
	gotURL  *url.URL
	gotInfo core.Info
}

func (s *fakeSuite) Version() string { return s.version }

func (s *fakeSuite) Check(_ context.Context, _ core.Driver, u *url.URL, info core.Info) (core.Verdict, error) {
	s.runs++
	s.gotURL, s.gotInfo = u, info
	if s.err != nil {
		return nil, s.err
	}
	return s.verdict, nil
}

type fakeVerdict struct {
	passed bool
	report string
}

func (v fakeVerdict) Passed() bool   { return v.passed }
func (v fakeVerdict) String() string { return v.report }

// newGate returns a gate over a registry holding one fake driver, with a
// passing suite of version "s1" and a certificate cache in a fresh directory.
func newGate(t *testing.T) (*core.Gate, *fakeDriver, *fakeSuite) {
	t.Helper()
	d := newFakeDriver("fake")
	reg := &core.Registry{}
	if err := reg.Register(d); err != nil {
		t.Fatal(err)
	}
	s := &fakeSuite{version: "s1", verdict: fakeVerdict{passed: true, report: "all 42 cases passed"}}
	return &core.Gate{Registry: reg, Suite: s, CertDir: t.TempDir()}, d, s
}

// admit runs g.Admit on fake://, checks the backend works, and closes it.
func admit(t *testing.T, g *core.Gate) *core.Admission {
	t.Helper()
	ctx := context.Background()
	b, adm, err := g.Admit(ctx, "fake://")
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	if err := b.Put(ctx, keyA, []byte("v")); err != nil {
		t.Errorf("the admitted backend: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	return adm
}

func readCertificates(t *testing.T, dir string) []core.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, core.CertificateFile))
	if err != nil {
		t.Fatalf("reading the certificate file: %v", err)
	}
	var certs []core.Certificate
	if err := json.Unmarshal(b, &certs); err != nil {
		t.Fatalf("the certificate file is not a certificate list: %v\n%s", err, b)
	}
	return certs
}

func TestGateRunsSuiteOnceAndCaches(t *testing.T) {
	g, d, s := newGate(t)

	first := admit(t, g)
	if s.runs != 1 || first.Cached || first.Verdict == nil || first.Verdict.String() != s.verdict.report {
		t.Fatalf("first Admit: %d suite runs, cached %v, verdict %v; want one run, not cached, its verdict", s.runs, first.Cached, first.Verdict)
	}
	if s.gotURL.Scheme != "fake" || s.gotInfo != d.info {
		t.Errorf("the suite was given %v, %+v; want fake://, %+v", s.gotURL, s.gotInfo, d.info)
	}
	if first.Info != d.info {
		t.Errorf("Admission.Info = %+v, want %+v", first.Info, d.info)
	}
	c := first.Certificate
	if c.Scheme != "fake" || c.Name != d.info.Name || c.Version != d.info.Version || c.Build != d.info.Build || c.Suite != "s1" || c.Passed.IsZero() {
		t.Errorf("certificate %+v does not describe the backend and suite", c)
	}
	certs := readCertificates(t, g.CertDir)
	if len(certs) != 1 || !certs[0].Passed.Equal(c.Passed) || certs[0].Build != c.Build || certs[0].Suite != c.Suite {
		t.Errorf("the certificate file holds %+v, want [%+v]", certs, c)
	}

	second := admit(t, g)
	if s.runs != 1 || !second.Cached || second.Verdict != nil {
		t.Errorf("second Admit: %d suite runs, cached %v, verdict %v; want the certificate to admit it", s.runs, second.Cached, second.Verdict)
	}
	if !second.Certificate.Passed.Equal(c.Passed) || second.Certificate.Build != c.Build {
		t.Errorf("second Admit used certificate %+v, want %+v", second.Certificate, c)
	}
}

func TestGateRerunsForNewSuiteOrBuild(t *testing.T) {
	g, d, s := newGate(t)
	admit(t, g)

	for _, change := range []struct {
		name string
		do   func()
	}{
		{"suite version", func() { s.version = "s2" }},
		{"build", func() { d.info.Build = "build-2" }},
		{"engine version and build", func() { d.info.Version, d.info.Build = "v2.0.0", "v2.0.0" }},
		// A driver whose build string stays while its version changes is
		// another backend too: a certificate names both.
		{"engine version", func() { d.info.Version = "v3.0.0" }},
	} {
		runs := s.runs
		change.do()
		adm := admit(t, g)
		if s.runs != runs+1 || adm.Cached {
			t.Errorf("after a new %s: %d suite runs, cached %v; want the suite to run again", change.name, s.runs-runs, adm.Cached)
		}
		if again := admit(t, g); s.runs != runs+1 || !again.Cached {
			t.Errorf("after a new %s, the second Admit ran the suite again", change.name)
		}
		certs := readCertificates(t, g.CertDir)
		if len(certs) > core.CertificatesKept || !slices.ContainsFunc(certs, func(c core.Certificate) bool {
			return c.Suite == s.version && c.Build == d.info.Build && c.Version == d.info.Version
		}) {
			t.Errorf("after a new %s the certificate file holds %+v; want at most %d, one for suite %s build %s",
				change.name, certs, core.CertificatesKept, s.version, d.info.Build)
		}
	}
}

func TestGateKeepsCertificatesOfOtherBackends(t *testing.T) {
	g, _, s := newGate(t)
	other := newFakeDriver("other")
	if err := g.Registry.Register(other); err != nil {
		t.Fatal(err)
	}
	admit(t, g)
	b, _, err := g.Admit(context.Background(), "other://")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if certs := readCertificates(t, g.CertDir); len(certs) != 2 {
		t.Errorf("the certificate file holds %+v, want one certificate per backend", certs)
	}
	runs := s.runs
	if adm := admit(t, g); !adm.Cached || s.runs != runs {
		t.Error("admitting a second backend lost the first one's certificate")
	}
}

// TestGateKeepsCertificatesPerBuild: two builds of one backend, as two
// nodes sharing a cache run them, are each admitted by their own
// certificate, the one not evicting the other's; past CertificatesKept
// builds, the oldest certificates go.
func TestGateKeepsCertificatesPerBuild(t *testing.T) {
	g, d, s := newGate(t)
	for _, build := range []string{"build-1", "build-2"} {
		d.info.Build = build
		admit(t, g)
	}
	for _, build := range []string{"build-1", "build-2", "build-1"} {
		d.info.Build = build
		if adm := admit(t, g); !adm.Cached || adm.Certificate.Build != build {
			t.Errorf("%s, after both builds passed: cached %v, certificate of %s; want its own certificate to admit it",
				build, adm.Cached, adm.Certificate.Build)
		}
	}
	if s.runs != 2 {
		t.Errorf("the suite ran %d times for two builds", s.runs)
	}

	// More builds than the cache keeps: the newest stay.
	var builds []string
	for i := range core.CertificatesKept + 2 {
		builds = append(builds, fmt.Sprintf("later-%d", i))
	}
	for _, build := range builds {
		d.info.Build = build
		admit(t, g)
	}
	var kept []string
	for _, c := range readCertificates(t, g.CertDir) {
		kept = append(kept, c.Build)
	}
	if want := builds[len(builds)-core.CertificatesKept:]; !slices.Equal(kept, want) {
		t.Errorf("after %d builds the cache holds the certificates of %v, want the newest %v", len(builds)+2, kept, want)
	}
	runs := s.runs
	d.info.Build = builds[0]
	if adm := admit(t, g); adm.Cached || s.runs != runs+1 {
		t.Errorf("the oldest build, past the bound: cached %v; want the suite to run again", adm.Cached)
	}
}

func TestGateRefusesFailingBackend(t *testing.T) {
	g, d, s := newGate(t)
	s.verdict = fakeVerdict{passed: false, report: "FAIL sync-durability: the write was lost"}
	b, adm, err := g.Admit(context.Background(), "fake://")
	if b != nil {
		t.Error("a failing backend was opened")
	}
	var ae *core.AdmissionError
	if !errors.As(err, &ae) || !errors.Is(err, core.ErrRejected) {
		t.Fatalf("got %v, want an *core.AdmissionError matching core.ErrRejected", err)
	}
	if !strings.Contains(err.Error(), s.verdict.report) || !strings.Contains(err.Error(), "fake:") || ae.Info != d.info {
		t.Errorf("the refusal %q (info %+v) does not carry the report, the URL and the backend", err, ae.Info)
	}
	if adm == nil || adm.Verdict == nil || adm.Verdict.Passed() {
		t.Errorf("Admission %+v does not carry the failing verdict", adm)
	}
	if len(d.opened) != 0 {
		t.Errorf("the failing backend's engine was opened %d times", len(d.opened))
	}
	if _, err := os.Stat(filepath.Join(g.CertDir, core.CertificateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a certificate file was written for a failing backend: %v", err)
	}
	if _, _, err := g.Admit(context.Background(), "fake://"); !errors.Is(err, core.ErrRejected) || s.runs != 2 {
		t.Errorf("a second Admit: %v after %d runs; want the suite to run again and refuse", err, s.runs)
	}
}

func TestGateTreatsCorruptCertificatesAsEmpty(t *testing.T) {
	for _, content := range []string{
		"{not json",
		`{"scheme": "fake"}`,
		"",
		// A matching certificate in a damaged file does not count.
		`[{"scheme": "fake", "name": "fake-engine", "version": "v1.0.0", "build": "build-1", "suite": "s1"}, 7]`,
	} {
		g, _, s := newGate(t)
		path := filepath.Join(g.CertDir, core.CertificateFile)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if adm := admit(t, g); adm.Cached || s.runs != 1 {
			t.Errorf("%q: cached %v after %d runs; want the suite to run", content, adm.Cached, s.runs)
		}
		if certs := readCertificates(t, g.CertDir); len(certs) != 1 || certs[0].Scheme != "fake" {
			t.Errorf("%q: the rewritten certificate file holds %+v", content, certs)
		}
		if adm := admit(t, g); !adm.Cached || s.runs != 1 {
			t.Errorf("%q: the rewritten certificate did not admit the backend", content)
		}
	}
}

func TestGateWithoutCertDirAlwaysRuns(t *testing.T) {
	g, _, s := newGate(t)
	g.CertDir = ""
	for i := range 2 {
		if adm := admit(t, g); adm.Cached || s.runs != i+1 {
			t.Errorf("Admit #%d: cached %v after %d runs; want the suite to run every time", i+1, adm.Cached, s.runs)
		}
	}
}

func TestGateCreatesCertDir(t *testing.T) {
	g, _, _ := newGate(t)
	g.CertDir = filepath.Join(g.CertDir, "new", "data")
	admit(t, g)
	if certs := readCertificates(t, g.CertDir); len(certs) != 1 {
		t.Errorf("the certificate file holds %+v", certs)
	}
}

func TestGateErrorsPropagate(t *testing.T) {
	ctx := context.Background()

	g, d, s := newGate(t)
	if _, _, err := g.Admit(ctx, "nope:///x"); !errors.Is(err, core.ErrInvalidURL) || !strings.Contains(err.Error(), "fake://") {
		t.Errorf("unknown scheme: got %v, want core.ErrInvalidURL listing fake://", err)
	}
	if _, _, err := g.Admit(ctx, "no-scheme"); !errors.Is(err, core.ErrInvalidURL) {
		t.Errorf("no scheme: got %v, want core.ErrInvalidURL", err)
	}
	d.describeErr = errBoom
	if _, _, err := g.Admit(ctx, "fake://"); !errors.Is(err, errBoom) {
		t.Errorf("Describe failing: got %v, want its error", err)
	}
	if s.runs != 0 {
		t.Errorf("the suite ran %d times for URLs that could not be resolved or described", s.runs)
	}

	d.describeErr = nil
	s.err = errBoom
	if _, _, err := g.Admit(ctx, "fake://"); !errors.Is(err, errBoom) || errors.Is(err, core.ErrRejected) {
		t.Errorf("suite failing to run: got %v, want its error, not a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(g.CertDir, core.CertificateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a certificate file was written when the suite could not run: %v", err)
	}

	s.err = nil
	d.openErr = errBoom
	b, adm, err := g.Admit(ctx, "fake://")
	if !errors.Is(err, errBoom) || b != nil || adm == nil || adm.Verdict == nil {
		t.Errorf("Open failing after a pass: got %v, %+v, %v; want its error with the admission", b, adm, err)
	}
}

// TestGateChecksTheStoreBeforeTheSuite: a URL naming a directory its driver
// would refuse (here, another engine's store) is refused at once with the
// registry's error, without running the suite or changing the directory
// (TestStoreDirRefused tries every kind of such directory).
func TestGateChecksTheStoreBeforeTheSuite(t *testing.T) {
	ctx := context.Background()
	reg := dirRegistry(t)
	s := &fakeSuite{version: "s1", verdict: fakeVerdict{passed: true}}
	g := &core.Gate{Registry: reg, Suite: s, CertDir: t.TempDir()}

	root := t.TempDir()
	dir := filepath.Join(root, "store")
	writeFiles(t, dir, betaFiles)
	before := snapshot(t, root)
	_, want := reg.Open(ctx, "alpha://"+dir)
	_, _, err := g.Admit(ctx, "alpha://"+dir)
	if err == nil || want == nil || err.Error() != want.Error() || !strings.Contains(err.Error(), "holds a beta store") {
		t.Errorf("Admit of another engine's store: got %v, want %v", err, want)
	}
	if s.runs != 0 {
		t.Errorf("the suite ran %d times before the store was refused", s.runs)
	}
	if after := snapshot(t, root); !maps.Equal(before, after) {
		t.Errorf("the refusal changed the directory:\nbefore %q\nafter  %q", before, after)
	}

	// A store the driver takes is admitted after the suite.
	b, _, err := g.Admit(ctx, "alpha://"+filepath.Join(root, "new"))
	if err != nil || s.runs != 1 {
		t.Fatalf("Admit of a new store: %v after %d suite runs", err, s.runs)
	}
	_ = b.Close()
}

// memCache is a CertificateCache in memory, counting its calls.
type memCache struct {
	b            []byte
	loadErr      error
	saveErr      error
	loads, saves int
}

func (c *memCache) LoadCertificates() ([]byte, error) {
	c.loads++
	return c.b, c.loadErr
}

func (c *memCache) SaveCertificates(b []byte) error {
	c.saves++
	if c.saveErr != nil {
		return c.saveErr
	}
	c.b = append([]byte(nil), b...)
	return nil
}

// TestGateCertificateCache: a gate with Certificates keeps its certificates
// there, not in CertDir, and reads them as it reads a certificate file.
func TestGateCertificateCache(t *testing.T) {
	g, d, s := newGate(t)
	c := &memCache{}
	g.Certificates = c
	first := admit(t, g)
	if s.runs != 1 || first.Cached || c.saves != 1 {
		t.Fatalf("first Admit: %d runs, cached %v, %d saves; want the suite to run and its pass saved", s.runs, first.Cached, c.saves)
	}
	var certs []core.Certificate
	if err := json.Unmarshal(c.b, &certs); err != nil || len(certs) != 1 || certs[0].Build != d.info.Build || certs[0].Suite != "s1" {
		t.Errorf("the cache holds %s (%v); want the one certificate", c.b, err)
	}
	if _, err := os.Stat(filepath.Join(g.CertDir, core.CertificateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("with Certificates set, a certificate file was written in CertDir: %v", err)
	}
	if second := admit(t, g); !second.Cached || s.runs != 1 || !second.Certificate.Passed.Equal(first.Certificate.Passed) {
		t.Errorf("second Admit: cached %v after %d runs; want the cached certificate to admit", second.Cached, s.runs)
	}

	// Another build: the suite runs again, and its pass joins the old.
	d.info.Build = "build-2"
	if adm := admit(t, g); adm.Cached || s.runs != 2 {
		t.Errorf("new build: cached %v after %d runs; want the suite to run", adm.Cached, s.runs)
	}
	if err := json.Unmarshal(c.b, &certs); err != nil || len(certs) != 2 || certs[1].Build != "build-2" {
		t.Errorf("after a new build's pass the cache holds %s", c.b)
	}

	// A cache that cannot be read holds no certificates.
	c.loadErr = errBoom
	if adm := admit(t, g); adm.Cached || s.runs != 3 {
		t.Errorf("unreadable cache: cached %v after %d runs; want the suite to run", adm.Cached, s.runs)
	}
	c.loadErr = nil
	for _, bad := range []string{"{not json", "null", `"a string"`, `[{"scheme": "fake", "build": "build-2", "suite": "s1"}, 7]`} {
		c.b = []byte(bad)
		runs := s.runs
		if adm := admit(t, g); adm.Cached || s.runs != runs+1 {
			t.Errorf("cache holding %q: cached %v; want the suite to run", bad, adm.Cached)
		}
	}

	// A pass that cannot be kept is an error: the store is not opened.
	c.b, c.saveErr = nil, errBoom
	b, adm, err := g.Admit(context.Background(), "fake://")
	if !errors.Is(err, errBoom) || b != nil || adm == nil || !strings.Contains(err.Error(), "certificate could not be kept") {
		t.Errorf("failing save: got %v, %v; want its error", b, err)
	}
}
