package badgerstore

import (
	"context"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	badgerds "github.com/ipfs/go-ds-badger4"
)

// engine is go-ds-badger4 with the faults the conformance suite finds in it
// mended, for the store and for its transactions:
//
//   - GetSize reports Badger's estimate, which is wrong for values kept in
//     the value log (over 1 MiB) and is 0 for a transaction's own pending
//     writes; so is the size of a keys-only query entry. Here sizes come
//     from the values themselves.
//   - A descending query with a prefix returns nothing (its reverse
//     iterator starts past the prefix). Here the engine reads the prefix in
//     ascending order and the order, offset and limit are applied after.
type engine struct {
	*badgerds.Datastore
}

func (e engine) GetSize(ctx context.Context, key ds.Key) (int, error) {
	return ds.GetBackedSize(ctx, e.Datastore, key)
}

func (e engine) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return query(ctx, e.Datastore, q)
}

func (e engine) NewTransaction(ctx context.Context, readOnly bool) (ds.Txn, error) {
	t, err := e.Datastore.NewTransaction(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	return txn{t}, nil
}

type txn struct {
	ds.Txn
}

func (t txn) GetSize(ctx context.Context, key ds.Key) (int, error) {
	return ds.GetBackedSize(ctx, t.Txn, key)
}

func (t txn) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	return query(ctx, t.Txn, q)
}

func query(ctx context.Context, r ds.Read, q dsq.Query) (dsq.Results, error) {
	eq := q
	sizes := q.KeysOnly && q.ReturnsSizes
	if sizes {
		eq.KeysOnly = false
	}
	var after dsq.Query
	if len(q.Orders) > 0 && isDescendingKey(q.Orders[0]) {
		after = dsq.Query{Orders: q.Orders, Offset: q.Offset, Limit: q.Limit}
		eq.Orders, eq.Offset, eq.Limit = nil, 0, 0
	}
	res, err := r.Query(ctx, eq)
	if err != nil {
		return nil, err
	}
	if after.Orders != nil {
		res = dsq.NaiveQueryApply(after, res)
	}
	if !sizes {
		return res, nil
	}
	return dsq.ResultsFromIterator(q, dsq.Iterator{
		Next: func() (dsq.Result, bool) {
			r, ok := res.NextSync()
			if r.Error == nil {
				r.Size, r.Value = len(r.Value), nil
			}
			return r, ok
		},
		Close: res.Close,
	}), nil
}

func isDescendingKey(o dsq.Order) bool {
	switch o.(type) {
	case dsq.OrderByKeyDescending, *dsq.OrderByKeyDescending:
		return true
	}
	return false
}
