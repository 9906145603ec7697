//go:build js && wasm

package idbstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall/js"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// The object stores of a netabase database.
const (
	dataStore = "data" // the entries, under their keys' bytes
	metaStore = "meta" // what Sync writes
)

// dbVersion is the IndexedDB version of the database's layout.
const dbVersion = 1

// Options configure an IndexedDB store.
type Options struct {
	// Name is the IndexedDB database's name.
	Name string
	// Sync commits every write with durability "strict" before
	// acknowledging it.
	Sync bool
}

// Store is a store in one IndexedDB database.
type Store struct {
	db         js.Value // the IDBDatabase
	name       string
	durability string // of every write transaction
	closed     atomic.Bool

	mu     sync.Mutex
	shared *sharedTx // the transaction single writes join, while it is active
}

var (
	_ ds.Batching = (*Store)(nil)
	_ core.Seeker = (*Store)(nil)
)

// Open opens (creating it when missing) the database opts names. The store
// it returns is the engine: open it through a [core.Registry] or
// [core.Gate], or wrap it with [core.Wrap], to have core's rules.
func Open(ctx context.Context, opts *Options) (*Store, error) {
	if opts == nil || opts.Name == "" {
		return nil, errors.New("idbstore: no database name; name one, as in idb://notes")
	}
	factory := js.Global().Get("indexedDB")
	if factory.IsUndefined() || factory.IsNull() {
		return nil, errors.New("idbstore: IndexedDB is not available here: idb:// stores open in a browser's page or worker, not under Node.js")
	}
	req, err := call(factory, "open", opts.Name, dbVersion)
	if err != nil {
		return nil, fmt.Errorf("idbstore: opening the database %q: %w", opts.Name, err)
	}
	var upgradeErr error
	upgrade := js.FuncOf(func(js.Value, []js.Value) any {
		// A new database: make its object stores. Open reports an error
		// here once the request ends.
		db := req.Get("result")
		for _, name := range []string{dataStore, metaStore} {
			if !db.Get("objectStoreNames").Call("contains", name).Bool() {
				if _, err := call(db, "createObjectStore", name); err != nil && upgradeErr == nil {
					upgradeErr = err
				}
			}
		}
		return nil
	})
	req.Set("onupgradeneeded", upgrade)
	defer func() {
		req.Set("onupgradeneeded", js.Null())
		upgrade.Release()
	}()
	e, err := wait(ctx, req, "success", "error", "blocked")
	if err != nil {
		closeWhenOpen(req)
		return nil, err
	}
	switch e.name {
	case "blocked":
		closeWhenOpen(req)
		return nil, fmt.Errorf("idbstore: the database %q is held open by another tab at another version; close that tab and try again", opts.Name)
	case "error":
		err := domError(req.Get("error"))
		var de *DOMError
		if errors.As(err, &de) && de.Name == "VersionError" {
			return nil, fmt.Errorf("idbstore: the database %q has a newer version than this build of netabase knows (%d): it is another program's database, or a newer netabase's; open it with that, or name another database", opts.Name, dbVersion)
		}
		return nil, fmt.Errorf("idbstore: opening the database %q: %w", opts.Name, err)
	}
	db := req.Get("result")
	if upgradeErr != nil {
		db.Call("close")
		return nil, fmt.Errorf("idbstore: creating the database %q: %w", opts.Name, upgradeErr)
	}
	for _, name := range []string{dataStore, metaStore} {
		if !db.Get("objectStoreNames").Call("contains", name).Bool() {
			db.Call("close")
			return nil, fmt.Errorf("idbstore: the database %q is not a netabase store (it has no object store %q): it belongs to another program; name another database", opts.Name, name)
		}
	}
	s := &Store{db: db, name: opts.Name, durability: "relaxed"}
	if opts.Sync {
		s.durability = "strict"
	}
	return s, nil
}

// closeWhenOpen closes the database that req, an open request nobody waits
// for any more, opens, once it does.
func closeWhenOpen(req js.Value) {
	var f js.Func
	f = js.FuncOf(func(js.Value, []js.Value) any {
		req.Get("result").Call("close")
		req.Set("onsuccess", js.Null())
		f.Release()
		return nil
	})
	req.Set("onsuccess", f)
}

