//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/backends/idbstore"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
)

// certificates is the name of the page's certificate cache in its origin's
// localStorage.
const certificates = "examples/wasm"

// suiteCases is how many cases of the conformance suite run at a time in
// the page: IndexedDB does its work outside the page's one thread, which
// the cases of one at a time would leave idle while they wait on it
// (BENCHMARKS.md, "The page's first load").
const suiteCases = 8

// openStore opens the page's store by URL, such as idb://notes (an
// IndexedDB database of the page's origin, kept across reloads) or
// memory://, through the admission gate over the registry of the backends
// that run in a page, as a node opens its store: the backend is opened only
// if it passed the conformance suite. The suite runs (on scratch databases,
// never the page's own) once per build of this program in this browser, and
// its pass is kept in localStorage; a later load opens the store from that
// certificate. It shows in #admission what the gate did.
func openStore(ctx context.Context, rawURL string) (core.Backend, error) {
	el := byID("admission")
	state(el, "checking", "admitting the storage "+rawURL+": a certificate cached for this build, or else the conformance suite, which takes some seconds...")
	gate := &core.Gate{
		Registry:     all.Registry(),
		Suite:        conformance.ConcurrentSuite("", suiteCases),
		Certificates: idbstore.CertificateCache(certificates),
	}
	start := time.Now()
	b, adm, err := gate.Admit(ctx, rawURL)
	took := time.Since(start)
	if adm != nil {
		el.Set("title", "build: "+adm.Info.Build)
	}
	switch {
	case errors.Is(err, core.ErrRejected):
		state(el, "refused", err.Error())
		return nil, err
	case err != nil:
		state(el, "error", "cannot admit the storage "+rawURL+": "+err.Error())
		return nil, err
	}
	d := el.Get("dataset")
	d.Set("cached", strconv.FormatBool(adm.Cached))
	d.Set("seconds", strconv.FormatFloat(took.Seconds(), 'f', 3, 64))
	c := adm.Certificate
	how := fmt.Sprintf("the suite ran now, in %.1f s", took.Seconds())
	if rep, ok := adm.Verdict.(*conformance.Report); ok {
		how = fmt.Sprintf("the suite ran now: %d cases in %.1f s", len(rep.Cases), took.Seconds())
	}
	if adm.Cached {
		how = fmt.Sprintf("cached certificate, checked in %.3f s", took.Seconds())
	}
	state(el, "admitted", fmt.Sprintf("storage %s (%s) admitted: conformance suite v%s passed %s (%s)",
		rawURL, adm.Info.Name, c.Suite, c.Passed.Local().Format(time.DateTime), how))
	return b, nil
}
