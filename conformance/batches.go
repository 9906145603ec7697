package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// batchOp is one operation of a batch: a Put of value, or a Delete.
type batchOp struct {
	key   string
	value []byte
	del   bool
}

// mixedBatch is the batch the batch cases commit, as core/model and the
// DHT commit theirs: hundreds of puts and deletes of values of mixed sizes,
// interleaved, several on one key, over keys that exist and keys that do
// not, and values of the largest size core accepts.
type mixedBatch struct {
	before map[string][]byte // what the store holds before the batch
	ops    []batchOp
	after  map[string][]byte // what it holds after: the last operation on each key wins
	keys   []string          // every key the batch or before names, sorted
}

// mixedBatchKeys is the number of keys under /batch/k; the first half
// exist before the batch.
const mixedBatchKeys = 400

// mixedBatchPrefix holds the keys of mixedBatch the query cases read.
const mixedBatchPrefix = "/batch/k"

func newMixedBatch() *mixedBatch {
	m := &mixedBatch{before: map[string][]byte{}}
	sizes := []int{0, 1, 7, 100, 1000, 4096, 30000}
	value := func(seed, i int) []byte {
		return randomBytes(uint64(seed*mixedBatchKeys+i), sizes[(seed+i)%len(sizes)])
	}
	perKey := make([][]batchOp, mixedBatchKeys)
	for i := range perKey {
		k := fmt.Sprintf("%s/%03d", mixedBatchPrefix, i)
		if i < mixedBatchKeys/2 {
			m.before[k] = value(0, i)
		}
		put := func(seed int) batchOp { return batchOp{key: k, value: value(seed, i)} }
		del := batchOp{key: k, del: true}
		switch i % 8 {
		case 0, 6:
			perKey[i] = []batchOp{put(1)}
		case 1, 7:
			perKey[i] = []batchOp{del}
		case 2:
			perKey[i] = []batchOp{put(1), del} // overwrite, then delete
		case 3:
			perKey[i] = []batchOp{del, put(1)}
		case 4:
			perKey[i] = []batchOp{put(1), put(2), del, put(3)}
		case 5:
			// untouched: a neighbour the batch must leave alone
		}
	}
	// Interleave the keys' operations, keeping each key's in order.
	for round := 0; ; round++ {
		n := len(m.ops)
		for _, ops := range perKey {
			if round < len(ops) {
				m.ops = append(m.ops, ops[round])
			}
		}
		if len(m.ops) == n {
			break
		}
	}
	// The largest key and values core accepts, in the middle of the batch.
	long := "/batch/long/" + strings.Repeat("k", core.MaxKeySize-len("/batch/long/"))
	largest := []batchOp{
		{key: "/batch/max/1", value: randomBytes(11, core.MaxValueSize)},
		{key: long, value: []byte("a key of the largest size")},
		{key: "/batch/max/2", value: randomBytes(12, core.MaxValueSize)},
	}
	m.ops = slices.Insert(m.ops, len(m.ops)/2, largest...)

	m.after = maps.Clone(m.before)
	names := map[string]bool{}
	for k := range m.before {
		names[k] = true
	}
	for _, o := range m.ops {
		names[o.key] = true
		if o.del {
			delete(m.after, o.key)
		} else {
			m.after[o.key] = o.value
		}
	}
	for k := range names {
		m.keys = append(m.keys, k)
	}
	slices.Sort(m.keys)
	return m
}

// prepare puts the keys that exist before the batch, and returns the batch
// with its operations staged.
func (m *mixedBatch) prepare(e *env) (ds.Batch, error) {
	ctx, d := e.ctx, e.store
	for _, k := range slices.Sorted(maps.Keys(m.before)) {
		if err := d.Put(ctx, ds.NewKey(k), m.before[k]); err != nil {
			return nil, fmt.Errorf("Put(%s): %w", short(k), err)
		}
	}
	b, err := d.Batch(ctx)
	if err != nil {
		return nil, fmt.Errorf("Batch: %w", err)
	}
	for i, o := range m.ops {
		if o.del {
			err = b.Delete(ctx, ds.NewKey(o.key))
		} else {
			err = b.Put(ctx, ds.NewKey(o.key), o.value)
		}
		if err != nil {
			return nil, fmt.Errorf("operation %d of a batch, on %s: %w", i, short(o.key), err)
		}
	}
	return b, nil
}

// commit prepares the batch and commits it.
func (m *mixedBatch) commit(e *env) error {
	b, err := m.prepare(e)
	if err != nil {
		return err
	}
	if err := b.Commit(e.ctx); err != nil {
		return fmt.Errorf("Commit of a batch of %d operations: %w", len(m.ops), err)
	}
	return nil
}