// transaction starts a transaction on the object store name.
func (s *Store) transaction(name, mode, durability string) (tx, store js.Value, err error) {
	if s.closed.Load() {
		return js.Value{}, js.Value{}, core.ErrClosed
	}
	if durability == "" {
		tx, err = call(s.db, "transaction", name, mode)
	} else {
		tx, err = call(s.db, "transaction", name, mode, txOptions(durability))
	}
	if err != nil {
		return js.Value{}, js.Value{}, err
	}
	store, err = call(tx, "objectStore", name)
	return tx, store, err
}

// txOptions returns the options of a transaction with durability, made once.
func txOptions(durability string) js.Value {
	optionsMu.Lock()
	defer optionsMu.Unlock()
	o, ok := options[durability]
	if !ok {
		o = js.ValueOf(map[string]any{"durability": durability})
		options[durability] = o
	}
	return o
}

var (
	optionsMu sync.Mutex
	options   = map[string]js.Value{}
)

// finish waits for tx to complete. When ctx ends first, it aborts tx and
// reports ctx's error if the abort came in time, and success if tx had
// committed already: the answer always says what happened.
func finish(ctx context.Context, tx js.Value) error {
	e, err := wait(ctx, tx, "complete", "abort")
	if err != nil {
		if _, aerr := call(tx, "abort"); aerr == nil {
			return err // aborted: nothing was written
		}
		if e, werr := wait(context.Background(), tx, "complete", "abort"); werr != nil || e.name != "complete" {
			return err
		}
		return nil
	}
	if e.name == "abort" {
		return domError(tx.Get("error"))
	}
	return nil
}

// write runs ops in one readwrite transaction on the data store, and waits
// until the transaction completes: all of ops apply, or none.
func (s *Store) write(ctx context.Context, durability string, ops func(store js.Value) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, store, err := s.transaction(dataStore, "readwrite", durability)
	if err != nil {
		return err
	}
	if err := ops(store); err != nil {
		_, _ = call(tx, "abort")
		return err
	}
	return finish(ctx, tx)
}

// read runs one request in a readonly transaction on the data store and
// returns its result.
func (s *Store) read(ctx context.Context, request func(store js.Value) (js.Value, error)) (js.Value, error) {
	if err := ctx.Err(); err != nil {
		return js.Value{}, err
	}
	_, store, err := s.transaction(dataStore, "readonly", "")
	if err != nil {
		return js.Value{}, err
	}
	req, err := request(store)
	if err != nil {
		return js.Value{}, err
	}
	e, err := wait(ctx, req, "success", "error")
	if err != nil {
		return js.Value{}, err
	}
	if e.name == "error" {
		return js.Value{}, domError(req.Get("error"))
	}
	return req.Get("result"), nil
}

// Get returns the value stored under key.
func (s *Store) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	v, err := s.read(ctx, func(store js.Value) (js.Value, error) { return call(store, "get", bytesOf(key.Bytes())) })
	if err != nil {
		return nil, err
	}
	if v.IsUndefined() {
		return nil, ds.ErrNotFound
	}
	return goBytes(v)
}

// Has reports whether a value is stored under key.
func (s *Store) Has(ctx context.Context, key ds.Key) (bool, error) {
	n, err := s.read(ctx, func(store js.Value) (js.Value, error) { return call(store, "count", bytesOf(key.Bytes())) })
	if err != nil {
		return false, err
	}
	return n.Int() > 0, nil
}

// GetSize returns the size of the value stored under key.
func (s *Store) GetSize(ctx context.Context, key ds.Key) (int, error) {
	v, err := s.Get(ctx, key)
	if err != nil {
		return -1, err
	}
	return len(v), nil
}

// Put stores value under key. It returns once the transaction holding the
// write has committed.
func (s *Store) Put(ctx context.Context, key ds.Key, value []byte) error {
	v, k := bytesOf(value), bytesOf(key.Bytes())
	return s.writeOne(ctx, func(store js.Value) error {
		_, err := call(store, "put", v, k)
		return err
	})
}

// Delete removes key; removing a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key ds.Key) error {
	k := bytesOf(key.Bytes())
	return s.writeOne(ctx, func(store js.Value) error {
		_, err := call(store, "delete", k)
		return err
	})
}

// sharedTx is a readwrite transaction on the data store that the single
// writes (Put, Delete) made while it is active join: writes that
// goroutines make while none of them waits on anything but IndexedDB
// commit together, in one transaction instead of one each, which is what
// a browser's IndexedDB spends most of a write's time on.
type sharedTx struct {
	tx, store js.Value
	writes    int
	done      chan struct{} // closed once the transaction committed or aborted
	err       error         // why it aborted, once done is closed
}

