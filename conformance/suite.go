package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
)

// Version is the suite's version. It changes whenever a case is added,
// removed or made stricter, so that a certificate from an older suite no
// longer admits a backend. testdata/suite.sum pins it to a hash of the code
// of the cases, and TestVersionPinned fails when that code changed and
// Version did not: bump Version to the next number, then run
// go test ./conformance -run TestVersionPinned -update.
const Version = "9"

// CaseTimeout bounds one case: a store that hangs fails the case instead of
// hanging the suite.
const CaseTimeout = 2 * time.Minute

// Harness hands out scratch instances of one backend.
type Harness interface {
	// Capabilities are what the backend declares; the suite checks each one.
	Capabilities() core.Capabilities
	// NewInstance returns a fresh, empty scratch store.
	NewInstance(ctx context.Context) (Instance, error)
}

// Instance is one scratch store.
type Instance interface {
	// Open opens the store. It may be called again after Close, and then
	// holds the same data if the backend is Persistent.
	Open(ctx context.Context) (ds.Batching, error)
	// Destroy removes the store and everything it wrote.
	Destroy() error
}

// Crasher is implemented by an Instance whose store can be ended abruptly,
// as a crash of the process that holds it ends it. The durability case
// needs it: without it, a harness that declares Durable has its durability
// skipped, with a report that says it was not checked by a crash.
type Crasher interface {
	// Crash ends the store Open returned last without closing it, losing
	// whatever the backend had not made durable, and returns once it is
	// gone (for a plugin: its process is killed). It releases what the
	// store held; the suite does not use that store again, not even to
	// close it, and the next Open opens the instance from what the crash
	// left.
	Crash(ctx context.Context) error
}

// Status is the outcome of one case.
type Status string

// The outcomes of a case.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// CaseResult is the outcome of one case.
type CaseResult struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Error    string        `json:"error,omitempty"` // why it failed, or why it was skipped
	Duration time.Duration `json:"duration_ns"`
	// setup is the error, when the case failed because it could not
	// create or open its scratch store.
	setup error
}

// SetupError is what Check returns when the first case it runs cannot
// create or open a scratch store: the backend cannot be tested at all (its
// server is down, its options open nothing), every case would fail the same
// way, so the suite stops there. It unwraps to the harness's or the
// store's error, so errors.Is and errors.As see through it.
type SetupError struct {
	Case string // the case that could not start
	Err  error
}

func (e *SetupError) Error() string {
	return fmt.Sprintf("the backend could not open a scratch store, so no case of the conformance suite could run (the first, %s, stopped it): %v", e.Case, e.Err)
}

func (e *SetupError) Unwrap() error { return e.Err }

// setupFailure marks an error of creating or opening a case's scratch
// store.
type setupFailure struct{ err error }

func (e *setupFailure) Error() string { return e.err.Error() }
func (e *setupFailure) Unwrap() error { return e.err }

// Report is the outcome of a suite run.
type Report struct {
	Suite        string            `json:"suite"`
	Capabilities core.Capabilities `json:"capabilities"`
	Cases        []CaseResult      `json:"cases"`
	Duration     time.Duration     `json:"duration_ns"`
}

// Passed reports whether the suite ran and no case failed.
func (r *Report) Passed() bool {
	return len(r.Cases) > 0 && len(r.Failed()) == 0
}

