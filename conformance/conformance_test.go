package conformance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/keytransform"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/conformance/conformancetest"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/storetest"
)

var (
	noCaps  = core.Capabilities{}
	allCaps = core.Capabilities{Persistent: true, Durable: true, TTL: true, Transactions: true}
)

// memstoreHarness returns a harness of memory stores opened through core.
// A persistent one keeps each instance's store, left open, across Close and
// reopen of the core store over it.
func memstoreHarness(persistent bool) *harness {
	return &harness{
		caps: core.Capabilities{Persistent: persistent},
		newEngine: func(ctx context.Context) (ds.Batching, error) {
			s, err := memstore.Open(ctx, nil)
			if err != nil {
				return nil, err
			}
			if persistent {
				return keptOpen{s}, nil
			}
			return s, nil
		},
		forgetful: !persistent,
	}
}

// keptOpen is an engine whose Close leaves it open, the way data on disk
// outlives the handle that wrote it.
type keptOpen struct{ ds.Batching }

func (keptOpen) Close() error { return nil }

func asIs(s *mapStore) ds.Batching { return s }

func caseNames(cs []conformance.CaseResult) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

// firstLine returns the first line of s, cut to a readable length.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 300 {
		return line[:300] + "…"
	}
	return line
}

// TestCorrectStoresPass shows that the suite passes correct stores, running
// every case whose capability they declare.
func TestCorrectStoresPass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		h       conformance.Harness
		skipped []string
	}{
		{"memstore", memstoreHarness(false), []string{"persistence", "durable", "ttl", "transactions"}},
		{"memstore kept across reopen", memstoreHarness(true), []string{"durable", "ttl", "transactions"}},
		{"map store with every capability", onMapStore(allCaps, durably), nil},
		{"map store with every capability, which the harness cannot crash", onMapStore(allCaps, asIs), []string{"durable"}},
	} {
		for _, how := range checks {
			t.Run(tc.name+", "+how.name, func(t *testing.T) {
				t.Parallel()
				rep, err := how.check(t.Context(), tc.h)
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if !rep.Passed() {
					t.Fatalf("a correct store failed the suite:\n%s", rep)
				}
				if got := caseNames(rep.Cases); !slices.Equal(got, conformance.Names()) {
					t.Fatalf("the report lists cases %q, want every case in order, %q", got, conformance.Names())
				}
				for _, c := range rep.Cases {
					want := conformance.Pass
					if slices.Contains(tc.skipped, c.Name) {
						want = conformance.Skip
					}
					if c.Status != want {
						t.Errorf("case %s: %s (%s), want %s", c.Name, c.Status, c.Error, want)
					}
				}
				if rep.Suite != conformance.Version || rep.Capabilities != tc.h.Capabilities() {
					t.Errorf("the report names suite %q and capabilities %s, want %q and %s",
						rep.Suite, rep.Capabilities, conformance.Version, tc.h.Capabilities())
				}
			})
		}
	}
}

// checks are the ways to run the suite: a case at a time, and several at
// once, which must find the same.
var checks = []struct {
	name  string
	check func(context.Context, conformance.Harness) (*conformance.Report, error)
}{
	{"one case at a time", conformance.Check},
	{"four cases at a time", func(ctx context.Context, h conformance.Harness) (*conformance.Report, error) {
		return conformance.CheckConcurrently(ctx, h, 4)
	}},
}

// TestRun runs the suite as subtests on a correct store that declares every
// capability, so that no subtest is skipped.
func TestRun(t *testing.T) {
	t.Parallel()
	conformancetest.Run(t, onMapStore(allCaps, durably))
}

