// Package compare measures a backend's RecordStore throughput side by side
// with another's, in one process: what `netabase bench` reports. It lives
// apart from conformance, which every plugin author imports, because only
// the CLI uses it.
package compare

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/measure"
)

// Options size a [Stores] run.
type Options struct {
	// Records is how many records each operation writes or reads.
	Records int
	// ValueSize is the size of each record's value, in bytes.
	ValueSize int
	// Rounds is how many times each side runs every operation.
	Rounds int
}

// BatchSize is how many records a batched put commits at once.
const BatchSize = 100

// The operations [Stores] measures, in the order it runs them.
const (
	OpPutBatch = "put-batch" // RecordStore puts, BatchSize per committed batch, then a Sync
	OpPut      = "put"       // RecordStore puts, one at a time, then a Sync
	OpGet      = "get"       // RecordStore gets of every record, in random order
	OpScan     = "scan"      // one RecordStore.Records scan of every record
)

var ops = []string{OpPutBatch, OpPut, OpGet, OpScan}

// Side is one side's figures for an operation: the medians over the rounds.
type Side struct {
	RecordsPerSec float64 `json:"records_per_sec"`
	// PeakHeapMiB is the largest Go heap in use sampled (every 10 ms and
	// at the start) while the operation ran, in MiB.
	PeakHeapMiB float64 `json:"peak_heap_mib"`
}

// Result is one operation measured on both sides.
type Result struct {
	Op       string `json:"op"`
	Subject  Side   `json:"subject"`
	Baseline Side   `json:"baseline"`
	// Ratio is Subject.RecordsPerSec / Baseline.RecordsPerSec: above 1,
	// the subject is faster.
	Ratio float64 `json:"ratio"`
}

