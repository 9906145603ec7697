package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// LargeValueSize is the size of the large values the suite stores.
const LargeValueSize = 4 << 20

// cases is the suite. Names are stable: reports and certificates name them.
var cases = []testCase{
	{name: "put-get-overwrite", run: casePutGetOverwrite},
	{name: "not-found", run: caseNotFound},
	{name: "delete", run: caseDelete},
	{name: "empty-value", run: caseEmptyValue},
	{name: "binary-values", run: caseBinaryValues},
	{name: "binary-keys", run: caseBinaryKeys},
	{name: "large-values", run: caseLargeValues},
	{name: "long-keys", run: caseLongKeys},
	{name: "deep-keys", run: caseDeepKeys},
	{name: "invalid-input", run: caseInvalidInput},
	{name: "query-prefix", run: caseQueryPrefix},
	{name: "query-order", run: caseQueryOrder},
	{name: "query-limit-offset", run: caseQueryLimitOffset},
	{name: "query-filters", run: caseQueryFilters},
	{name: "query-combinations", run: caseQueryCombinations},
	{name: "query-keys-only-sizes", run: caseQueryKeysOnlySizes},
	{name: "query-seek", run: caseQuerySeek},
	{name: "batch", run: caseBatch},
	{name: "batch-then-query", run: caseBatchThenQuery},
	{name: "query-during-batch", run: caseQueryDuringBatch},
	{name: "no-aliasing", run: caseNoAliasing},
	{name: "concurrency", run: caseConcurrency},
	{name: "cancelled-context", run: caseCancelledContext},
	{name: "closed", run: caseClosed},
	{name: "sync", run: caseSync},
	{name: "persistence", needs: core.Capabilities{Persistent: true}, run: casePersistence},
	{name: "durable", needs: core.Capabilities{Durable: true}, run: caseDurable},
	{name: "ttl", needs: core.Capabilities{TTL: true}, run: caseTTL},
	{name: "transactions", needs: core.Capabilities{Transactions: true}, run: caseTransactions},
	{name: "record-store", run: caseRecordStore},
	{name: "provider-store", run: caseProviderStore},
}

func casePutGetOverwrite(e *env) error {
	ctx, d := e.ctx, e.store
	k := ds.NewKey("/conformance/put")
	if err := d.Put(ctx, k, []byte("first value")); err != nil {
		return fmt.Errorf("Put: %w", err)
	}
	if err := expect(ctx, d, k, []byte("first value")); err != nil {
		return err
	}
	if err := d.Put(ctx, k, []byte("second")); err != nil {
		return fmt.Errorf("overwriting Put: %w", err)
	}
	if err := expect(ctx, d, k, []byte("second")); err != nil {
		return fmt.Errorf("after an overwrite with a shorter value: %w", err)
	}
	other := ds.NewKey("/conformance/put/child")
	if err := d.Put(ctx, other, []byte("child")); err != nil {
		return fmt.Errorf("Put: %w", err)
	}
	if err := expect(ctx, d, k, []byte("second")); err != nil {
		return fmt.Errorf("after a put of a child key: %w", err)
	}
	return expect(ctx, d, other, []byte("child"))
}

func caseNotFound(e *env) error {
	ctx, d := e.ctx, e.store
	if err := expectAbsent(ctx, d, ds.NewKey("/conformance/never-written")); err != nil {
		return err
	}
	// A key whose parent and child exist is still missing.
	if err := putAll(ctx, d, "/nf/a", "/nf/a/b/c"); err != nil {
		return err
	}
	if err := expectAbsent(ctx, d, ds.NewKey("/nf/a/b")); err != nil {
		return fmt.Errorf("with a parent and a child present: %w", err)
	}
	return expectAbsent(ctx, d, ds.NewKey("/nf"))
}

func caseDelete(e *env) error {
	ctx, d := e.ctx, e.store
	if err := d.Delete(ctx, ds.NewKey("/conformance/never-written")); err != nil {
		return fmt.Errorf("Delete of a missing key: %w; deleting a missing key is not an error", err)
	}
	if err := putAll(ctx, d, "/del/a", "/del/a/b", "/del/ab"); err != nil {
		return err
	}
	if err := d.Delete(ctx, ds.NewKey("/del/a")); err != nil {
		return fmt.Errorf("Delete: %w", err)
	}
	if err := expectAbsent(ctx, d, ds.NewKey("/del/a")); err != nil {
		return fmt.Errorf("after Delete: %w", err)
	}
	for _, k := range []string{"/del/a/b", "/del/ab"} {
		if err := expect(ctx, d, ds.NewKey(k), []byte(k)); err != nil {
			return fmt.Errorf("deleting /del/a touched a neighbour: %w", err)
		}
	}
	if err := d.Delete(ctx, ds.NewKey("/del/a")); err != nil {
		return fmt.Errorf("a second Delete of the same key: %w", err)
	}
	return nil
}

func caseEmptyValue(e *env) error {
	ctx, d := e.ctx, e.store
	for _, v := range [][]byte{{}, nil} {
		k := ds.NewKey(fmt.Sprintf("/empty/%v", v == nil))
		if err := d.Put(ctx, k, v); err != nil {
			return fmt.Errorf("Put of an empty value: %w", err)
		}
		if err := expect(ctx, d, k, nil); err != nil {
			return fmt.Errorf("an empty value must be stored, not treated as missing: %w", err)
		}
		es, err := collect(ctx, d, dsq.Query{Prefix: "/empty"})
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return fmt.Errorf("a query does not return a key holding an empty value")
		}
	}
	return nil
}

