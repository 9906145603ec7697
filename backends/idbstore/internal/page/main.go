//go:build js && wasm

// Command page is the browser half of backends/idbstore's browser test: a
// Go program for a web page that admits an idb:// store through the
// admission gate (which runs the conformance suite on scratch databases),
// writes or checks typed records in it, or measures typed puts and gets
// against the memory backend. The page's query string says what to do:
//
//	?phase=write&db=NAME&gen=G&n=N   admit idb://NAME, put N notes of
//	                                 generation G, Sync, report
//	?phase=check&db=NAME&gen=G,H&n=N admit idb://NAME, check that N notes
//	                                 of each generation are there
//	&sync=true                       (write, check) open idb://NAME?sync=true
//	&cache=C                         (write, check) keep the gate's
//	                                 certificates in localStorage as C
//	                                 (idbstore.CertificateCache), so the
//	                                 suite runs only when none holds
//	?phase=bench&n=N                 N typed puts and gets on idb:// and
//	                                 on memory://, in this page
//	?phase=refusals&n=1              open another program's databases:
//	                                 refused, and left as they were
//	?phase=suite&n=N&at=C            the conformance suite on idb://
//	                                 scratch databases N times, one case
//	                                 at a time and C at a time, alternately
//
// It reports by setting window.netabaseResult to a JSON [result].
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/backends/idbstore"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
)

// note is the typed record the page writes.
type note struct {
	ID   string `netabase:"key"`
	Gen  string `netabase:"index"`
	Body string
}

// result is the page's report.
type result struct {
	Error string `json:"error,omitempty"`
	// Admission is the conformance report of the suite the gate ran.
	Admission *conformance.Report `json:"admission,omitempty"`
	// Cached is true when a cached certificate admitted the store.
	Cached  bool   `json:"cached,omitempty"`
	Build   string `json:"build,omitempty"`
	Written int    `json:"written,omitempty"`
	// Found counts, per generation, the notes found intact.
	Found map[string]int `json:"found,omitempty"`
	Bench []benchResult  `json:"bench,omitempty"`
	// Refusals are the errors Open gave for other programs' databases.
	Refusals []string `json:"refusals,omitempty"`
	// Eval says whether the page may make a function from source, which
	// its Content-Security-Policy may forbid ("unsafe-eval").
	Eval bool `json:"eval"`
}

type benchResult struct {
	Backend string  `json:"backend"`
	Op      string  `json:"op"`
	N       int     `json:"n"`
	PerSec  float64 `json:"per_sec"`
	Seconds float64 `json:"seconds"`
}

func main() {
	var res result
	if err := run(context.Background(), &res); err != nil {
		res.Error = err.Error()
	}
	b, err := json.Marshal(res)
	if err != nil {
		b, _ = json.Marshal(result{Error: "encoding the report: " + err.Error()})
	}
	js.Global().Get("console").Call("log", "netabase page: "+string(b))
	js.Global().Set("netabaseResult", string(b))
}

func run(ctx context.Context, res *result) error {
	res.Eval = mayEval()
	q, err := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n <= 0 {
		return fmt.Errorf("n=%q: want a positive number of notes", q.Get("n"))
	}
	switch phase := q.Get("phase"); phase {
	case "write", "check":
		rawURL := "idb://" + q.Get("db")
		if q.Get("sync") == "true" {
			rawURL += "?sync=true"
		}
		b, err := admit(ctx, rawURL, q.Get("cache"), res)
		if err != nil {
			return err
		}
		notes, err := model.Open[string, note](ctx, model.NewLocal(b), "notes")
		if err != nil {
			return err
		}
		if phase == "write" {
			return write(ctx, b, notes, q.Get("gen"), n, res)
		}
		defer b.Close()
		return check(ctx, notes, strings.Split(q.Get("gen"), ","), n, res)
	case "bench":
		return bench(ctx, n, res)
	case "suite":
		at, err := strconv.Atoi(q.Get("at"))
		if err != nil || at <= 1 {
			return fmt.Errorf("at=%q: want how many cases to run at a time, more than 1", q.Get("at"))
		}
		return suiteBench(ctx, n, at, res)
	case "refusals":
		return refusals(ctx, res)
	default:
		return fmt.Errorf("phase=%q: want write, check or bench", phase)
	}
}