// Failed returns the cases that failed.
func (r *Report) Failed() []CaseResult {
	var out []CaseResult
	for _, c := range r.Cases {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

// String is the readable report: one line per case, failures with their
// reasons, and a summary.
func (r *Report) String() string {
	var b strings.Builder
	counts := map[Status]int{}
	for _, c := range r.Cases {
		counts[c.Status]++
		fmt.Fprintf(&b, "%-4s  %-28s %8s", strings.ToUpper(string(c.Status)), c.Name, c.Duration.Round(time.Millisecond))
		if c.Error != "" {
			fmt.Fprintf(&b, "  %s", strings.ReplaceAll(c.Error, "\n", "\n      "))
		}
		b.WriteByte('\n')
	}
	verdict := "PASSED"
	if !r.Passed() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "%s: conformance suite v%s, %d passed, %d failed, %d skipped in %s (capabilities: %s)\n",
		verdict, r.Suite, counts[Pass], counts[Fail], counts[Skip], r.Duration.Round(time.Millisecond), r.Capabilities)
	return b.String()
}

// Check runs every case and returns the report. The error is non-nil only
// when ctx ends before the suite does, or, a *SetupError, when the first
// case cannot create or open a scratch store.
func Check(ctx context.Context, h Harness) (*Report, error) {
	return CheckProgress(ctx, h, nil)
}

// CheckProgress is Check calling progress, when non-nil, before each case
// with its name, its position and the number of cases, and after it with its
// result.
func CheckProgress(ctx context.Context, h Harness, progress func(name string, i, n int, result *CaseResult)) (*Report, error) {
	return runSuite(ctx, h, 1, progress)
}

// CheckConcurrently is Check running up to n cases at a time, each on its
// own instance as Check runs it, and the report lists them in the suite's
// order. The cases check what they check under Check; only the time the
// suite takes changes, and for a backend whose operations wait on
// something other than the CPU — a browser's IndexedDB, a server — it
// shrinks: the waits of one case overlap another's work. A case's
// Duration is then its time among the others. When the first case that
// runs in the suite's order cannot create or open its scratch store, the
// error is a *SetupError, as Check's, once every case has ended.
func CheckConcurrently(ctx context.Context, h Harness, n int) (*Report, error) {
	return runSuite(ctx, h, max(n, 1), nil)
}

// runSuite runs every case, parallel at a time, and calls progress, when
// non-nil, for one case at a time.
func runSuite(ctx context.Context, h Harness, parallel int, progress func(name string, i, n int, result *CaseResult)) (*Report, error) {
	caps := h.Capabilities()
	rep := &Report{Suite: Version, Capabilities: caps, Cases: make([]CaseResult, len(cases))}
	start := time.Now()
	var (
		mu   sync.Mutex // serialises progress and next
		next int        // the next case to start
		wg   sync.WaitGroup
	)
	report := func(i int, res *CaseResult) {
		if progress != nil {
			mu.Lock()
			progress(cases[i].name, i, len(cases), res)
			mu.Unlock()
		}
	}
	for range min(parallel, len(cases)) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(cases) || ctx.Err() != nil {
					return
				}
				report(i, nil)
				rep.Cases[i] = runCase(ctx, h, caps, cases[i])
				if ctx.Err() != nil {
					return
				}
				if parallel == 1 && rep.Cases[i].setup != nil && firstRun(rep.Cases[:i]) {
					// Every other case would fail the same way.
					mu.Lock()
					next = len(cases)
					mu.Unlock()
					return
				}
				report(i, &rep.Cases[i])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, res := range rep.Cases {
		if res.setup != nil && firstRun(rep.Cases[:i]) {
			return nil, &SetupError{Case: res.Name, Err: res.setup}
		}
		if res.Status != Skip {
			break
		}
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// firstRun reports whether none of before, the results of the cases
// before one, ran: they were all skipped.
func firstRun(before []CaseResult) bool {
	return !slices.ContainsFunc(before, func(r CaseResult) bool { return r.Status != Skip })
}

// CheckCase runs the case called name, one of [Names], on a fresh instance
// from h, as Check runs it. The error is non-nil only when there is no such
// case.
func CheckCase(ctx context.Context, h Harness, name string) (CaseResult, error) {
	i := slices.IndexFunc(cases, func(c testCase) bool { return c.name == name })
	if i < 0 {
		return CaseResult{}, fmt.Errorf("conformance: the suite has no case %q", name)
	}
	return runCase(ctx, h, h.Capabilities(), cases[i]), nil
}

// Names lists the suite's cases in the order they run.
func Names() []string {
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	return names
}

// runCase runs one case on a fresh instance, bounded by CaseTimeout, and
// turns a panic or a hang into a failure.
func runCase(ctx context.Context, h Harness, caps core.Capabilities, c testCase) CaseResult {
	res := CaseResult{Name: c.name}
	if missing := caps.Missing(c.needs); len(missing) > 0 {
		res.Status, res.Error = Skip, "the backend does not declare "+strings.Join(missing, ", ")
		return res
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, CaseTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("the store panicked: %v\n%s", p, debug.Stack())
			}
		}()
		done <- runOnInstance(ctx, h, c)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("the case did not finish within %s: the store hangs", CaseTimeout)
	}
	res.Duration = time.Since(start)
	var skip *skipError
	if setup, ok := errors.AsType[*setupFailure](err); ok {
		res.setup = setup.err
	}
	switch {
	case errors.As(err, &skip):
		res.Status, res.Error = Skip, skip.reason
	case err != nil:
		res.Status, res.Error = Fail, err.Error()
	default:
		res.Status = Pass
	}
	return res
}

// skipError is what a case returns when it cannot check its rule on this
// harness: the case is skipped, and reason says why.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func runOnInstance(ctx context.Context, h Harness, c testCase) (err error) {
	inst, err := h.NewInstance(ctx)
	if err != nil {
		return &setupFailure{fmt.Errorf("creating a scratch instance: %w", err)}
	}
	defer func() {
		if derr := inst.Destroy(); derr != nil && err == nil {
			err = fmt.Errorf("destroying the scratch instance: %w", derr)
		}
	}()
	e := &env{ctx: ctx, inst: inst, caps: h.Capabilities()}
	if e.store, err = inst.Open(ctx); err != nil {
		return &setupFailure{fmt.Errorf("opening a scratch instance: %w", err)}
	}
	defer func() {
		if e.store != nil {
			// The case may have closed the store itself; only a failure to
			// close an open store matters.
			if cerr := e.store.Close(); cerr != nil && err == nil && !errors.Is(cerr, core.ErrClosed) {
				err = fmt.Errorf("closing the store: %w", cerr)
			}
		}
	}()
	return c.run(e)
}

// env is what a case works with: one open store on a fresh instance.
type env struct {
	ctx   context.Context
	inst  Instance
	caps  core.Capabilities
	store ds.Batching
}