func caseBinaryValues(e *env) error {
	ctx, d := e.ctx, e.store
	all := make([]byte, 256*4)
	for i := range all {
		all[i] = byte(i)
	}
	if err := d.Put(ctx, ds.NewKey("/bin/all"), all); err != nil {
		return fmt.Errorf("Put of all 256 byte values: %w", err)
	}
	for b := range 256 {
		k := ds.NewKey(fmt.Sprintf("/bin/one/%03d", b))
		if err := d.Put(ctx, k, []byte{byte(b)}); err != nil {
			return fmt.Errorf("Put of the single byte %#x: %w", b, err)
		}
	}
	if err := expect(ctx, d, ds.NewKey("/bin/all"), all); err != nil {
		return err
	}
	for b := range 256 {
		if err := expect(ctx, d, ds.NewKey(fmt.Sprintf("/bin/one/%03d", b)), []byte{byte(b)}); err != nil {
			return err
		}
	}
	es, err := collect(ctx, d, dsq.Query{Prefix: "/bin/all"})
	if err != nil {
		return err
	}
	if len(es) != 0 {
		return fmt.Errorf("a query of /bin/all returned %d entries, want none (it has no children)", len(es))
	}
	es, err = collect(ctx, d, dsq.Query{Prefix: "/bin"})
	if err != nil {
		return err
	}
	for _, en := range es {
		if en.Key == "/bin/all" && !bytes.Equal(en.Value, all) {
			return fmt.Errorf("a query returned /bin/all as %s, want all 256 byte values", describe(en.Value))
		}
	}
	return nil
}

func caseBinaryKeys(e *env) error {
	ctx, d := e.ctx, e.store
	var keys []string
	for b := range 256 {
		if b == '/' {
			continue
		}
		keys = append(keys, "/binkey/"+string([]byte{'k', byte(b), 0xff, 0x00, byte(b)}))
	}
	for _, k := range keys {
		if err := d.Put(ctx, ds.RawKey(k), []byte(k)); err != nil {
			return fmt.Errorf("Put of the binary key %q: %w", k, err)
		}
	}
	for _, k := range keys {
		if err := expect(ctx, d, ds.RawKey(k), []byte(k)); err != nil {
			return err
		}
	}
	q := dsq.Query{Prefix: "/binkey", Orders: []dsq.Order{dsq.OrderByKey{}}}
	es, err := collect(ctx, d, q)
	if err != nil {
		return err
	}
	return sameOrder(q, es, slices.Sorted(slices.Values(keys)))
}

func caseLargeValues(e *env) error {
	ctx, d := e.ctx, e.store
	v := randomBytes(1, LargeValueSize)
	k := ds.NewKey("/large/direct")
	if err := d.Put(ctx, k, v); err != nil {
		return fmt.Errorf("Put of a %d-byte value: %w", len(v), err)
	}
	if err := expect(ctx, d, k, v); err != nil {
		return err
	}
	w := randomBytes(2, LargeValueSize)
	b, err := d.Batch(ctx)
	if err != nil {
		return fmt.Errorf("Batch: %w", err)
	}
	if err := b.Put(ctx, ds.NewKey("/large/batched"), w); err != nil {
		return fmt.Errorf("batch Put of a %d-byte value: %w", len(w), err)
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("Commit of a batch with a %d-byte value: %w", len(w), err)
	}
	if err := expect(ctx, d, ds.NewKey("/large/batched"), w); err != nil {
		return err
	}
	es, err := collect(ctx, d, dsq.Query{Prefix: "/large", Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return err
	}
	if len(es) != 2 || !bytes.Equal(es[0].Value, w) || !bytes.Equal(es[1].Value, v) {
		return fmt.Errorf("a query of two %d-byte values returned %d entries with other bytes", LargeValueSize, len(es))
	}
	return nil
}

func caseLongKeys(e *env) error {
	ctx, d := e.ctx, e.store
	seg := strings.Repeat("k", core.MaxKeySize-len("/long/"))
	k := ds.NewKey("/long/" + seg)
	if len(k.String()) != core.MaxKeySize {
		return fmt.Errorf("internal: the long key has %d bytes", len(k.String()))
	}
	if err := d.Put(ctx, k, []byte("long")); err != nil {
		return fmt.Errorf("Put of a %d-byte key (the limit): %w", core.MaxKeySize, err)
	}
	if err := expect(ctx, d, k, []byte("long")); err != nil {
		return err
	}
	short := ds.NewKey("/long/" + seg[:len(seg)-1])
	if err := expectAbsent(ctx, d, short); err != nil {
		return fmt.Errorf("a key one byte shorter than a stored one: %w", err)
	}
	q := dsq.Query{Prefix: "/long"}
	es, err := collect(ctx, d, q)
	if err != nil {
		return err
	}
	return sameKeys(q, es, []string{k.String()})
}

func caseDeepKeys(e *env) error {
	ctx, d := e.ctx, e.store
	var parts []string
	for i := range 256 {
		parts = append(parts, fmt.Sprintf("d%d", i))
	}
	deep := ds.NewKey("/" + strings.Join(parts, "/"))
	mid := ds.NewKey("/" + strings.Join(parts[:128], "/"))
	if err := putAll(ctx, d, deep.String(), mid.String()); err != nil {
		return err
	}
	if err := expect(ctx, d, deep, []byte(deep.String())); err != nil {
		return err
	}
	q := dsq.Query{Prefix: mid.String()}
	es, err := collect(ctx, d, q)
	if err != nil {
		return err
	}
	return sameKeys(q, es, []string{deep.String()})
}

func caseInvalidInput(e *env) error {
	ctx, d := e.ctx, e.store
	for _, k := range []ds.Key{
		{}, ds.RawKey("/"), ds.RawKey("/a//b"), ds.RawKey("/a/./b"),
		ds.RawKey("/a/../b"), ds.RawKey("/" + strings.Repeat("x", core.MaxKeySize)),
	} {
		err := d.Put(ctx, k, []byte("v"))
		if e := mustErr(fmt.Sprintf("Put(%s)", short(k.String())), err, core.ErrInvalidKey); e != nil {
			return e
		}
		if _, err := d.Get(ctx, k); !errors.Is(err, core.ErrInvalidKey) {
			return fmt.Errorf("Get(%s): error %v, want one matching ErrInvalidKey", short(k.String()), err)
		}
	}
	big := make([]byte, core.MaxValueSize+1)
	if err := mustErr(fmt.Sprintf("Put of a %d-byte value", len(big)), d.Put(ctx, ds.NewKey("/too/big"), big), core.ErrTooLarge); err != nil {
		return err
	}
	return expectAbsent(ctx, d, ds.NewKey("/too/big"))
}

func caseQueryPrefix(e *env) error {
	ctx, d := e.ctx, e.store
	if err := putAll(ctx, d, "/a", "/a/b", "/a/b/c", "/a/c", "/ab", "/ab/c", "/b", "/a-", "/a0"); err != nil {
		return err
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"/a", []string{"/a/b", "/a/b/c", "/a/c"}},
		{"/a/", []string{"/a/b", "/a/b/c", "/a/c"}},
		{"/a/b", []string{"/a/b/c"}},
		{"/ab", []string{"/ab/c"}},
		{"/zz", nil},
		{"/", []string{"/a", "/a/b", "/a/b/c", "/a/c", "/ab", "/ab/c", "/b", "/a-", "/a0"}},
		{"", []string{"/a", "/a/b", "/a/b/c", "/a/c", "/ab", "/ab/c", "/b", "/a-", "/a0"}},
	} {
		q := dsq.Query{Prefix: tc.prefix}
		es, err := collect(ctx, d, q)
		if err != nil {
			return err
		}
		if err := sameKeys(q, es, tc.want); err != nil {
			return fmt.Errorf("%w (a prefix selects strict children only: /a matches /a/b, never /a or /ab)", err)
		}
		for _, en := range es {
			if string(en.Value) != en.Key {
				return fmt.Errorf("Query(%s) returned %s with value %s", q, en.Key, describe(en.Value))
			}
		}
	}
	return nil
}