// TestDurableSkipReasons checks that the report says why durability was not
// checked: not declared, or declared on instances the harness cannot crash.
func TestDurableSkipReasons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		h    conformance.Harness
		want string
	}{
		{"not declared", onMapStore(noCaps, durably), "the backend does not declare durable"},
		{"declared, no crash", onMapStore(core.Capabilities{Persistent: true, Durable: true}, asIs), "durability was not checked by a crash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := conformance.Check(t.Context(), tc.h)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			i := slices.IndexFunc(rep.Cases, func(c conformance.CaseResult) bool { return c.Name == "durable" })
			if i < 0 {
				t.Fatalf("the report has no case durable:\n%s", rep)
			}
			if c := rep.Cases[i]; c.Status != conformance.Skip || !strings.HasPrefix(c.Error, tc.want) {
				t.Errorf("case durable: %s (%s), want skipped because %q", c.Status, c.Error, tc.want)
			}
			if !strings.Contains(rep.String(), tc.want) {
				t.Errorf("the readable report does not say %q:\n%s", tc.want, rep)
			}
		})
	}
}

// brokenStore is a store that breaks one rule, and the case that must catch
// it.
type brokenStore struct {
	breakage string // what the store does wrong
	harness  conformance.Harness
	caughtBy string
}

func brokenStores() []brokenStore {
	keyMapped := func(mapKey func(string) string) func(*mapStore) ds.Batching {
		return func(s *mapStore) ds.Batching {
			return keytransform.Wrap(s, &keytransform.Pair{
				Convert: func(k ds.Key) ds.Key { return ds.RawKey(mapKey(k.String())) },
				Invert:  func(k ds.Key) ds.Key { return k },
			})
		}
	}
	hiding := func(hide func(string) bool) func(*mapStore) ds.Batching {
		return func(s *mapStore) ds.Batching { return hidesInQueries{s, hide} }
	}
	rewriting := func(rewrite func(dsq.Query) dsq.Query) func(*mapStore) ds.Batching {
		return func(s *mapStore) ds.Batching { return rewritesQueries{s, rewrite} }
	}
	forgetful := onMapStore(core.Capabilities{Persistent: true}, asIs)
	forgetful.forgetful = true
	frozen := &harness{caps: core.Capabilities{TTL: true}, newEngine: func(context.Context) (ds.Batching, error) {
		return frozenClock(), nil
	}}

	return []brokenStore{
		{"ignores a Put over an existing value",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return keepsFirst{s} }), "put-get-overwrite"},
		{"reports a missing key with its own error, not ErrNotFound",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return ownNotFound{s} }), "not-found"},
		{"fails to delete a missing key",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return deleteMissingFails{s} }), "delete"},
		{"stores an empty value as a deletion",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return emptyIsDeletion{s} }), "empty-value"},
		{"stores values as UTF-8 text",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return textValues{s} }), "binary-values"},
		{"ends a key at its first NUL byte",
			onMapStore(noCaps, keyMapped(func(k string) string {
				k, _, _ = strings.Cut(k, "\x00")
				return k
			})), "binary-keys"},
		{"keeps only the first MiB of a value",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return truncatesValues{s} }), "large-values"},
		{"keeps only the first KiB of a key",
			onMapStore(noCaps, keyMapped(func(k string) string { return k[:min(len(k), 1<<10)] })), "long-keys"},
		{"leaves keys deeper than 64 segments out of queries",
			onMapStore(noCaps, hiding(func(k string) bool { return strings.Count(k, "/") > 64 })), "deep-keys"},
		{"accepts invalid keys, bypassing core",
			overCore(func(b core.Backend) ds.Batching { return acceptsInvalidKeys{b} }), "invalid-input"},
		{"matches a query prefix as a string, not as a path",
			onMapStore(noCaps, rewriting(func(q dsq.Query) dsq.Query {
				q.Filters = append([]dsq.Filter{dsq.FilterKeyPrefix{Prefix: q.Prefix}}, q.Filters...)
				q.Prefix = ""
				return q
			})), "query-prefix"},
		{"sorts descending orders ascending",
			onMapStore(noCaps, rewriting(descendingAsAscending)), "query-order"},
		{"ignores a query's offset",
			onMapStore(noCaps, rewriting(func(q dsq.Query) dsq.Query {
				q.Offset = 0
				return q
			})), "query-limit-offset"},
		{"skips a filtered query's offset before filtering, as go-ds-badger4 does, bypassing core",
			overCore(func(b core.Backend) ds.Batching { return offsetBeforeFilters{b} }), "query-filters"},
		{"hands a filtered query's limit to the engine when it has no offset, and filters what comes back, bypassing core",
			overCore(func(b core.Backend) ds.Batching { return limitBeforeFilters{b} }), "query-combinations"},
		{"applies a query's prefix after its offset and limit",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return prefixAfterLimit{s} }), "query-combinations"},
		{"orders by key where a query asks to order by value",
			onMapStore(noCaps, rewriting(valuesAsKeys)), "query-combinations"},
		{"gives a query's last order the first say, as one stable sort per order in turn would",
			onMapStore(noCaps, rewriting(func(q dsq.Query) dsq.Query {
				q.Orders = slices.Clone(q.Orders)
				slices.Reverse(q.Orders)
				return q
			})), "query-combinations"},
		{"leaves sizes out of a keys-only query that asks for them",
			onMapStore(noCaps, rewriting(func(q dsq.Query) dsq.Query {
				q.ReturnsSizes = false
				return q
			})), "query-keys-only-sizes"},
		{"seeks, but ignores a seek's limit",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return seeksWithoutLimit{s} }), "query-seek"},
		{"applies batched writes before Commit",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return unbufferedBatches{s} }), "batch"},
		{"applies only the first 100 operations of a batch's Commit",
			onMapStore(noCaps, func(s *mapStore) ds.Batching {
				return rewritesCommits{s, func(ops []stagedOp) []stagedOp { return ops[:min(len(ops), 100)] }}
			}), "batch"},
		{"keeps only the first 4 MiB of a value in a batch",
			onMapStore(noCaps, func(s *mapStore) ds.Batching {
				return rewritesCommits{s, func(ops []stagedOp) []stagedOp {
					for i := range ops {
						ops[i].value = ops[i].value[:min(len(ops[i].value), 4<<20)]
					}
					return ops
				}}
			}), "batch"},
		{"counts keys a batch deleted toward a query's offset and limit",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return newTombstones(s) }), "batch-then-query"},
		{"resumes a paged query by its count of entries read, so a delete while it is open skips keys",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return pagesByOffset{s} }), "query-during-batch"},
		{"keeps the caller's slice",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return keepsCallerSlice{s} }), "no-aliasing"},
		{"loses a Put that overlaps another",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return newOverlapLoses(s) }), "concurrency"},
		{"puts with a cancelled context, bypassing core",
			overCore(func(b core.Backend) ds.Batching { return ignoresCancel{b} }), "cancelled-context"},
		{"panics on a Get after Close, as go-ds-pebble does, bypassing core",
			overCore(func(b core.Backend) ds.Batching { return &panicsAfterClose{Backend: b} }), "closed"},
		{"fails every Sync",
			onMapStore(noCaps, func(s *mapStore) ds.Batching { return syncFails{s} }), "sync"},
		{"declares persistence but forgets its data at reopen", forgetful, "persistence"},
		{"declares durability but makes data durable only at Close, not at Sync",
			onMapStore(core.Capabilities{Persistent: true, Durable: true}, func(s *mapStore) ds.Batching {
				return syncsOnlyAtClose{newDurableMap(s)}
			}), "durable"},
		{"declares TTL but its clock never moves, so nothing expires", frozen, "ttl"},
		{"declares transactions but writes before Commit",
			onMapStore(core.Capabilities{Transactions: true}, func(s *mapStore) ds.Batching { return unisolatedTxns{s} }), "transactions"},
		{"hides the /netabase namespace from queries",
			onMapStore(noCaps, hiding(func(k string) bool { return strings.HasPrefix(k, "/netabase/") })), "record-store"},
		{"hides the /providers namespace from queries",
			onMapStore(noCaps, hiding(func(k string) bool { return strings.HasPrefix(k, "/providers/") })), "provider-store"},
	}
}

