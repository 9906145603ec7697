package core

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Suite is the conformance suite as the admission gate sees it; the
// conformance package provides the real one.
type Suite interface {
	// Version names the suite's version; a certificate holds only for the
	// version that issued it.
	Version() string
	// Check runs the suite on scratch instances of the backend that d opens
	// from u: fresh stores with u's options, never u's own data.
	Check(ctx context.Context, d Driver, u *url.URL, info Info) (Verdict, error)
}

// Verdict is the outcome of a suite run.
type Verdict interface {
	Passed() bool
	// String is the readable report.
	String() string
}

// Certificate records that one backend build passed one suite version.
type Certificate struct {
	Scheme  string    `json:"scheme"`
	Name    string    `json:"name"`
	Version string    `json:"version"`
	Build   string    `json:"build"`
	Suite   string    `json:"suite"`
	Passed  time.Time `json:"passed"`
}

// matches reports whether o certifies the backend c names: the same
// scheme, engine name, version and build, and the same suite version. A
// cache shared by several nodes (see [Gate.CertDir]) thus admits only the
// exact build that passed.
func (c Certificate) matches(o Certificate) bool {
	return c.sameBuild(o) && c.Suite == o.Suite
}

// sameBuild reports whether o names the backend build c names: the same
// scheme, engine name, version and build.
func (c Certificate) sameBuild(o Certificate) bool {
	return c.Scheme == o.Scheme && c.Name == o.Name && c.Version == o.Version && c.Build == o.Build
}

// CertificateFile is the name of the certificate cache in a [Gate]'s
// CertDir.
const CertificateFile = "admission.json"

// Admission says how a backend was admitted.
type Admission struct {
	Info Info
	// Cached is true when an earlier passing run's certificate admitted the
	// backend, false when the suite ran now.
	Cached      bool
	Certificate Certificate
	// Verdict is the report of the run, when the suite ran now.
	Verdict Verdict
}

// AdmissionError is returned when a backend fails the conformance suite.
// It wraps ErrRejected.
type AdmissionError struct {
	URL     string
	Info    Info
	Verdict Verdict
}

func (e *AdmissionError) Error() string {
	return fmt.Sprintf("backend %s (%s %s) failed the conformance suite, so the node refuses it:\n%s",
		e.URL, e.Info.Name, e.Info.Version, e.Verdict)
}

func (e *AdmissionError) Unwrap() error { return ErrRejected }

// CertificateCache keeps a [Gate]'s certificates where there is no
// directory for them, such as a browser's storage. It stores one value: the
// JSON list of certificates, as a certificate file in a directory holds it.
type CertificateCache interface {
	// LoadCertificates returns what SaveCertificates stored last; nil when
	// nothing is stored. The gate reads an error, or content that is no
	// certificate list, as no certificates: the suite runs again.
	LoadCertificates() ([]byte, error)
	// SaveCertificates replaces what is stored with b.
	SaveCertificates(b []byte) error
}

// Gate opens backends only when they have passed the conformance suite.
type Gate struct {
	Registry *Registry
	Suite    Suite
	// CertDir holds the certificate cache, in the file CertificateFile,
	// created with the directory when missing: the node's data directory,
	// or one directory shared by all of a user's nodes (the daemon keeps
	// them in the user's cache directory), since a certificate holds for
	// the exact backend build and suite version it names wherever the
	// backend's store lives. Empty (and no Certificates) means no cache:
	// the suite runs at every Admit.
	CertDir string
	// Certificates, when set, holds the certificate cache instead of
	// CertDir, which is then not used: a program with no directory, such
	// as one in a web page, keeps its certificates there.
	Certificates CertificateCache
}