// Stores measures RecordStore throughput on scratch instances of subject
// and baseline, side by side in this process: batched and single puts,
// gets in random order and a scan, each over opts.Records records. Each
// round runs every operation on both sides, alternating which side goes
// first; the figures are the medians over the rounds.
//
// Every round writes into fresh instances, destroyed afterwards. Gets and
// the scan read the instance the batched put filled, closed and reopened
// first when the backend is persistent, so that they read what the engine
// stored rather than what it holds in memory since the writes.
//
// progress, if not nil, is called before each of the n steps with
// done false and after it with done true; i counts from 0.
func Stores(ctx context.Context, subject, baseline conformance.Harness, opts Options,
	progress func(step string, i, n int, done bool)) ([]Result, error) {
	if opts.Records < 1 || opts.Rounds < 1 || opts.ValueSize < 0 {
		return nil, fmt.Errorf("compare.Stores: need at least one record and one round and a value size of 0 or more, got %+v", opts)
	}
	if progress == nil {
		progress = func(string, int, int, bool) {}
	}
	recs := benchRecords(opts)
	sides := [2]conformance.Harness{subject, baseline}
	names := [2]string{"subject", "baseline"}
	rates, peaks := [2]measure.Samples{{}, {}}, [2]measure.Samples{{}, {}}
	steps := 2 * opts.Rounds
	i := 0
	err := measure.Alternate(opts.Rounds, 2, func(r, s int) error { // round 0: subject first; round 1: baseline first
		step := fmt.Sprintf("round %d/%d, %s", r+1, opts.Rounds, names[s])
		progress(step, i, steps, false)
		res, err := measureRound(ctx, sides[s], recs, r)
		if err != nil {
			return fmt.Errorf("%s, round %d: %w", names[s], r+1, err)
		}
		for op, m := range res {
			rates[s].Add(op, m.RecordsPerSec)
			peaks[s].Add(op, m.PeakHeapMiB)
		}
		progress(step, i, steps, true)
		i++
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(ops))
	for _, op := range ops {
		c := Result{Op: op}
		c.Subject = Side{RecordsPerSec: rates[0].Median(op), PeakHeapMiB: peaks[0].Median(op)}
		c.Baseline = Side{RecordsPerSec: rates[1].Median(op), PeakHeapMiB: peaks[1].Median(op)}
		c.Ratio = c.Subject.RecordsPerSec / c.Baseline.RecordsPerSec
		out = append(out, c)
	}
	return out, nil
}

// benchRecords returns the records Stores writes: keys in one namespace,
// reproducible values, one fixed receive time.
func benchRecords(opts Options) []core.Record {
	value := make([]byte, opts.ValueSize)
	rand.NewChaCha8([32]byte{11}).Read(value)
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := make([]core.Record, opts.Records)
	for i := range recs {
		recs[i] = core.Record{Key: fmt.Sprintf("/bench/%09d", i), Value: value, Received: when}
	}
	return recs
}

// measureRound runs every operation once on fresh instances of h.
func measureRound(ctx context.Context, h conformance.Harness, recs []core.Record, round int) (map[string]Side, error) {
	res := map[string]Side{}
	// Batched puts into a fresh instance, then gets and a scan of it.
	err := withInstance(ctx, h, func(inst conformance.Instance, d ds.Batching) error {
		m, err := timed(len(recs), func() error { return syncAfter(ctx, d, putBatched(ctx, d, recs)) })
		if err != nil {
			return fmt.Errorf("%s: %w", OpPutBatch, err)
		}
		res[OpPutBatch] = m
		if h.Capabilities().Persistent {
			if err := d.Close(); err != nil {
				return fmt.Errorf("closing the store before reading it: %w", err)
			}
			if d, err = inst.Open(ctx); err != nil {
				return fmt.Errorf("reopening the store: %w", err)
			}
			defer d.Close()
		}
		rs := core.NewRecordStore(d)
		order := rand.New(rand.NewPCG(uint64(round), 3)).Perm(len(recs))
		if res[OpGet], err = timed(len(recs), func() error {
			for _, i := range order {
				if _, err := rs.Get(ctx, recs[i].Key); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("%s: %w", OpGet, err)
		}
		if res[OpScan], err = timed(len(recs), func() error {
			n := 0
			for _, err := range rs.Records(ctx, "bench") {
				if err != nil {
					return err
				}
				n++
			}
			if n != len(recs) {
				return fmt.Errorf("RecordStore.Records returned %d records, want the %d written", n, len(recs))
			}
			return nil
		}); err != nil {
			return fmt.Errorf("%s: %w", OpScan, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Single puts into another fresh instance.
	err = withInstance(ctx, h, func(_ conformance.Instance, d ds.Batching) error {
		rs := core.NewRecordStore(d)
		m, err := timed(len(recs), func() error {
			for _, r := range recs {
				if err := rs.Put(ctx, r); err != nil {
					return err
				}
			}
			return syncAfter(ctx, d, nil)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", OpPut, err)
		}
		res[OpPut] = m
		return nil
	})
	return res, err
}

// syncAfter syncs d after writes that ended with err, unless err is set:
// the put operations time writes until a Sync covers them, so that a
// backend that queues writes (a plugin speaking protocol version 2) is not
// timed on queueing alone.
func syncAfter(ctx context.Context, d ds.Batching, err error) error {
	if err != nil {
		return err
	}
	return d.Sync(ctx, ds.NewKey("/"))
}

// withInstance runs f on a fresh instance of h, opened, and then closes and
// destroys it.
func withInstance(ctx context.Context, h conformance.Harness, f func(conformance.Instance, ds.Batching) error) (err error) {
	inst, err := h.NewInstance(ctx)
	if err != nil {
		return fmt.Errorf("creating a scratch store: %w", err)
	}
	defer func() {
		if derr := inst.Destroy(); derr != nil && err == nil {
			err = fmt.Errorf("removing the scratch store: %w", derr)
		}
	}()
	d, err := inst.Open(ctx)
	if err != nil {
		return fmt.Errorf("opening a scratch store: %w", err)
	}
	defer func() {
		// f may have closed d already: closing a store twice is not an error.
		if cerr := d.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the scratch store: %w", cerr)
		}
	}()
	return f(inst, d)
}

// putBatched writes recs through RecordStore in batches of BatchSize.
func putBatched(ctx context.Context, d ds.Batching, recs []core.Record) error {
	for start := 0; start < len(recs); start += BatchSize {
		b, err := d.Batch(ctx)
		if err != nil {
			return err
		}
		rs := core.NewRecordStore(batchWriter{Datastore: d, b: b})
		for _, r := range recs[start:min(start+BatchSize, len(recs))] {
			if err := rs.Put(ctx, r); err != nil {
				return err
			}
		}
		if err := b.Commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

// batchWriter is d with its puts going into the batch b, so that a
// RecordStore over it writes batched. It is a shim over d, so RecordStore
// knows d's rules apply (a core batch copies what it is given).
type batchWriter struct {
	ds.Datastore
	b ds.Batch
}

func (w batchWriter) Put(ctx context.Context, k ds.Key, v []byte) error { return w.b.Put(ctx, k, v) }

func (w batchWriter) Children() []ds.Datastore { return []ds.Datastore{w.Datastore} }

// timed runs f, which handles n records, and returns its throughput and the
// peak heap in use meanwhile.
func timed(n int, f func() error) (Side, error) {
	runtime.GC()
	stop := measure.PeakHeap()
	start := time.Now()
	err := f()
	elapsed := time.Since(start)
	peak := stop()
	if err != nil {
		return Side{}, err
	}
	return Side{RecordsPerSec: float64(n) / max(elapsed.Seconds(), 1e-9), PeakHeapMiB: peak}, nil
}