// TestBrokenStoresFail shows that the suite fails a store that breaks any
// one of its rules, and names the case that caught it.
func TestBrokenStoresFail(t *testing.T) {
	t.Parallel()
	stores := brokenStores()
	t.Run("every case has a broken store", func(t *testing.T) {
		var caught []string
		for _, b := range stores {
			caught = append(caught, b.caughtBy)
			if !slices.Contains(conformance.Names(), b.caughtBy) {
				t.Errorf("the store that %s names %q, which is no case of the suite", b.breakage, b.caughtBy)
			}
		}
		for _, name := range conformance.Names() {
			if !slices.Contains(caught, name) {
				t.Errorf("no broken store shows that case %s catches anything", name)
			}
		}
	})
	for _, b := range stores {
		t.Run(b.caughtBy, func(t *testing.T) {
			t.Parallel()
			rep, err := conformance.Check(t.Context(), b.harness)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if rep.Passed() {
				t.Fatalf("a store that %s passed the suite:\n%s", b.breakage, rep)
			}
			failed := rep.Failed()
			t.Logf("a store that %s fails %s", b.breakage, strings.Join(caseNames(failed), ", "))
			i := slices.IndexFunc(failed, func(c conformance.CaseResult) bool { return c.Name == b.caughtBy })
			if i < 0 {
				t.Fatalf("a store that %s did not fail case %s:\n%s", b.breakage, b.caughtBy, rep)
			}
			if failed[i].Error == "" {
				t.Fatalf("case %s failed without saying why", b.caughtBy)
			}
			t.Logf("%s: %s", b.caughtBy, firstLine(failed[i].Error))
		})
	}
}