// check checks every key the batch names against what its last operation
// left, through Get, Has and GetSize.
func (m *mixedBatch) check(e *env) error {
	var wrong []string
	for _, k := range m.keys {
		var err error
		if v, ok := m.after[k]; ok {
			err = expect(e.ctx, e.store, ds.NewKey(k), v)
		} else {
			err = expectAbsent(e.ctx, e.store, ds.NewKey(k))
		}
		if err != nil {
			wrong = append(wrong, err.Error())
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("after Commit of a batch of %d puts and deletes, %d of the %d keys it names do not hold what its last operation on them left, such as: %s",
			len(m.ops), len(wrong), len(m.keys), wrong[0])
	}
	return nil
}

// caseBatch checks that a batch applies nothing before Commit and all of
// itself at Commit, the last operation on each key winning: a store that
// applies only part of a large commit fails it.
func caseBatch(e *env) error {
	ctx, d := e.ctx, e.store
	m := newMixedBatch()
	b, err := m.prepare(e)
	if err != nil {
		return err
	}
	// Key 000 is put and key 001 deleted by the batch; both existed.
	if err := expect(ctx, d, ds.NewKey(mixedBatchPrefix+"/001"), m.before[mixedBatchPrefix+"/001"]); err != nil {
		return fmt.Errorf("a batched delete took effect before Commit: %w", err)
	}
	if err := expect(ctx, d, ds.NewKey(mixedBatchPrefix+"/000"), m.before[mixedBatchPrefix+"/000"]); err != nil {
		return fmt.Errorf("a batched put took effect before Commit: %w", err)
	}
	if err := expectAbsent(ctx, d, ds.NewKey("/batch/max/1")); err != nil {
		return fmt.Errorf("a batched put is visible before Commit: %w", err)
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("Commit of a batch of %d operations: %w", len(m.ops), err)
	}
	return m.check(e)
}

// caseBatchThenQuery checks that queries with a prefix, an order, an
// offset and a limit see exactly what a batch of puts and deletes left.
func caseBatchThenQuery(e *env) error {
	m := newMixedBatch()
	if err := m.commit(e); err != nil {
		return err
	}
	var asc []string
	for _, k := range m.keys {
		if _, ok := m.after[k]; ok && strings.HasPrefix(k, mixedBatchPrefix+"/") {
			asc = append(asc, k)
		}
	}
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	byKey, byKeyDesc := []dsq.Order{dsq.OrderByKey{}}, []dsq.Order{dsq.OrderByKeyDescending{}}
	for _, tc := range []struct {
		q    dsq.Query
		want []string
	}{
		{dsq.Query{Prefix: mixedBatchPrefix, Orders: byKey}, asc},
		{dsq.Query{Prefix: mixedBatchPrefix, Orders: byKey, Offset: 40, Limit: 25}, asc[40:65]},
		{dsq.Query{Prefix: mixedBatchPrefix, Orders: byKeyDesc, Offset: 17, Limit: 50}, desc[17:67]},
		{dsq.Query{Prefix: mixedBatchPrefix, Orders: byKey, Offset: len(asc) - 5, Limit: 10}, asc[len(asc)-5:]},
		{dsq.Query{Prefix: mixedBatchPrefix, Orders: byKey, Offset: 100, Limit: 30, KeysOnly: true, ReturnsSizes: true}, asc[100:130]},
		{dsq.Query{Prefix: mixedBatchPrefix, Orders: byKeyDesc, Limit: 60, KeysOnly: true}, desc[:60]},
	} {
		es, err := collect(e.ctx, e.store, tc.q)
		if err != nil {
			return err
		}
		if err := sameOrder(tc.q, es, tc.want); err != nil {
			return fmt.Errorf("after a batch of %d puts and deletes: %w", len(m.ops), err)
		}
		for _, en := range es {
			want := m.after[en.Key]
			if !tc.q.KeysOnly && !bytes.Equal(en.Value, want) {
				return fmt.Errorf("after a batch of puts and deletes, Query(%s) returned %s for %s, want %s (the value the batch left)", tc.q, describe(en.Value), en.Key, describe(want))
			}
			if (tc.q.ReturnsSizes || !tc.q.KeysOnly) && en.Size != len(want) {
				return fmt.Errorf("after a batch of puts and deletes, Query(%s) returned size %d for %s, want %d", tc.q, en.Size, en.Key, len(want))
			}
		}
	}
	return nil
}

// caseQueryDuringBatch checks a query that is open while a batch commits:
// it returns every key the batch leaves alone, once, in order, and any key
// the batch changes either as it was before or as the batch left it.
func caseQueryDuringBatch(e *env) error {
	ctx, d := e.ctx, e.store
	m := newMixedBatch()
	b, err := m.prepare(e)
	if err != nil {
		return err
	}
	touched := map[string]bool{}
	for _, o := range m.ops {
		touched[o.key] = true
	}
	q := dsq.Query{Prefix: mixedBatchPrefix, Orders: []dsq.Order{dsq.OrderByKey{}}}
	res, err := d.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("Query(%s): %w", q, err)
	}
	defer res.Close()
	var got []dsq.Entry
	for {
		if len(got) == 1 {
			if err := b.Commit(ctx); err != nil {
				return fmt.Errorf("Commit of a batch of %d operations while a query is open: %w", len(m.ops), err)
			}
		}
		r, ok := res.NextSync()
		if !ok {
			break
		}
		if r.Error != nil {
			return fmt.Errorf("Query(%s) open while a batch committed: result %d: %w", q, len(got), r.Error)
		}
		got = append(got, r.Entry)
	}
	if len(got) < 2 {
		return errors.New("a query returned fewer than two entries where hundreds exist")
	}
	seen := map[string]bool{}
	for i, en := range got {
		if i > 0 && en.Key <= got[i-1].Key {
			return fmt.Errorf("Query(%s) open while a batch committed returned %s after %s: not once each in key order", q, en.Key, got[i-1].Key)
		}
		seen[en.Key] = true
		before, wasBefore := m.before[en.Key]
		after, isAfter := m.after[en.Key]
		if !(wasBefore && bytes.Equal(en.Value, before)) && !(isAfter && bytes.Equal(en.Value, after)) {
			return fmt.Errorf("Query(%s) open while a batch committed returned %s for %s, which it held neither before the batch nor after", q, describe(en.Value), en.Key)
		}
	}
	var missed []string
	for k := range m.before {
		if !touched[k] && !seen[k] {
			missed = append(missed, k)
		}
	}
	if len(missed) > 0 {
		slices.Sort(missed)
		return fmt.Errorf("Query(%s) open while a batch committed left out %d keys the batch did not touch, such as %s: a query must not skip keys when the store changes under it", q, len(missed), missed[0])
	}
	return m.check(e)
}
