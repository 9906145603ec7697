package core

import (
	"context"
	"iter"
	"sync"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// query runs q on r with the store's rules:
//
//   - offset and limit count only entries that pass the filters: when q has
//     filters, core applies offset and limit itself, because engines differ
//     on how the two combine;
//   - every entry with a value carries its size, and a keys-only entry
//     carries no value;
//   - the query stops with the context's error when ctx ends, and with
//     ErrClosed when the store closes; the first error ends it.
func (s *store) query(ctx context.Context, r ds.Read, q dsq.Query) (dsq.Results, error) {
	engineQuery := q
	res := &results{q: q}
	if len(q.Filters) > 0 {
		engineQuery.Offset, engineQuery.Limit = 0, 0
		res.offset, res.limit = q.Offset, q.Limit
	}
	res.lo, res.hi = SeekQuery{Prefix: q.Prefix}.Bounds()
	return s.open(ctx, res, func(ctx context.Context) (dsq.Results, error) { return r.Query(ctx, engineQuery) })
}

// QueryFrom runs q with the same rules as Query, through the engine's seek
// when the engine is a [Seeker] and otherwise by skipping the entries before
// q.Start.
func (s *store) QueryFrom(ctx context.Context, q SeekQuery) (dsq.Results, error) {
	res := &results{q: q.Query()}
	res.lo, res.hi = q.Bounds()
	return s.open(ctx, res, func(ctx context.Context) (dsq.Results, error) { return QueryFrom(ctx, s.b, q) })
}

// open starts res, the engine's results that run returns, as one of the
// store's open queries.
func (s *store) open(ctx context.Context, res *results, run func(context.Context) (dsq.Results, error)) (dsq.Results, error) {
	if err := s.enter(ctx); err != nil {
		return nil, wrapErr(s.info.Name, "query", res.q.Prefix, err)
	}
	defer s.mu.RUnlock()

	res.s, res.ctx = s, ctx
	qctx, cancel := context.WithCancel(ctx)
	inner, err := run(qctx)
	if err != nil {
		cancel()
		return nil, wrapErr(s.info.Name, "query", res.q.Prefix, err)
	}
	res.inner, res.cancel = inner, cancel

	s.qmu.Lock()
	s.queries[res] = struct{}{}
	s.qmu.Unlock()
	return dsq.ResultsFromIterator(res.q, dsq.Iterator{Next: res.next, Close: res.close}), nil
}

// results is one open query.
type results struct {
	s      *store
	q      dsq.Query
	ctx    context.Context
	lo, hi []byte // every key must lie within [lo, hi): under the prefix, from the start
	cancel context.CancelFunc
	inner  dsq.Results

	mu     sync.Mutex
	done   bool
	failed error // reported once by next, after the query ended early
	offset int   // entries still to skip, when core applies the offset
	limit  int   // entries still to return when core applies the limit; 0 means no limit
	sent   int
}

func (r *results) next() (dsq.Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		if err := r.failed; err != nil {
			r.failed = nil
			return dsq.Result{Error: err}, true
		}
		return dsq.Result{}, false
	}
	for {
		if err := r.ctx.Err(); err != nil {
			r.finish()
			return dsq.Result{Error: r.wrap(err)}, true
		}
		res, ok := r.inner.NextSync()
		if !ok {
			r.finish()
			return dsq.Result{}, false
		}
		if res.Error == nil {
			res.Error = r.checkEntry(res.Entry)
		}
		if res.Error != nil {
			r.finish()
			return dsq.Result{Error: r.wrap(res.Error)}, true
		}
		if r.offset > 0 {
			r.offset--
			continue
		}
		if r.limit > 0 && r.sent >= r.limit {
			r.finish()
			return dsq.Result{}, false
		}
		r.sent++
		if r.q.KeysOnly {
			res.Value = nil
		} else {
			res.Size = len(res.Value)
		}
		return res, true
	}
}

// checkEntry refuses an entry no correct engine returns, so that a faulty
// engine or plugin cannot hand callers a key that makes go-datastore panic
// (ds.RawKey does, on a key with a trailing slash) or one outside the query.
func (r *results) checkEntry(e dsq.Entry) error {
	if err := checkKeyString(e.Key); err != nil {
		return Errorf(ErrRejected, "the backend returned an invalid key: %v", err)
	}
	if !inside(e.Key, r.lo, r.hi) {
		return Errorf(ErrRejected, "the backend returned %q for a query of prefix %q from %q to %q", e.Key, r.q.Prefix, r.lo, r.hi)
	}
	return nil
}

// finish releases the engine's query. The caller holds r.mu.
func (r *results) finish() {
	if r.done {
		return
	}
	r.done = true
	_ = r.inner.Close()
	r.cancel()
	r.s.qmu.Lock()
	delete(r.s.queries, r)
	r.s.qmu.Unlock()
}

func (r *results) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finish()
	r.failed = nil
	return nil
}

// abort ends the query from outside, as Close of the store does; the reader
// sees err once. Cancelling first unblocks an engine waiting on the context.
func (r *results) abort(err error) {
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.finish()
	r.failed = r.wrap(err)
}

func (r *results) wrap(err error) error {
	return wrapErr(r.s.info.Name, "query", r.q.Prefix, err)
}

// queryEntries yields the entries of q on d and stops at the first error or
// when ctx ends. Unlike go-datastore's QueryIter it reads results with
// NextSync, in the caller's goroutine, instead of through a channel.
func queryEntries(ctx context.Context, d ds.Read, q dsq.Query) iter.Seq2[dsq.Entry, error] {
	return func(yield func(dsq.Entry, error) bool) {
		res, err := d.Query(ctx, q)
		if err != nil {
			yield(dsq.Entry{}, err)
			return
		}
		defer res.Close()
		for {
			r, ok := res.NextSync()
			if !ok {
				return
			}
			if r.Error == nil {
				r.Error = ctx.Err()
			}
			if r.Error != nil {
				yield(dsq.Entry{}, r.Error)
				return
			}
			if !yield(r.Entry, nil) {
				return
			}
		}
	}
}

// readAheadBatch is how many entries readAhead hands over at once.
const readAheadBatch = 64

// readAhead yields what open(ctx) yields, running it in its own goroutine
// up to two batches ahead of the caller, so that reading a store and
// decoding what it returns use two cores. It stops the reader, and waits for
// it, when the caller stops early or ctx ends.
func readAhead[T any](ctx context.Context, open func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	type item struct {
		v   T
		err error
	}
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		batches := make(chan []item, 2)
		go func() {
			defer close(batches)
			batch := make([]item, 0, readAheadBatch)
			send := func() bool {
				select {
				case batches <- batch:
					batch = make([]item, 0, readAheadBatch)
					return true
				case <-ctx.Done():
					return false
				}
			}
			for v, err := range open(ctx) {
				batch = append(batch, item{v, err})
				if len(batch) == readAheadBatch && !send() {
					return
				}
			}
			if len(batch) > 0 {
				send()
			}
		}()
		defer func() {
			cancel()
			for range batches {
			}
		}()
		for b := range batches {
			for _, it := range b {
				if !yield(it.v, it.err) {
					return
				}
			}
		}
	}
}