func sampleReport() *conformance.Report {
	return &conformance.Report{
		Suite:        conformance.Version,
		Capabilities: core.Capabilities{Persistent: true},
		Cases: []conformance.CaseResult{
			{Name: "put-get-overwrite", Status: conformance.Pass, Duration: 3 * time.Millisecond},
			{Name: "delete", Status: conformance.Fail, Error: "Delete: boom\nand a second line", Duration: 2 * time.Millisecond},
			{Name: "ttl", Status: conformance.Skip, Error: "the backend does not declare ttl"},
			{Name: "sync", Status: conformance.Fail, Error: "Sync(/): fsync failed", Duration: time.Millisecond},
		},
		Duration: 1500 * time.Millisecond,
	}
}

func TestReportVerdict(t *testing.T) {
	rep := sampleReport()
	if rep.Passed() {
		t.Error("a report with failed cases passed")
	}
	failed := rep.Failed()
	if got := caseNames(failed); !slices.Equal(got, []string{"delete", "sync"}) {
		t.Errorf("Failed() = %q, want the two failed cases in order", got)
	}
	if !reflect.DeepEqual(failed, []conformance.CaseResult{rep.Cases[1], rep.Cases[3]}) {
		t.Errorf("Failed() = %+v, want the failed cases as they are", failed)
	}

	ok := sampleReport()
	ok.Cases = slices.DeleteFunc(ok.Cases, func(c conformance.CaseResult) bool { return c.Status == conformance.Fail })
	if !ok.Passed() || len(ok.Failed()) != 0 {
		t.Errorf("a report of passed and skipped cases: Passed() = %v, Failed() = %+v; want true and none", ok.Passed(), ok.Failed())
	}
}