// orderKeys are stored in a scrambled order by the ordering cases.
var orderKeys = func() []string {
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("/o/%02d", (i*17)%40))
	}
	return keys
}()

func sortedOrderKeys() []string { return slices.Sorted(slices.Values(orderKeys)) }

func caseQueryOrder(e *env) error {
	ctx, d := e.ctx, e.store
	if err := putAll(ctx, d, orderKeys...); err != nil {
		return err
	}
	asc := sortedOrderKeys()
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	for _, tc := range []struct {
		orders []dsq.Order
		want   []string
	}{
		{[]dsq.Order{dsq.OrderByKey{}}, asc},
		{[]dsq.Order{dsq.OrderByKeyDescending{}}, desc},
		{[]dsq.Order{dsq.OrderByValue{}}, asc},
		{[]dsq.Order{dsq.OrderByValueDescending{}}, desc},
	} {
		q := dsq.Query{Prefix: "/o", Orders: tc.orders}
		es, err := collect(ctx, d, q)
		if err != nil {
			return err
		}
		if err := sameOrder(q, es, tc.want); err != nil {
			return err
		}
	}
	return nil
}

func caseQueryLimitOffset(e *env) error {
	ctx, d := e.ctx, e.store
	if err := putAll(ctx, d, orderKeys...); err != nil {
		return err
	}
	asc := sortedOrderKeys()
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	for _, tc := range []struct {
		order         dsq.Order
		limit, offset int
		want          []string
	}{
		{dsq.OrderByKey{}, 10, 0, asc[:10]},
		{dsq.OrderByKey{}, 0, 5, asc[5:]},
		{dsq.OrderByKey{}, 10, 5, asc[5:15]},
		{dsq.OrderByKey{}, 100, 0, asc},
		{dsq.OrderByKey{}, 0, 40, nil},
		{dsq.OrderByKey{}, 3, 39, asc[39:]},
		{dsq.OrderByKeyDescending{}, 4, 2, desc[2:6]},
	} {
		q := dsq.Query{Prefix: "/o", Orders: []dsq.Order{tc.order}, Limit: tc.limit, Offset: tc.offset}
		es, err := collect(ctx, d, q)
		if err != nil {
			return err
		}
		if err := sameOrder(q, es, tc.want); err != nil {
			return err
		}
	}
	return nil
}

func caseQueryFilters(e *env) error {
	ctx, d := e.ctx, e.store
	if err := putAll(ctx, d, orderKeys...); err != nil {
		return err
	}
	asc := sortedOrderKeys()
	gt := dsq.FilterKeyCompare{Op: dsq.GreaterThanOrEqual, Key: "/o/20"}
	for _, tc := range []struct {
		filters       []dsq.Filter
		limit, offset int
		want          []string
	}{
		{[]dsq.Filter{gt}, 0, 0, asc[20:]},
		{[]dsq.Filter{dsq.FilterValueCompare{Op: dsq.Equal, Value: []byte("/o/07")}}, 0, 0, []string{"/o/07"}},
		{[]dsq.Filter{dsq.FilterKeyPrefix{Prefix: "/o/1"}}, 0, 0, asc[10:20]},
		{[]dsq.Filter{gt, dsq.FilterKeyCompare{Op: dsq.LessThan, Key: "/o/25"}}, 0, 0, asc[20:25]},
		// Offset and limit count only entries that pass the filters.
		{[]dsq.Filter{gt}, 5, 3, asc[23:28]},
		{[]dsq.Filter{gt}, 0, 15, asc[35:]},
		{[]dsq.Filter{dsq.FilterKeyPrefix{Prefix: "/o/3"}}, 2, 1, asc[31:33]},
	} {
		q := dsq.Query{Prefix: "/o", Filters: tc.filters, Orders: []dsq.Order{dsq.OrderByKey{}}, Limit: tc.limit, Offset: tc.offset}
		es, err := collect(ctx, d, q)
		if err != nil {
			return err
		}
		if err := sameOrder(q, es, tc.want); err != nil {
			return fmt.Errorf("%w (filters apply first, then offset, then limit)", err)
		}
	}
	return nil
}