// writeOne makes one write, op on the data store, in the shared
// transaction while it is active, or else in a new one that later writes
// join, and waits until that transaction completes. A write that joined
// others cannot be taken back alone: when ctx ends first, it waits for
// the transaction's outcome all the same, and reports it, unless it is
// the transaction's only write, which it aborts.
func (s *Store) writeOne(ctx context.Context, op func(store js.Value) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := s.join(op)
	if err != nil {
		return err
	}
	select {
	case <-t.done:
		return t.err
	case <-ctx.Done():
	}
	s.mu.Lock()
	alone := t.writes == 1
	if alone && s.shared == t {
		s.shared = nil // no write may join a transaction being aborted
	}
	s.mu.Unlock()
	if alone {
		if _, aerr := call(t.tx, "abort"); aerr == nil {
			<-t.done
			return ctx.Err() // aborted: nothing was written
		}
	}
	<-t.done
	return t.err
}

// join applies op to the shared transaction, or to a new one when there
// is none or it is no longer active, and returns the transaction.
func (s *Store) join(op func(store js.Value) error) (*sharedTx, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, core.ErrClosed // not even into a transaction still active
	}
	if t := s.shared; t != nil {
		err := op(t.store)
		if err == nil {
			t.writes++
			return t, nil
		}
		if !inactive(err) {
			return nil, err
		}
		s.shared = nil // committing or done: start another
	}
	tx, store, err := s.transaction(dataStore, "readwrite", s.durability)
	if err != nil {
		return nil, err
	}
	t := &sharedTx{tx: tx, store: store, done: make(chan struct{})}
	var complete, abort js.Func
	end := func(err error) {
		tx.Set("oncomplete", js.Null())
		tx.Set("onabort", js.Null())
		complete.Release()
		abort.Release()
		s.mu.Lock()
		if s.shared == t {
			s.shared = nil
		}
		s.mu.Unlock()
		t.err = err
		close(t.done)
	}
	complete = js.FuncOf(func(js.Value, []js.Value) any {
		end(nil)
		return nil
	})
	abort = js.FuncOf(func(js.Value, []js.Value) any {
		end(domError(tx.Get("error")))
		return nil
	})
	tx.Set("oncomplete", complete)
	tx.Set("onabort", abort)
	if err := op(store); err != nil {
		_, _ = call(tx, "abort") // holds nothing; its abort ends t
		return nil, err
	}
	t.writes = 1
	s.shared = t
	return t, nil
}

// inactive reports whether err is IndexedDB's refusal of a request on a
// transaction that is no longer active.
func inactive(err error) bool {
	var de *DOMError
	return errors.As(err, &de) && de.Name == "TransactionInactiveError"
}

// Sync makes every write acknowledged before it durable: it commits a
// transaction with durability "strict", which the browser completes only
// once it, and so everything committed before it, is on disk.
func (s *Store) Sync(ctx context.Context, _ ds.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, store, err := s.transaction(metaStore, "readwrite", "strict")
	if err != nil {
		return err
	}
	if _, err := call(store, "put", js.Global().Get("Date").Call("now"), "synced"); err != nil {
		_, _ = call(tx, "abort")
		return err
	}
	return finish(ctx, tx)
}

// Close closes the database connection. IndexedDB lets the transactions
// already started finish.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.db.Call("close")
	return nil
}

// Batch returns a batch that applies its operations at Commit, in one
// transaction.
func (s *Store) Batch(context.Context) (ds.Batch, error) {
	if s.closed.Load() {
		return nil, core.ErrClosed
	}
	return &batch{s: s}, nil
}

type batchOp struct {
	key, value []byte
	del        bool
}

type batch struct {
	s   *Store
	ops []batchOp
}

func (b *batch) Put(_ context.Context, key ds.Key, value []byte) error {
	b.ops = append(b.ops, batchOp{key: key.Bytes(), value: bytes.Clone(value)})
	return nil
}

func (b *batch) Delete(_ context.Context, key ds.Key) error {
	b.ops = append(b.ops, batchOp{key: key.Bytes(), del: true})
	return nil
}

