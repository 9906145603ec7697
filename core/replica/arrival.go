package replica

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/keytransform"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// The arrival order: an entry per stored record, under
//
//	/arrival/t/<receive time>/<record key>
//
// with the receive time (core.Record.Received, in nanoseconds since the
// Unix epoch, offset by 2^63 so that the order of the keys is the order of
// the times) as 16 hexadecimal digits, and an empty value. Its entries
// change in the same write (batch) as the records they name: an entry is
// put for each record stored and deleted for each record replaced or
// removed, so that Arrived reads the records stored since a time in what
// they number, not the whole collection. On a datastore without batches
// the new entries are written before the records and the old ones removed
// after, so that a crash part way leaves an entry too many (which Arrived
// skips), never one too few. arrivalMark says the order is whole; a
// collection stored without it is given one on Open.
var (
	arrivalRoot = ds.NewKey("/arrival")
	arrivalNS   = arrivalRoot.ChildString("t")
	arrivalMark = arrivalRoot.ChildString("m")
)

// arrivalKey is the entry of the record under key received at t.
func arrivalKey(t time.Time, key string) ds.Key {
	return ds.RawKey(fmt.Sprintf("%s/%016x%s", arrivalNS, uint64(t.UnixNano())^1<<63, key))
}

// arrivalOps returns the changes to the arrival order that storing puts
// and removing removes makes: the entries to put first, and those to
// delete after. It reads the records that puts replace and removes
// remove, for their receive times. Puts must be stamped.
func (r *Replica) arrivalOps(ctx context.Context, puts []core.Record, removes []string) (add, drop []op, err error) {
	old := func(key string) error {
		rec, err := r.store.Get(ctx, key)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		drop = append(drop, op{key: arrivalKey(rec.Received, key)})
		return nil
	}
	for _, p := range puts {
		if err := old(p.Key); err != nil {
			return nil, nil, err
		}
		k := arrivalKey(p.Received, p.Key)
		if n := len(drop) - 1; n >= 0 && drop[n].key == k {
			drop = drop[:n] // the same entry: stored again at the same time
		}
		add = append(add, op{key: k, val: []byte{}})
	}
	for _, k := range removes {
		if err := old(k); err != nil {
			return nil, nil, err
		}
	}
	return add, drop, nil
}

// openArrivals gives the collection's records an arrival order when they
// have none (a collection stored before replicas kept one), from their
// receive times. The caller holds r.mu.
func (r *Replica) openArrivals(ctx context.Context) error {
	switch _, err := r.d.Get(ctx, arrivalMark); {
	case err == nil:
		return nil
	case !errors.Is(err, ds.ErrNotFound):
		return err
	}
	const chunk = 1024
	var ops []op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		err := r.write(ctx, nil, nil, ops)
		ops = ops[:0]
		return err
	}
	for rec, err := range r.store.Records(ctx, envelope.Namespace) {
		if err != nil {
			return err
		}
		ops = append(ops, op{key: arrivalKey(rec.Received, rec.Key), val: []byte{}})
		if len(ops) == chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	ops = append(ops, op{key: arrivalMark, val: []byte{1}})
	return flush()
}

// Arrived yields the records this replica stored at or after since, in the
// order it stored them (oldest first; records stored in the same
// nanosecond, as one Insert's are, by key), tombstones included, reading the
// arrival order from since: what it reads grows with the records it
// yields, not with the collection. A record stored again since is yielded
// once, at its last arrival.
func (r *Replica) Arrived(ctx context.Context, since time.Time) iter.Seq2[core.Record, error] {
	return func(yield func(core.Record, error) bool) {
		prefix := arrivalNS.String() + "/"
		start := arrivalKey(since, "").String()
		res, err := seekIn(ctx, r.d, core.SeekQuery{Prefix: arrivalNS.String(), Start: start, KeysOnly: true})
		if err != nil {
			yield(core.Record{}, err)
			return
		}
		defer res.Close()
		for e := range res.Next() {
			if e.Error != nil {
				yield(core.Record{}, e.Error)
				return
			}
			rest := e.Key[len(prefix):]
			if len(rest) < 16 {
				continue
			}
			at, err := strconv.ParseUint(rest[:16], 16, 64)
			if err != nil {
				continue
			}
			key := rest[16:]
			rec, err := r.store.Get(ctx, key)
			switch {
			case errors.Is(err, core.ErrNotFound):
				continue // removed since the entry was read
			case err != nil:
				yield(core.Record{}, err)
				return
			case uint64(rec.Received.UnixNano())^1<<63 != at:
				continue // stored again since: its newer entry comes later
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// seekIn runs q on d as core.QueryFrom does, through the seek of the
// datastore below d when d is a key transform (a namespace, as OpenIn
// makes) of one, which core.QueryFrom does not see through: a replica's
// datastore is a namespace of the node's backend, which seeks.
func seekIn(ctx context.Context, d ds.Read, q core.SeekQuery) (dsq.Results, error) {
	kt, ok := d.(*keytransform.Datastore)
	if !ok {
		return core.QueryFrom(ctx, d, q)
	}
	inner := q
	inner.Prefix = kt.ConvertKey(ds.NewKey(q.Prefix)).String()
	if q.Start != "" {
		inner.Start = kt.ConvertKey(ds.RawKey(q.Start)).String()
	}
	res, err := seekIn(ctx, kt.Children()[0], inner)
	if err != nil {
		return nil, err
	}
	return dsq.ResultsFromIterator(q.Query(), dsq.Iterator{
		Next: func() (dsq.Result, bool) {
			r, ok := res.NextSync()
			if ok && r.Error == nil {
				r.Key = kt.InvertKey(ds.RawKey(r.Key)).String()
			}
			return r, ok
		},
		Close: res.Close,
	}), nil
}