// caseQueryCombinations checks prefix, filters, orders, offset and limit
// together, in go-datastore's order: the prefix and the filters select,
// the orders sort (the first decides, the next breaks its ties), then the
// offset skips and the limit keeps. Values order otherwise than their keys
// and repeat, and keys just outside the prefix sort on either side of it.
func caseQueryCombinations(e *env) error {
	ctx, d := e.ctx, e.store
	entries := map[string][]byte{}
	for i := range 30 {
		n := (i * 7) % 30 // stored in a scrambled order
		entries[fmt.Sprintf("/q/%02d", n)] = fmt.Appendf(nil, "v%d", (n*7)%10)
	}
	for _, k := range []string{"/a", "/p/q/05", "/q", "/q-1", "/q0", "/qq/01"} {
		entries[k] = []byte("v0")
	}
	for k, v := range entries {
		if err := d.Put(ctx, ds.NewKey(k), v); err != nil {
			return fmt.Errorf("Put(%s): %w", short(k), err)
		}
	}
	from05 := dsq.FilterKeyCompare{Op: dsq.GreaterThanOrEqual, Key: "/q/05"}
	below20 := dsq.FilterKeyCompare{Op: dsq.LessThan, Key: "/q/20"}
	for _, q := range []dsq.Query{
		{Filters: []dsq.Filter{from05}, Orders: []dsq.Order{dsq.OrderByKeyDescending{}}, Offset: 2, Limit: 5},
		{Filters: []dsq.Filter{dsq.FilterKeyPrefix{Prefix: "/q/1"}}, Orders: []dsq.Order{dsq.OrderByKey{}}, Limit: 3},
		{Filters: []dsq.Filter{dsq.FilterValueCompare{Op: dsq.LessThan, Value: []byte("v5")}},
			Orders: []dsq.Order{dsq.OrderByValue{}, dsq.OrderByKey{}}, Offset: 3, Limit: 6},
		{Filters: []dsq.Filter{dsq.FilterValueCompare{Op: dsq.GreaterThanOrEqual, Value: []byte("v3")}, below20},
			Orders: []dsq.Order{dsq.OrderByValueDescending{}, dsq.OrderByKeyDescending{}}, Limit: 4},
		{Filters: []dsq.Filter{from05, below20}, Orders: []dsq.Order{dsq.OrderByValue{}, dsq.OrderByKeyDescending{}}, Offset: 1},
		{Orders: []dsq.Order{dsq.OrderByValue{}, dsq.OrderByKeyDescending{}}, Offset: 4, Limit: 5},
		{Orders: []dsq.Order{dsq.OrderByKeyDescending{}}, Offset: 1, Limit: 3},
		{Orders: []dsq.Order{dsq.OrderByValueDescending{}, dsq.OrderByKey{}}, Limit: 4},
	} {
		q.Prefix = "/q"
		es, err := collect(ctx, d, q)
		if err != nil {
			return err
		}
		if err := sameOrder(q, es, selects(entries, q)); err != nil {
			return fmt.Errorf("%w (the prefix and the filters select, the orders sort, then the offset skips and the limit keeps)", err)
		}
	}
	return nil
}

// selects returns the keys of entries that q selects, in its order, by
// go-datastore's contract (see caseQueryCombinations). q's prefix is a
// clean key other than "/".
func selects(entries map[string][]byte, q dsq.Query) []string {
	var es []dsq.Entry
	for k, v := range entries {
		en := dsq.Entry{Key: k, Value: v, Size: len(v)}
		if strings.HasPrefix(k, q.Prefix+"/") && !slices.ContainsFunc(q.Filters, func(f dsq.Filter) bool { return !f.Filter(en) }) {
			es = append(es, en)
		}
	}
	dsq.Sort(q.Orders, es)
	es = es[min(q.Offset, len(es)):]
	if q.Limit > 0 {
		es = es[:min(q.Limit, len(es))]
	}
	return keysOf(es)
}

func caseQueryKeysOnlySizes(e *env) error {
	ctx, d := e.ctx, e.store
	// Engines may keep a large value apart from its key (Badger's value log
	// takes values over 1 MiB) and must still report its exact size.
	values := map[string][]byte{"/s/a": []byte("x"), "/s/b": randomBytes(3, 1000), "/s/c": {}, "/s/d": randomBytes(6, 2<<20)}
	for k, v := range values {
		if err := d.Put(ctx, ds.NewKey(k), v); err != nil {
			return fmt.Errorf("Put(%s): %w", k, err)
		}
	}
	for _, q := range []dsq.Query{
		{Prefix: "/s", KeysOnly: true},
		{Prefix: "/s", KeysOnly: true, ReturnsSizes: true},
		{Prefix: "/s"},
		{Prefix: "/s", ReturnsSizes: true},
	} {
		es, err := collect(ctx, d, q)
		if err != nil {
			return err
		}
		if err := sameKeys(q, es, []string{"/s/a", "/s/b", "/s/c", "/s/d"}); err != nil {
			return err
		}
		for _, en := range es {
			want := values[en.Key]
			if q.KeysOnly && len(en.Value) != 0 {
				return fmt.Errorf("Query(%s) returned a value for %s; a keys-only query returns none", q, en.Key)
			}
			if !q.KeysOnly && !bytes.Equal(en.Value, want) {
				return fmt.Errorf("Query(%s) returned %s for %s, want %s", q, describe(en.Value), en.Key, describe(want))
			}
			if (q.ReturnsSizes || !q.KeysOnly) && en.Size != len(want) {
				return fmt.Errorf("Query(%s) returned size %d for %s, want %d", q, en.Size, en.Key, len(want))
			}
		}
	}
	return nil
}