// Commit applies the batch's operations in order, in one readwrite
// transaction: all of them, or none.
func (b *batch) Commit(ctx context.Context) error {
	err := b.s.write(ctx, b.s.durability, func(store js.Value) error {
		for _, o := range b.ops {
			var err error
			if o.del {
				_, err = call(store, "delete", bytesOf(o.key))
			} else {
				_, err = call(store, "put", bytesOf(o.value), bytesOf(o.key))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		b.ops = nil
	}
	return err
}

// Query runs q over the key range of its prefix: in key order (descending
// when q asks for it first) from IndexedDB, with filters, other orders,
// offset and limit applied as go-datastore's naive query does.
func (s *Store) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	if s.closed.Load() {
		return nil, core.ErrClosed
	}
	byKey, desc := true, false
	switch len(q.Orders) {
	case 0:
	case 1:
		switch q.Orders[0].(type) {
		case dsq.OrderByKey, *dsq.OrderByKey:
		case dsq.OrderByKeyDescending, *dsq.OrderByKeyDescending:
			desc = true
		default:
			byKey = false
		}
	default:
		byKey = false
	}
	// A filter may look at values, so a filtered keys-only query reads them
	// and drops them after the filters.
	filtered := len(q.Filters) > 0
	lo, hi := core.SeekQuery{Prefix: q.Prefix}.Bounds()
	sc := &scan{s: s, ctx: ctx, lo: lo, hi: hi, desc: desc,
		keysOnly: q.KeysOnly && !q.ReturnsSizes && !filtered, dropValues: q.KeysOnly && !filtered}
	res := dsq.ResultsFromIterator(q, dsq.Iterator{Next: sc.next, Close: func() error { return nil }})
	rest := dsq.Query{Filters: q.Filters, Offset: q.Offset, Limit: q.Limit}
	if !byKey {
		rest.Orders = q.Orders
	}
	res = dsq.NaiveQueryApply(rest, res)
	if q.KeysOnly && filtered {
		inner := res
		res = dsq.ResultsFromIterator(q, dsq.Iterator{
			Next: func() (dsq.Result, bool) {
				r, ok := inner.NextSync()
				r.Value = nil
				return r, ok
			},
			Close: inner.Close,
		})
	}
	return res, nil
}

// QueryFrom seeks: it reads q's key range, bounded by q.Bounds, from
// IndexedDB in q's direction.
func (s *Store) QueryFrom(ctx context.Context, q core.SeekQuery) (dsq.Results, error) {
	if s.closed.Load() {
		return nil, core.ErrClosed
	}
	lo, hi := q.Bounds()
	sc := &scan{s: s, ctx: ctx, lo: lo, hi: hi, desc: q.Descending,
		keysOnly: q.KeysOnly, dropValues: q.KeysOnly, left: q.Limit}
	return dsq.ResultsFromIterator(q.Query(), dsq.Iterator{Next: sc.next, Close: func() error { return nil }}), nil
}

// A scan reads at most pageEntries entries, or the first entry past
// pageBytes of values, per transaction.
const (
	pageEntries = 256
	pageBytes   = 4 << 20
	// firstValuePage is the first page of an ascending scan with values:
	// the next pages hold as many entries as fit pageBytes at the mean
	// size of the values read.
	firstValuePage = 16
)

// scan reads the key range [lo, hi) page by page, each page in a readonly
// transaction of its own, and continues after the last key it read.
type scan struct {
	s          *Store
	ctx        context.Context
	lo, hi     []byte
	loOpen     bool // lo was read already
	desc       bool
	keysOnly   bool // read no values
	dropValues bool // return entries without values (with their sizes, when read)
	left       int  // when positive, the entries still to return
	perEntry   int  // the mean size of the values read so far

	page []dsq.Entry
	done bool
}

func (sc *scan) next() (dsq.Result, bool) {
	if len(sc.page) == 0 {
		if sc.done {
			return dsq.Result{}, false
		}
		if err := sc.fill(); err != nil {
			sc.done = true
			return dsq.Result{Error: err}, true
		}
		if len(sc.page) == 0 {
			return dsq.Result{}, false
		}
	}
	e := sc.page[0]
	sc.page = sc.page[1:]
	return dsq.Result{Entry: e}, true
}

// fill reads the next page.
func (sc *scan) fill() error {
	if err := sc.ctx.Err(); err != nil {
		return err
	}
	limit, limited := pageEntries, sc.left > 0
	if limited {
		limit = min(limit, sc.left)
	}
	tx, store, err := sc.s.transaction(dataStore, "readonly", "")
	if err != nil {
		return err
	}
	rng, err := call(globals().keyRange, "bound", bytesOf(sc.lo), bytesOf(sc.hi), sc.loOpen, true)
	if err != nil {
		return err
	}
	if !sc.desc {
		return sc.fillAscending(tx, store, rng, limit, limited)
	}
	method := "openCursor"
	if sc.keysOnly {
		method = "openKeyCursor"
	}
	req, err := call(store, method, rng, "prev")
	if err != nil {
		return err
	}
	var (
		page    []dsq.Entry
		size    int
		last    []byte
		ended   bool
		readErr error
	)
	step := js.FuncOf(func(js.Value, []js.Value) any {
		cur := req.Get("result")
		if cur.IsNull() {
			ended = true
			return nil
		}
		key, err := goBytes(cur.Get("key"))
		if err != nil {
			readErr = err
			return nil
		}
		e := dsq.Entry{Key: string(key), Size: -1}
		if !sc.keysOnly {
			v, err := goBytes(cur.Get("value"))
			if err != nil {
				readErr = fmt.Errorf("the value of %q: %w", key, err)
				return nil
			}
			e.Size, size = len(v), size+len(v)
			if !sc.dropValues {
				e.Value = v
			}
		}
		page, last = append(page, e), key
		if len(page) < limit && size < pageBytes && sc.ctx.Err() == nil {
			if _, err := call(cur, "continue"); err != nil {
				readErr = err
			}
		}
		return nil
	})
	req.Set("onsuccess", step)
	defer func() {
		req.Set("onsuccess", js.Null())
		step.Release()
	}()
	if err := finish(sc.ctx, tx); err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	if err := sc.ctx.Err(); err != nil {
		return err
	}
	sc.took(page, ended, limited)
	if !sc.done {
		sc.hi = last
	}
	return nil
}

// fillAscending reads the next page of an ascending scan with two requests
// (the keys, then the values, of the same entries, in the same
// transaction), which costs far less than a cursor's step per entry.
func (sc *scan) fillAscending(tx, store, rng js.Value, limit int, limited bool) error {
	switch {
	case sc.keysOnly:
	case sc.perEntry == 0:
		limit = min(limit, firstValuePage) // values of unknown size
	default:
		limit = max(1, min(limit, pageBytes/sc.perEntry)) // near pageBytes
	}
	keysReq, err := call(store, "getAllKeys", rng, limit)
	if err != nil {
		return err
	}
	var valuesReq js.Value
	if !sc.keysOnly {
		if valuesReq, err = call(store, "getAll", rng, limit); err != nil {
			return err
		}
	}
	if err := finish(sc.ctx, tx); err != nil {
		return err
	}
	keys := keysReq.Get("result")
	n := keys.Length()
	var values js.Value
	if !sc.keysOnly {
		values = valuesReq.Get("result")
		if values.Length() != n {
			return fmt.Errorf("IndexedDB returned %d keys and %d values for one range in one transaction", n, values.Length())
		}
	}
	keyBytes, err := goBytesList(keys, n)
	if err != nil {
		return err
	}
	var valueBytes [][]byte
	if !sc.keysOnly {
		if valueBytes, err = goBytesList(values, n); err != nil {
			return fmt.Errorf("the values of a page of %d entries from %q: %w", n, keyBytes[0], err)
		}
	}
	page := make([]dsq.Entry, n)
	size := 0
	for i, key := range keyBytes {
		page[i] = dsq.Entry{Key: string(key), Size: -1}
		if !sc.keysOnly {
			v := bytes.Clone(valueBytes[i]) // holds not the whole page's bytes
			page[i].Size, size = len(v), size+len(v)
			if !sc.dropValues {
				page[i].Value = v
			}
		}
	}
	if n > 0 && !sc.keysOnly {
		sc.perEntry = max(1, size/n)
	}
	sc.took(page, n < limit, limited)
	if !sc.done {
		sc.lo, sc.loOpen = []byte(page[n-1].Key), true
	}
	return nil
}

// took makes page the scan's next entries; ended says the range has no
// more.
func (sc *scan) took(page []dsq.Entry, ended, limited bool) {
	if limited {
		sc.left -= len(page)
	}
	sc.done = ended || len(page) == 0 || limited && sc.left <= 0
	sc.page = page
}