// reopen closes the store and opens the instance again.
func (e *env) reopen() error {
	if err := e.store.Close(); err != nil {
		return fmt.Errorf("closing before reopen: %w", err)
	}
	s, err := e.inst.Open(e.ctx)
	if err != nil {
		e.store = nil
		return fmt.Errorf("reopening: %w", err)
	}
	e.store = s
	return nil
}

// crashAndReopen crashes the store and opens the instance again.
func (e *env) crashAndReopen(c Crasher) error {
	err := c.Crash(e.ctx)
	e.store = nil // crashed: the suite does not close it
	if err != nil {
		return fmt.Errorf("crashing the store: %w", err)
	}
	if e.store, err = e.inst.Open(e.ctx); err != nil {
		return fmt.Errorf("reopening after a crash: %w", err)
	}
	return nil
}

// testCase is one row of the suite's table.
type testCase struct {
	name  string
	needs core.Capabilities // capabilities the case checks; skipped without them
	run   func(e *env) error
}

// URLHarness returns a harness whose instances are scratch stores of the
// backend that d opens from u, each made by d's Scratch under root (the
// system's temporary directory when root is empty) and removed by the
// function it returns. Each instance is opened through core, so the suite
// sees the backend exactly as a node does. When d is a [CrashDriver], the
// instances are [Crasher]s.
func URLHarness(d core.Driver, u *url.URL, info core.Info, root string) Harness {
	return &urlHarness{d: d, u: u, info: info, root: root}
}

// CrashDriver is a core.Driver that can crash a store it opened, such as
// the plugin driver, which kills the store's process.
type CrashDriver interface {
	core.Driver
	// Crash ends b, a store the driver's Open returned, as a crash of the
	// process holding it would, and returns once it is gone. It releases
	// what b held: closing b afterwards does nothing and returns nil.
	Crash(ctx context.Context, b ds.Batching) error
}

type urlHarness struct {
	d    core.Driver
	u    *url.URL
	info core.Info
	root string
}

func (h *urlHarness) Capabilities() core.Capabilities { return h.info.Capabilities }

func (h *urlHarness) NewInstance(ctx context.Context) (Instance, error) {
	su, destroy, err := h.d.Scratch(ctx, h.u, h.root)
	if err != nil {
		return nil, err
	}
	i := &urlInstance{h: h, u: su, destroy: destroy}
	if cd, ok := h.d.(CrashDriver); ok {
		return &crashURLInstance{urlInstance: i, d: cd}, nil
	}
	return i, nil
}

type urlInstance struct {
	h       *urlHarness
	u       *url.URL
	destroy func() error // removes the scratch store
}

func (i *urlInstance) Open(ctx context.Context) (ds.Batching, error) {
	return core.OpenURL(ctx, i.h.d, i.u)
}

func (i *urlInstance) Destroy() error { return i.destroy() }

// crashURLInstance is a urlInstance whose driver can crash its stores.
type crashURLInstance struct {
	*urlInstance
	d      CrashDriver
	engine ds.Batching  // what the driver opened last
	store  core.Backend // core's wrapper around engine
}

var _ Crasher = (*crashURLInstance)(nil)

func (i *crashURLInstance) Open(ctx context.Context) (ds.Batching, error) {
	var engine ds.Batching
	b, err := core.OpenURL(ctx, keepOpened{CrashDriver: i.d, opened: &engine}, i.u)
	if err != nil {
		return nil, err
	}
	i.engine, i.store = engine, b
	return b, nil
}

func (i *crashURLInstance) Crash(ctx context.Context) error {
	if i.store == nil {
		return errors.New("no store is open to crash")
	}
	engine, b := i.engine, i.store
	i.engine, i.store = nil, nil
	err := i.d.Crash(ctx, engine)
	// Closing core's wrapper releases it; the crashed engine's Close does
	// nothing (and when the crash failed, it closes the engine).
	return errors.Join(err, b.Close())
}

// keepOpened is a driver that records the engine its Open returns.
type keepOpened struct {
	CrashDriver
	opened *ds.Batching
}

func (k keepOpened) Open(ctx context.Context, u *url.URL) (ds.Batching, error) {
	b, err := k.CrashDriver.Open(ctx, u)
	*k.opened = b
	return b, err
}

// Suite returns the suite as the admission gate (core.Gate) runs it: on
// scratch instances under root (the system's temporary directory when empty).
func Suite(root string) core.Suite { return gateSuite{root: root, parallel: 1} }

// ConcurrentSuite is Suite running up to n cases at a time, as
// [CheckConcurrently] does: the same suite, with the same version, for a
// backend whose time goes to waiting, such as idbstore in a page.
func ConcurrentSuite(root string, n int) core.Suite {
	return gateSuite{root: root, parallel: max(n, 1)}
}

type gateSuite struct {
	root     string
	parallel int // cases at a time
}

func (gateSuite) Version() string { return Version }

func (s gateSuite) Check(ctx context.Context, d core.Driver, u *url.URL, info core.Info) (core.Verdict, error) {
	return runSuite(ctx, URLHarness(d, u, info, s.root), s.parallel, nil)
}