func caseNoAliasing(e *env) error {
	ctx, d := e.ctx, e.store
	k := ds.NewKey("/alias/put")
	v := []byte("original")
	if err := d.Put(ctx, k, v); err != nil {
		return fmt.Errorf("Put: %w", err)
	}
	copy(v, "MUTATED!")
	if err := expect(ctx, d, k, []byte("original")); err != nil {
		return fmt.Errorf("changing the caller's slice after Put changed the stored value: %w", err)
	}
	got, err := d.Get(ctx, k)
	if err != nil {
		return fmt.Errorf("Get: %w", err)
	}
	copy(got, "MUTATED!")
	if err := expect(ctx, d, k, []byte("original")); err != nil {
		return fmt.Errorf("changing the slice Get returned changed the stored value: %w", err)
	}
	es, err := collect(ctx, d, dsq.Query{Prefix: "/alias"})
	if err != nil {
		return err
	}
	for _, en := range es {
		copy(en.Value, "MUTATED!")
	}
	if err := expect(ctx, d, k, []byte("original")); err != nil {
		return fmt.Errorf("changing a value a query returned changed the stored value: %w", err)
	}
	b, err := d.Batch(ctx)
	if err != nil {
		return fmt.Errorf("Batch: %w", err)
	}
	bv := []byte("batched!")
	if err := b.Put(ctx, ds.NewKey("/alias/batch"), bv); err != nil {
		return fmt.Errorf("batch Put: %w", err)
	}
	copy(bv, "MUTATED!")
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	if err := expect(ctx, d, ds.NewKey("/alias/batch"), []byte("batched!")); err != nil {
		return fmt.Errorf("changing the caller's slice between batch Put and Commit changed the stored value: %w", err)
	}
	return nil
}