// Admit opens the backend named by rawURL if the current suite has passed for
// its exact build: from a cached certificate, or else by running the suite
// now on scratch instances and caching a pass. A failing backend is refused
// with an *AdmissionError carrying the report. Before any of that, the
// URL's own store directory is checked as [Registry.Open] checks it, so a
// store the driver would refuse to open, or another engine's, is refused at
// once, without running the suite.
func (g *Gate) Admit(ctx context.Context, rawURL string) (Backend, *Admission, error) {
	u, d, err := g.Registry.Resolve(rawURL)
	if err != nil {
		return nil, nil, err
	}
	info, err := d.Describe(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	want := Certificate{
		Scheme:  u.Scheme,
		Name:    info.Name,
		Version: info.Version,
		Build:   info.Build,
		Suite:   g.Suite.Version(),
	}
	// Cheap, and it spares a wrong URL the suite's seconds.
	if err := g.Registry.checkStore(d, u); err != nil {
		return nil, nil, err
	}
	adm := &Admission{Info: info}
	certs := g.loadCertificates()
	if i := slices.IndexFunc(certs, want.matches); i >= 0 {
		adm.Cached, adm.Certificate = true, certs[i]
	} else {
		v, err := g.Suite.Check(ctx, d, u, info)
		if err != nil {
			return nil, nil, fmt.Errorf("running the conformance suite on %s: %w", u.Redacted(), err)
		}
		adm.Verdict = v
		if !v.Passed() {
			return nil, adm, &AdmissionError{URL: u.Redacted(), Info: info, Verdict: v}
		}
		want.Passed = time.Now().UTC()
		adm.Certificate = want
		if err := g.saveCertificate(certs, want); err != nil {
			return nil, adm, err
		}
	}
	b, err := OpenURL(ctx, d, u)
	if err != nil {
		return nil, adm, err
	}
	return b, adm, nil
}

// loadCertificates reads the cache. A missing or unreadable cache holds no
// certificates: the suite runs again and rewrites it.
func (g *Gate) loadCertificates() []Certificate {
	var b []byte
	var err error
	switch {
	case g.Certificates != nil:
		b, err = g.Certificates.LoadCertificates()
	case g.CertDir != "":
		b, err = os.ReadFile(filepath.Join(g.CertDir, CertificateFile))
	default:
		return nil
	}
	if err != nil || len(b) == 0 {
		return nil
	}
	var certs []Certificate
	if json.Unmarshal(b, &certs) != nil {
		return nil
	}
	return certs
}

// CertificatesKept is how many certificates a [Gate]'s cache keeps for
// one scheme and engine name: one per build that passed (and per suite
// version), the newest, so that nodes sharing the cache and running
// different builds of one backend, such as two builds of a plugin, do not
// evict each other's certificates, while the cache stays small.
const CertificatesKept = 4

// saveCertificate adds c to certs in the cache, in place of a certificate
// of the same backend build and replacing the oldest of its scheme and
// engine past CertificatesKept.
func (g *Gate) saveCertificate(certs []Certificate, c Certificate) error {
	if g.Certificates == nil && g.CertDir == "" {
		return nil
	}
	certs = slices.DeleteFunc(certs, c.matches)
	certs = append(certs, c)
	var same []int // the certificates of c's scheme and engine, oldest first
	for i, o := range certs {
		if o.Scheme == c.Scheme && o.Name == c.Name {
			same = append(same, i)
		}
	}
	if len(same) > CertificatesKept {
		slices.SortStableFunc(same, func(a, b int) int { return certs[a].Passed.Compare(certs[b].Passed) })
		drop := make(map[int]bool)
		for _, i := range same[:len(same)-CertificatesKept] {
			drop[i] = true
		}
		kept := certs[:0]
		for i, o := range certs {
			if !drop[i] {
				kept = append(kept, o)
			}
		}
		certs = kept
	}
	b, err := json.MarshalIndent(certs, "", "  ")
	if err != nil {
		return err
	}
	if g.Certificates != nil {
		if err := g.Certificates.SaveCertificates(b); err != nil {
			return fmt.Errorf("the backend passed the conformance suite, but its certificate could not be kept: %w", err)
		}
		return nil
	}
	return WriteFileAtomic(filepath.Join(g.CertDir, CertificateFile), b)
}