func TestReportString(t *testing.T) {
	got := strings.Split(sampleReport().String(), "\n")
	want := []struct{ prefix, name, error string }{
		{"PASS", "put-get-overwrite", ""},
		{"FAIL", "delete", "Delete: boom"},
		{"", "", "and a second line"},
		{"SKIP", "ttl", "the backend does not declare ttl"},
		{"FAIL", "sync", "Sync(/): fsync failed"},
	}
	if len(got) != len(want)+2 || got[len(got)-1] != "" {
		t.Fatalf("String() has lines %q, want %d lines, a summary and a final newline", got, len(want))
	}
	for i, w := range want {
		line := got[i]
		if !strings.HasPrefix(line, w.prefix) || !strings.Contains(line, w.name) || !strings.HasSuffix(line, w.error) {
			t.Errorf("line %d = %q, want it to start with %q, name %q and end with %q", i, line, w.prefix, w.name, w.error)
		}
	}
	if cont := got[2]; !strings.HasPrefix(cont, "      ") {
		t.Errorf("the second line of an error is %q, want it indented", cont)
	}
	summary := "FAILED: conformance suite v" + conformance.Version +
		", 1 passed, 2 failed, 1 skipped in 1.5s (capabilities: persistent)"
	if got[len(want)] != summary {
		t.Errorf("summary = %q, want %q", got[len(want)], summary)
	}

	ok := sampleReport()
	ok.Cases = ok.Cases[:1]
	if s := ok.String(); !strings.Contains(s, "\nPASSED: conformance suite v"+conformance.Version+", 1 passed, 0 failed, 0 skipped") {
		t.Errorf("String() of a passing report = %q, want a PASSED summary", s)
	}
}

func TestReportJSON(t *testing.T) {
	rep := sampleReport()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var fields struct {
		Suite        string           `json:"suite"`
		Capabilities map[string]bool  `json:"capabilities"`
		Cases        []map[string]any `json:"cases"`
		Duration     int64            `json:"duration_ns"`
	}
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if fields.Suite != conformance.Version || fields.Duration != int64(1500*time.Millisecond) {
		t.Errorf("suite %q, duration_ns %d in %s", fields.Suite, fields.Duration, b)
	}
	if want := map[string]bool{"persistent": true, "durable": false, "ttl": false, "transactions": false}; !reflect.DeepEqual(fields.Capabilities, want) {
		t.Errorf("capabilities = %v, want %v", fields.Capabilities, want)
	}
	wantCases := []map[string]any{
		{"name": "put-get-overwrite", "status": "pass", "duration_ns": float64(3 * time.Millisecond)},
		{"name": "delete", "status": "fail", "error": "Delete: boom\nand a second line", "duration_ns": float64(2 * time.Millisecond)},
		{"name": "ttl", "status": "skip", "error": "the backend does not declare ttl", "duration_ns": float64(0)},
		{"name": "sync", "status": "fail", "error": "Sync(/): fsync failed", "duration_ns": float64(time.Millisecond)},
	}
	if !reflect.DeepEqual(fields.Cases, wantCases) {
		t.Errorf("cases = %v, want %v", fields.Cases, wantCases)
	}

	var back conformance.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, rep) {
		t.Errorf("the report after a JSON round trip is %+v, want %+v", back, *rep)
	}
}

// failingOpen is an instance whose store does not open.
type failingOpen struct {
	conformance.Instance
	err error
}

func (i failingOpen) Open(context.Context) (ds.Batching, error) { return nil, i.err }

// opensNothing is a harness whose instances do not open.
type opensNothing struct {
	conformance.Harness
	err error
}

func (h opensNothing) NewInstance(ctx context.Context) (conformance.Instance, error) {
	i, err := h.Harness.NewInstance(ctx)
	return failingOpen{i, h.err}, err
}

// TestSetupErrorKeepsItsCause: when the first case cannot create or open a
// scratch store, Check returns a *SetupError through which errors.Is and
// errors.As find the harness's or the store's error.
func TestSetupErrorKeepsItsCause(t *testing.T) {
	t.Parallel()
	cause := &fs.PathError{Op: "open", Path: "/scratch", Err: fs.ErrPermission}
	for name, h := range map[string]conformance.Harness{
		"creating": &harness{newEngine: func(context.Context) (ds.Batching, error) { return nil, cause }},
		"opening":  opensNothing{memstoreHarness(false), cause},
	} {
		for _, how := range checks {
			t.Run(name+", "+how.name, func(t *testing.T) {
				rep, err := how.check(t.Context(), h)
				setup, ok := errors.AsType[*conformance.SetupError](err)
				if rep != nil || !ok || setup.Case != conformance.Names()[0] {
					t.Fatalf("Check = %v, %v; want no report and a *SetupError naming the first case", rep, err)
				}
				if path, ok := errors.AsType[*fs.PathError](err); !errors.Is(err, fs.ErrPermission) || !ok || path != cause {
					t.Errorf("errors.Is and errors.As do not find the cause through %v", err)
				}
			})
		}
	}
}