func caseConcurrency(e *env) error {
	ctx, d := e.ctx, e.store
	const writers, perWriter, readers = 8, 150, 4
	var wg, writing sync.WaitGroup
	errs := make(chan error, writers+readers)
	// A reader reads once per step a writer takes, until the writers are
	// done: it waits for a step rather than spinning, so that where
	// goroutines are not preempted (js/wasm runs one thread and switches
	// only when a goroutine blocks) the readers cannot starve the writers.
	stepped := make(chan struct{}, readers)
	written := make(chan struct{})
	for w := range writers {
		writing.Go(func() {
			for i := range perWriter {
				k := ds.NewKey(fmt.Sprintf("/conc/w%d/%04d", w, i))
				if err := d.Put(ctx, k, []byte(k.String())); err != nil {
					errs <- fmt.Errorf("concurrent Put(%s): %w", k, err)
					return
				}
				if err := d.Put(ctx, ds.NewKey("/conc/shared"), []byte(k.String())); err != nil {
					errs <- fmt.Errorf("concurrent Put(/conc/shared): %w", err)
					return
				}
				for range readers {
					select {
					case stepped <- struct{}{}:
					default: // every reader has a step to take
					}
				}
			}
		})
	}
	go func() {
		writing.Wait()
		close(written)
	}()
	for r := range readers {
		wg.Go(func() {
			for {
				select {
				case <-written:
					return
				case <-stepped:
				}
				k := ds.NewKey(fmt.Sprintf("/conc/w%d/%04d", r, 0))
				if v, err := d.Get(ctx, k); err == nil && string(v) != k.String() {
					errs <- fmt.Errorf("a concurrent Get(%s) returned %s", k, describe(v))
					return
				} else if err != nil && !errors.Is(err, core.ErrNotFound) {
					errs <- fmt.Errorf("concurrent Get(%s): %w", k, err)
					return
				}
				if _, err := collect(ctx, d, dsq.Query{Prefix: "/conc", KeysOnly: true}); err != nil {
					errs <- fmt.Errorf("a query during concurrent writes: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-written
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	var lost []string
	for w := range writers {
		for i := range perWriter {
			k := ds.NewKey(fmt.Sprintf("/conc/w%d/%04d", w, i))
			v, err := d.Get(ctx, k)
			if err != nil || string(v) != k.String() {
				lost = append(lost, k.String())
			}
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("%d of %d concurrent writes were lost, such as %s", len(lost), writers*perWriter, lost[0])
	}
	es, err := collect(ctx, d, dsq.Query{Prefix: "/conc", KeysOnly: true})
	if err != nil {
		return err
	}
	if len(es) != writers*perWriter+1 {
		return fmt.Errorf("a query after concurrent writes returned %d keys, want %d", len(es), writers*perWriter+1)
	}
	shared, err := d.Get(ctx, ds.NewKey("/conc/shared"))
	if err != nil {
		return fmt.Errorf("Get(/conc/shared): %w", err)
	}
	if !strings.HasSuffix(string(shared), fmt.Sprintf("/%04d", perWriter-1)) {
		return fmt.Errorf("the key every writer overwrote holds %q, which is no writer's last value", shared)
	}
	return nil
}

func caseCancelledContext(e *env) error {
	d := e.store
	cancelled, cancel := context.WithCancel(e.ctx)
	cancel()
	k := ds.NewKey("/cancel/put")
	if err := mustErr("Put with a cancelled context", d.Put(cancelled, k, []byte("v")), context.Canceled); err != nil {
		return err
	}
	if err := expectAbsent(e.ctx, d, k); err != nil {
		return fmt.Errorf("a Put with a cancelled context wrote anyway: %w", err)
	}
	if _, err := d.Get(cancelled, k); !errors.Is(err, context.Canceled) {
		return fmt.Errorf("Get with a cancelled context: error %v, want one matching context.Canceled", err)
	}
	b, err := d.Batch(e.ctx)
	if err != nil {
		return fmt.Errorf("Batch: %w", err)
	}
	if err := b.Put(e.ctx, ds.NewKey("/cancel/batch"), []byte("v")); err != nil {
		return fmt.Errorf("batch Put: %w", err)
	}
	if err := mustErr("batch Commit with a cancelled context", b.Commit(cancelled), context.Canceled); err != nil {
		return err
	}
	if err := expectAbsent(e.ctx, d, ds.NewKey("/cancel/batch")); err != nil {
		return fmt.Errorf("a batch committed with a cancelled context was applied: %w", err)
	}

	// A query stops when its context ends mid-way.
	const n = 300
	for i := range n {
		if err := d.Put(e.ctx, ds.NewKey(fmt.Sprintf("/cancel/q/%04d", i)), []byte("v")); err != nil {
			return fmt.Errorf("Put: %w", err)
		}
	}
	qctx, qcancel := context.WithCancel(e.ctx)
	defer qcancel()
	res, err := d.Query(qctx, dsq.Query{Prefix: "/cancel/q"})
	if err != nil {
		return fmt.Errorf("Query: %w", err)
	}
	defer res.Close()
	if r, ok := res.NextSync(); !ok || r.Error != nil {
		return fmt.Errorf("the first result of a query: %v, %v", ok, r.Error)
	}
	qcancel()
	got, sawErr := 1, false
	for {
		r, ok := res.NextSync()
		if !ok {
			break
		}
		if r.Error != nil {
			sawErr = errors.Is(r.Error, context.Canceled)
			break
		}
		got++
	}
	if got == n || !sawErr {
		return fmt.Errorf("a query went on after its context was cancelled: %d of %d entries, and no error matching context.Canceled", got, n)
	}
	return nil
}

func caseClosed(e *env) error {
	ctx, d := e.ctx, e.store
	k := ds.NewKey("/closed/k")
	if err := putAll(ctx, d, "/closed/k", "/closed/k2", "/closed/k3"); err != nil {
		return err
	}
	res, err := d.Query(ctx, dsq.Query{Prefix: "/closed"})
	if err != nil {
		return fmt.Errorf("Query: %w", err)
	}
	if r, ok := res.NextSync(); !ok || r.Error != nil {
		return fmt.Errorf("the first result of a query: %v, %v", ok, r.Error)
	}
	b, err := d.Batch(ctx)
	if err != nil {
		return fmt.Errorf("Batch: %w", err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	// A query open at Close ends without hanging or panicking.
	for range 10 {
		if _, ok := res.NextSync(); !ok {
			break
		}
	}
	_ = res.Close()

	var failures []string
	check := func(op string, err error) {
		if !errors.Is(err, core.ErrClosed) {
			failures = append(failures, fmt.Sprintf("%s after Close: error %v, want one matching ErrClosed", op, err))
		}
	}
	_, err = d.Get(ctx, k)
	check("Get", err)
	_, err = d.Has(ctx, k)
	check("Has", err)
	_, err = d.GetSize(ctx, k)
	check("GetSize", err)
	check("Put", d.Put(ctx, k, []byte("v")))
	check("Delete", d.Delete(ctx, k))
	check("Sync", d.Sync(ctx, ds.NewKey("/")))
	_, err = d.Query(ctx, dsq.Query{})
	check("Query", err)
	_, err = d.Batch(ctx)
	check("Batch", err)
	check("Put on a batch made before Close", b.Put(ctx, k, []byte("v")))
	check("Commit of a batch made before Close", b.Commit(ctx))
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "\n"))
	}
	if err := d.Close(); err != nil && !errors.Is(err, core.ErrClosed) {
		return fmt.Errorf("a second Close: %w", err)
	}
	return nil
}

func caseSync(e *env) error {
	ctx, d := e.ctx, e.store
	if err := putAll(ctx, d, "/sync/a", "/sync/b/c"); err != nil {
		return err
	}
	for _, p := range []string{"/", "/sync", "/sync/b/c", "/not/there"} {
		if err := d.Sync(ctx, ds.NewKey(p)); err != nil {
			return fmt.Errorf("Sync(%s): %w", p, err)
		}
	}
	return expect(ctx, d, ds.NewKey("/sync/b/c"), []byte("/sync/b/c"))
}

func casePersistence(e *env) error {
	ctx := e.ctx
	if err := putAll(ctx, e.store, "/p/a", "/p/b", "/p/c", "/p/gone"); err != nil {
		return err
	}
	big := randomBytes(4, 1<<20)
	if err := e.store.Put(ctx, ds.NewKey("/p/big"), big); err != nil {
		return fmt.Errorf("Put: %w", err)
	}
	b, err := e.store.Batch(ctx)
	if err != nil {
		return fmt.Errorf("Batch: %w", err)
	}
	if err := b.Put(ctx, ds.NewKey("/p/batched"), []byte("/p/batched")); err != nil {
		return fmt.Errorf("batch Put: %w", err)
	}
	if err := b.Delete(ctx, ds.NewKey("/p/gone")); err != nil {
		return fmt.Errorf("batch Delete: %w", err)
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	if err := e.store.Delete(ctx, ds.NewKey("/p/c")); err != nil {
		return fmt.Errorf("Delete: %w", err)
	}
	if err := e.reopen(); err != nil {
		return err
	}
	for _, k := range []string{"/p/a", "/p/b", "/p/batched"} {
		if err := expect(ctx, e.store, ds.NewKey(k), []byte(k)); err != nil {
			return fmt.Errorf("after close and reopen: %w", err)
		}
	}
	if err := expect(ctx, e.store, ds.NewKey("/p/big"), big); err != nil {
		return fmt.Errorf("after close and reopen: %w", err)
	}
	for _, k := range []string{"/p/c", "/p/gone"} {
		if err := expectAbsent(ctx, e.store, ds.NewKey(k)); err != nil {
			return fmt.Errorf("a delete did not survive close and reopen: %w", err)
		}
	}
	q := dsq.Query{Prefix: "/p"}
	es, err := collect(ctx, e.store, q)
	if err != nil {
		return err
	}
	return sameKeys(q, es, []string{"/p/a", "/p/b", "/p/batched", "/p/big"})
}

// caseDurable checks that what a successful Sync covered survives a crash,
// and that a write made after it is either lost whole or kept whole.
func caseDurable(e *env) error {
	c, ok := e.inst.(Crasher)
	if !ok {
		return &skipError{"durability was not checked by a crash: the harness cannot crash this backend's stores (its instances do not implement conformance.Crasher)"}
	}
	// after maps each key to what it may hold after the crash: one value
	// when a Sync covered its last write, else the value before and the
	// value after that write, nil standing for absent.
	after := map[string][][]byte{}
	if err := writeSynced(e.ctx, e.store, after); err != nil {
		return err
	}
	if err := writeUnsynced(e.ctx, e.store, after); err != nil {
		return err
	}
	if err := e.crashAndReopen(c); err != nil {
		return err
	}
	if err := checkSurvived(e.ctx, e.store, after); err != nil {
		return err
	}
	return checkNothingNew(e.ctx, e.store, after)
}

// writeSynced writes puts, a batch, a large value and a delete, then Syncs
// them all.
func writeSynced(ctx context.Context, d ds.Batching, after map[string][][]byte) error {
	for i := range 64 {
		k := fmt.Sprintf("/durable/put/%02d", i)
		v := append([]byte(k+" synced "), randomBytes(uint64(100+i), 200)...)
		if err := d.Put(ctx, ds.NewKey(k), v); err != nil {
			return fmt.Errorf("Put(%s): %w", k, err)
		}
		after[k] = [][]byte{v}
	}
	b, err := d.Batch(ctx)
	if err != nil {
		return fmt.Errorf("Batch: %w", err)
	}
	for i := range 16 {
		k := fmt.Sprintf("/durable/batched/%02d", i)
		if err := b.Put(ctx, ds.NewKey(k), []byte(k)); err != nil {
			return fmt.Errorf("batch Put(%s): %w", k, err)
		}
		after[k] = [][]byte{[]byte(k)}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	big := randomBytes(7, 1<<20)
	if err := d.Put(ctx, ds.NewKey("/durable/big"), big); err != nil {
		return fmt.Errorf("Put: %w", err)
	}
	after["/durable/big"] = [][]byte{big}
	if err := putAll(ctx, d, "/durable/deleted"); err != nil {
		return err
	}
	if err := d.Delete(ctx, ds.NewKey("/durable/deleted")); err != nil {
		return fmt.Errorf("Delete: %w", err)
	}
	after["/durable/deleted"] = [][]byte{nil}
	if err := d.Sync(ctx, ds.NewKey("/durable")); err != nil {
		return fmt.Errorf("Sync(/durable): %w", err)
	}
	return nil
}

// writeUnsynced makes writes no Sync covers: new keys, overwrites and
// deletes of synced ones.
func writeUnsynced(ctx context.Context, d ds.Batching, after map[string][][]byte) error {
	for i := range 16 {
		k := fmt.Sprintf("/durable/unsynced/%02d", i)
		if err := d.Put(ctx, ds.NewKey(k), []byte(k)); err != nil {
			return fmt.Errorf("Put(%s): %w", k, err)
		}
		after[k] = [][]byte{nil, []byte(k)}
	}
	for i := range 8 {
		k := fmt.Sprintf("/durable/put/%02d", i)
		v := []byte(k + " overwritten after the Sync")
		if err := d.Put(ctx, ds.NewKey(k), v); err != nil {
			return fmt.Errorf("Put(%s): %w", k, err)
		}
		after[k] = append(after[k], v)
	}
	for i := 8; i < 12; i++ {
		k := fmt.Sprintf("/durable/put/%02d", i)
		if err := d.Delete(ctx, ds.NewKey(k)); err != nil {
			return fmt.Errorf("Delete(%s): %w", k, err)
		}
		after[k] = append(after[k], nil)
	}
	return nil
}

// checkSurvived checks that each key holds what after allows.
func checkSurvived(ctx context.Context, d ds.Batching, after map[string][][]byte) error {
	var lost []string
	for _, k := range slices.Sorted(maps.Keys(after)) {
		want := after[k]
		got, err := d.Get(ctx, ds.NewKey(k))
		switch {
		case errors.Is(err, core.ErrNotFound):
			got = nil
		case err != nil:
			return fmt.Errorf("after a crash: Get(%s): %w", k, err)
		}
		if slices.ContainsFunc(want, func(w []byte) bool { return (w == nil) == (got == nil) && bytes.Equal(w, got) }) {
			continue
		}
		switch {
		case got == nil:
			lost = append(lost, k+" is missing")
		case len(want) > 1:
			return fmt.Errorf("after a crash, %s, written again after the last Sync, holds %s, which is neither its value before that write nor after it: the crash corrupted it", k, describe(got))
		case want[0] == nil:
			lost = append(lost, fmt.Sprintf("%s, deleted, holds %s again", k, describe(got)))
		default:
			lost = append(lost, fmt.Sprintf("%s holds %s, want %s", k, describe(got), describe(want[0])))
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("the backend declares durable, but %d keys a successful Sync covered did not survive a crash of the store, such as: %s", len(lost), lost[0])
	}
	return nil
}

// checkNothingNew checks that a query finds no key or value that was never
// written.
func checkNothingNew(ctx context.Context, d ds.Batching, after map[string][][]byte) error {
	es, err := collect(ctx, d, dsq.Query{Prefix: "/durable"})
	if err != nil {
		return fmt.Errorf("after a crash: %w", err)
	}
	for _, en := range es {
		want, known := after[en.Key]
		if !known || !slices.ContainsFunc(want, func(w []byte) bool { return w != nil && bytes.Equal(w, en.Value) }) {
			return fmt.Errorf("after a crash, a query returned %s with %s, which was never written there", en.Key, describe(en.Value))
		}
	}
	return nil
}

// eventually polls cond until it holds or the context ends; TTL expiry is
// the engine's own clock, so there is nothing to wait on but the condition.
func eventually(ctx context.Context, within time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s", within)
		case <-tick.C:
		}
	}
}

func caseTTL(e *env) error {
	ctx := e.ctx
	t, ok := e.store.(ds.TTL)
	if !ok {
		return fmt.Errorf("the backend declares ttl, but its store does not implement go-datastore's TTL interface")
	}
	start := time.Now()
	if err := t.PutWithTTL(ctx, ds.NewKey("/ttl/short"), []byte("v"), 2*time.Second); err != nil {
		return fmt.Errorf("PutWithTTL: %w", err)
	}
	if err := t.PutWithTTL(ctx, ds.NewKey("/ttl/long"), []byte("v"), time.Hour); err != nil {
		return fmt.Errorf("PutWithTTL: %w", err)
	}
	exp, err := t.GetExpiration(ctx, ds.NewKey("/ttl/long"))
	if err != nil {
		return fmt.Errorf("GetExpiration: %w", err)
	}
	if exp.Before(start.Add(time.Hour-time.Minute)) || exp.After(time.Now().Add(time.Hour+time.Minute)) {
		return fmt.Errorf("GetExpiration of a key put with a one-hour TTL = %s, want about an hour from now", exp)
	}
	if err := expect(ctx, e.store, ds.NewKey("/ttl/short"), []byte("v")); err != nil {
		return fmt.Errorf("before its TTL passed: %w", err)
	}
	if err := eventually(ctx, 10*time.Second, func() (bool, error) {
		ok, err := e.store.Has(ctx, ds.NewKey("/ttl/short"))
		return !ok, err
	}); err != nil {
		return fmt.Errorf("a key put with a 2s TTL did not expire: %w", err)
	}
	if err := t.SetTTL(ctx, ds.NewKey("/ttl/long"), 2*time.Second); err != nil {
		return fmt.Errorf("SetTTL: %w", err)
	}
	if err := eventually(ctx, 10*time.Second, func() (bool, error) {
		ok, err := e.store.Has(ctx, ds.NewKey("/ttl/long"))
		return !ok, err
	}); err != nil {
		return fmt.Errorf("a key whose TTL was set to 2s did not expire: %w", err)
	}
	return expectAbsent(ctx, e.store, ds.NewKey("/ttl/short"))
}

func caseTransactions(e *env) error {
	ctx := e.ctx
	tds, ok := e.store.(ds.TxnFeature)
	if !ok {
		return fmt.Errorf("the backend declares transactions, but its store does not implement go-datastore's TxnDatastore")
	}
	if err := putAll(ctx, e.store, "/txn/old"); err != nil {
		return err
	}
	tx, err := tds.NewTransaction(ctx, false)
	if err != nil {
		return fmt.Errorf("NewTransaction: %w", err)
	}
	if err := tx.Put(ctx, ds.NewKey("/txn/new"), []byte("new")); err != nil {
		return fmt.Errorf("transaction Put: %w", err)
	}
	if err := tx.Delete(ctx, ds.NewKey("/txn/old")); err != nil {
		return fmt.Errorf("transaction Delete: %w", err)
	}
	if err := expect(ctx, tx, ds.NewKey("/txn/new"), []byte("new")); err != nil {
		return fmt.Errorf("a transaction does not read its own write: %w", err)
	}
	if err := expectAbsent(ctx, tx, ds.NewKey("/txn/old")); err != nil {
		return fmt.Errorf("a transaction does not see its own delete: %w", err)
	}
	if err := expectAbsent(ctx, e.store, ds.NewKey("/txn/new")); err != nil {
		return fmt.Errorf("an uncommitted transaction's put is visible outside it: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	if err := expect(ctx, e.store, ds.NewKey("/txn/new"), []byte("new")); err != nil {
		return fmt.Errorf("after Commit: %w", err)
	}
	if err := expectAbsent(ctx, e.store, ds.NewKey("/txn/old")); err != nil {
		return fmt.Errorf("after Commit: %w", err)
	}
	tx, err = tds.NewTransaction(ctx, false)
	if err != nil {
		return fmt.Errorf("NewTransaction: %w", err)
	}
	if err := tx.Put(ctx, ds.NewKey("/txn/discarded"), []byte("x")); err != nil {
		return fmt.Errorf("transaction Put: %w", err)
	}
	tx.Discard(ctx)
	return expectAbsent(ctx, e.store, ds.NewKey("/txn/discarded"))
}