// admit opens rawURL through the admission gate, as a node does: the gate
// runs the conformance suite, eight cases at a time as examples/wasm does, on scratch stores of the backend and opens the
// store only if the suite passed. With cache "" it keeps no certificate, so
// the suite runs at every admission; otherwise it keeps them in
// localStorage under that name, and the suite runs only when none holds
// for this build.
func admit(ctx context.Context, rawURL, cache string, res *result) (core.Backend, error) {
	gate := &core.Gate{Registry: all.Registry(), Suite: conformance.ConcurrentSuite("", 8)}
	if cache != "" {
		gate.Certificates = idbstore.CertificateCache(cache)
	}
	b, adm, err := gate.Admit(ctx, rawURL)
	if adm != nil {
		res.Build, res.Cached = adm.Info.Build, adm.Cached
		if rep, ok := adm.Verdict.(*conformance.Report); ok {
			res.Admission = rep
		}
	}
	return b, err
}

// suiteBench runs the conformance suite on idb:// n times each way, one
// case at a time and at cases at a time, alternating which goes first, and
// reports each run's time (Op "suite-1" and "suite-<at>"); each run must
// pass.
func suiteBench(ctx context.Context, n, at int, res *result) error {
	d := idbstore.Driver()
	u, err := url.Parse("idb://suite-bench")
	if err != nil {
		return err
	}
	info, err := d.Describe(ctx, u)
	if err != nil {
		return err
	}
	h := conformance.URLHarness(d, u, info, "")
	ways := []struct {
		op  string
		run func() (*conformance.Report, error)
	}{
		{"suite-1", func() (*conformance.Report, error) { return conformance.Check(ctx, h) }},
		{"suite-" + strconv.Itoa(at), func() (*conformance.Report, error) { return conformance.CheckConcurrently(ctx, h, at) }},
	}
	for i := range 2 * n {
		w := ways[i%2]
		if (i/2)%2 == 1 {
			w = ways[1-i%2]
		}
		start := time.Now()
		rep, err := w.run()
		if err != nil {
			return err
		}
		took := time.Since(start).Seconds()
		if !rep.Passed() {
			return fmt.Errorf("the suite failed, run %s:\n%s", w.op, rep)
		}
		res.Bench = append(res.Bench, benchResult{Backend: "idb", Op: w.op, N: len(rep.Cases), Seconds: took, PerSec: float64(len(rep.Cases)) / took})
	}
	return nil
}

// mayEval reports whether new Function works in this page.
func mayEval() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	js.Global().Get("Function").New("return 1")
	return true
}

func noteOf(gen string, i int) note {
	return note{ID: fmt.Sprintf("%s-%05d", gen, i), Gen: gen, Body: fmt.Sprintf("note %d of generation %s", i, gen)}
}

// write puts n notes of generation gen, one Put each, then Syncs and leaves
// the store open: the test may end the browser now, as a crash would.
func write(ctx context.Context, b core.Backend, notes *model.Collection[string, note], gen string, n int, res *result) error {
	if gen == "" {
		return errors.New("no gen")
	}
	for i := range n {
		if err := notes.Put(ctx, noteOf(gen, i)); err != nil {
			return err
		}
		res.Written++
	}
	return b.Sync(ctx, ds.NewKey("/"))
}

// check counts the notes of each generation that are there, intact, read
// by key and through the Gen index.
func check(ctx context.Context, notes *model.Collection[string, note], gens []string, n int, res *result) error {
	byGen, err := model.IndexOf[string](notes, "Gen")
	if err != nil {
		return err
	}
	res.Found = map[string]int{}
	for _, gen := range gens {
		for i := range n {
			want := noteOf(gen, i)
			got, err := notes.Get(ctx, want.ID)
			if errors.Is(err, core.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("note %s reads %+v, want %+v", want.ID, got, want)
			}
			res.Found[gen]++
		}
		indexed := 0
		for _, err := range byGen.Find(ctx, gen) {
			if err != nil {
				return err
			}
			indexed++
		}
		if indexed != res.Found[gen] {
			return fmt.Errorf("generation %s: %d notes by key, %d through the index", gen, res.Found[gen], indexed)
		}
	}
	return nil
}