func TestCheckReturnsContextError(t *testing.T) {
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		rep, err := conformance.Check(ctx, memstoreHarness(false))
		if rep != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Check with a cancelled context = %v, %v; want no report and context.Canceled", rep, err)
		}
	})
	t.Run("cancelled during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		h := &storetest.CancellingHarness{Harness: memstoreHarness(false), N: 3, Cancel: cancel}
		rep, err := conformance.Check(ctx, h)
		if rep != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Check cancelled during its third case = %v, %v; want no report and context.Canceled", rep, err)
		}
		if n := h.Made.Load(); n != 3 {
			t.Errorf("Check made %d instances, want it to stop after the third", n)
		}
	})
}

func TestCheckProgress(t *testing.T) {
	t.Parallel()
	type call struct {
		name   string
		i, n   int
		result *conformance.CaseResult
	}
	var calls []call
	rep, err := conformance.CheckProgress(t.Context(), memstoreHarness(false), func(name string, i, n int, result *conformance.CaseResult) {
		calls = append(calls, call{name, i, n, result})
	})
	if err != nil {
		t.Fatalf("CheckProgress: %v", err)
	}
	names := conformance.Names()
	if len(calls) != 2*len(names) {
		t.Fatalf("progress was called %d times, want twice for each of %d cases", len(calls), len(names))
	}
	for i, name := range names {
		before, after := calls[2*i], calls[2*i+1]
		if before != (call{name, i, len(names), nil}) {
			t.Errorf("progress call before case %d = %+v, want %s, %d, %d and no result", i, before, name, i, len(names))
		}
		if after.name != name || after.i != i || after.n != len(names) || after.result == nil || *after.result != rep.Cases[i] {
			t.Errorf("progress call after case %d = %+v, want %s, %d, %d and the result %+v", i, after, name, i, len(names), rep.Cases[i])
		}
	}
}

// TestCheckConcurrentlyOverlaps shows that CheckConcurrently runs cases
// at the same time: the harness makes the first instance wait until a
// second one is being made, which only a concurrent run does before the
// first case ends.
func TestCheckConcurrentlyOverlaps(t *testing.T) {
	t.Parallel()
	h := &overlapHarness{Harness: memstoreHarness(false), second: make(chan struct{})}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := conformance.CheckConcurrently(ctx, h, 2)
	if err != nil {
		t.Fatalf("CheckConcurrently: %v", err)
	}
	if !rep.Passed() {
		t.Fatalf("a correct store failed the suite run two cases at a time:\n%s", rep)
	}
	if got := caseNames(rep.Cases); !slices.Equal(got, conformance.Names()) {
		t.Fatalf("the report lists cases %q, want every case in order, %q", got, conformance.Names())
	}
}

// overlapHarness holds its first instance back until a second is asked
// for, or its context ends.
type overlapHarness struct {
	conformance.Harness
	made   atomic.Int32
	second chan struct{}
}

func (h *overlapHarness) NewInstance(ctx context.Context) (conformance.Instance, error) {
	switch h.made.Add(1) {
	case 1:
		select {
		case <-h.second:
		case <-ctx.Done():
			return nil, fmt.Errorf("no second instance was asked for while the first case waited: the cases ran one at a time (%w)", ctx.Err())
		}
	case 2:
		close(h.second)
	}
	return h.Harness.NewInstance(ctx)
}