// bench measures n typed Puts (each its own write) and n typed Gets on a
// fresh IndexedDB database and on the memory backend, both admitted
// through the gate.
func bench(ctx context.Context, n int, res *result) error {
	db := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	defer func() { _ = idbstore.Delete(db) }()
	for _, rawURL := range []string{"memory://", "idb://" + db} {
		var discard result
		b, err := admit(ctx, rawURL, "", &discard)
		if err != nil {
			return err
		}
		err = benchOne(ctx, b, rawURL, n, res)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func benchOne(ctx context.Context, b core.Backend, name string, n int, res *result) error {
	notes, err := model.Open[string, note](ctx, model.NewLocal(b), "notes")
	if err != nil {
		return err
	}
	scheme, _, _ := strings.Cut(name, ":")
	measure := func(op string, f func(i int) error) error {
		start := time.Now()
		for i := range n {
			if err := f(i); err != nil {
				return fmt.Errorf("%s %s: %w", scheme, op, err)
			}
		}
		d := time.Since(start).Seconds()
		res.Bench = append(res.Bench, benchResult{Backend: scheme, Op: op, N: n, Seconds: d, PerSec: float64(n) / d})
		return nil
	}
	if err := measure("put", func(i int) error { return notes.Put(ctx, noteOf("bench", i)) }); err != nil {
		return err
	}
	return measure("get", func(i int) error {
		got, err := notes.Get(ctx, noteOf("bench", i).ID)
		if err == nil && got != noteOf("bench", i) {
			err = fmt.Errorf("read %+v", got)
		}
		return err
	})
}

// refusals makes two databases as another program would — one at version
// 1 with an object store of its own, one at a version above netabase's —
// and checks that Open refuses each with an error saying why, and leaves
// it as it was.
func refusals(ctx context.Context, res *result) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, f := range []struct {
		name    string
		version int
		want    string
	}{
		{"foreign-v1", 1, "not a netabase store"},
		{"foreign-v3", 3, "newer version"},
	} {
		if err := foreignDB(ctx, f.name, f.version, "put"); err != nil {
			return err
		}
		s, err := idbstore.Open(ctx, &idbstore.Options{Name: f.name})
		if err == nil {
			s.Close()
			return fmt.Errorf("idbstore opened %s, another program's database", f.name)
		}
		if !strings.Contains(err.Error(), f.want) {
			return fmt.Errorf("opening %s: %v; want an error saying %q", f.name, err, f.want)
		}
		res.Refusals = append(res.Refusals, err.Error())
		if err := foreignDB(ctx, f.name, f.version, "check"); err != nil {
			return fmt.Errorf("after idbstore refused %s: %w", f.name, err)
		}
	}
	return nil
}

// foreignDB opens the database name at version as another program would,
// with its own object store "things": with "put" it stores a thing, with
// "check" it checks that the thing is there and the database unchanged.
func foreignDB(ctx context.Context, name string, version int, mode string) error {
	done := make(chan error, 1)
	finish := func(err error) {
		select {
		case done <- err:
		default: // the first outcome counts
		}
	}
	type handler struct {
		target js.Value
		event  string
		fn     js.Func
	}
	var handlers []handler
	defer func() {
		for _, h := range handlers {
			h.target.Set("on"+h.event, js.Null())
			h.fn.Release()
		}
	}()
	on := func(v js.Value, event string, f func()) {
		fn := js.FuncOf(func(js.Value, []js.Value) any { f(); return nil })
		handlers = append(handlers, handler{v, event, fn})
		v.Set("on"+event, fn)
	}
	req := js.Global().Get("indexedDB").Call("open", name, version)
	on(req, "upgradeneeded", func() {
		if mode == "check" {
			finish(fmt.Errorf("the database %s was changed: it needed an upgrade", name))
			return
		}
		req.Get("result").Call("createObjectStore", "things")
	})
	on(req, "error", func() { finish(fmt.Errorf("opening %s: %s", name, req.Get("error").Get("message").String())) })
	on(req, "success", func() {
		db := req.Get("result")
		names := db.Get("objectStoreNames")
		if names.Length() != 1 || names.Index(0).String() != "things" || db.Get("version").Int() != version {
			db.Call("close")
			finish(fmt.Errorf("the database %s was changed: version %d, %d object stores", name, db.Get("version").Int(), names.Length()))
			return
		}
		tx := db.Call("transaction", "things", "readwrite")
		things := tx.Call("objectStore", "things")
		if mode == "put" {
			things.Call("put", "a thing", "key")
			on(tx, "complete", func() { db.Call("close"); finish(nil) })
			return
		}
		get := things.Call("get", "key")
		on(get, "success", func() {
			db.Call("close")
			if v := get.Get("result"); v.Type() != js.TypeString || v.String() != "a thing" {
				finish(fmt.Errorf("the database %s lost what it held", name))
				return
			}
			finish(nil)
		})
	})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("the database %s did not open: %w", name, ctx.Err())
	}
}
