package crashdriver

import (
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// What the parent sends and the child answers, one gob value each way per
// call.
type (
	request struct {
		Op    op
		Key   string
		Value []byte
		Batch []batchOp // for opCommit
		Query query     // for opQuery
	}

	batchOp struct {
		Key    string
		Value  []byte
		Delete bool
	}

	// query is a dsq.Query with its filters and orders spelled out, as gob
	// cannot send an interface holding an empty struct.
	query struct {
		Prefix            string
		Filters           []term
		Orders            []term
		Limit, Offset     int
		KeysOnly          bool
		ReturnExpirations bool
		ReturnsSizes      bool
	}

	// term is one of go-datastore's filters or orders.
	term struct {
		Kind  string
		Op    dsq.Op
		Arg   string
		Value []byte
	}

	response struct {
		Err      string
		NotFound bool
		Value    []byte
		Size     int
		Has      bool
		Entries  []dsq.Entry
	}
)

type op uint8

const (
	opGet op = iota + 1
	opHas
	opGetSize
	opPut
	opDelete
	opSync
	opCommit
	opQuery
	opClose
)

func (o op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op %d", o)
}

var opNames = [...]string{"", "Get", "Has", "GetSize", "Put", "Delete", "Sync", "Commit", "Query", "Close"}

// respond is the response carrying err.
func respond(err error) *response {
	switch {
	case err == nil:
		return &response{}
	case errors.Is(err, ds.ErrNotFound):
		return &response{Err: err.Error(), NotFound: true}
	}
	return &response{Err: err.Error()}
}

// err is the error the response carries, ds.ErrNotFound for a missing key.
func (r *response) err() error {
	switch {
	case r.NotFound:
		return ds.ErrNotFound
	case r.Err != "":
		return errors.New(r.Err)
	}
	return nil
}

func encodeQuery(q dsq.Query) (query, error) {
	out := query{Prefix: q.Prefix, Limit: q.Limit, Offset: q.Offset, KeysOnly: q.KeysOnly,
		ReturnExpirations: q.ReturnExpirations, ReturnsSizes: q.ReturnsSizes}
	for _, f := range q.Filters {
		switch f := f.(type) {
		case dsq.FilterKeyCompare:
			out.Filters = append(out.Filters, term{Kind: "key", Op: f.Op, Arg: f.Key})
		case dsq.FilterValueCompare:
			out.Filters = append(out.Filters, term{Kind: "value", Op: f.Op, Value: f.Value})
		case dsq.FilterKeyPrefix:
			out.Filters = append(out.Filters, term{Kind: "prefix", Arg: f.Prefix})
		default:
			return query{}, fmt.Errorf("a crash driver cannot send a query filter of type %T to its child", f)
		}
	}
	for _, o := range q.Orders {
		switch o.(type) {
		case dsq.OrderByKey:
			out.Orders = append(out.Orders, term{Kind: "key"})
		case dsq.OrderByKeyDescending:
			out.Orders = append(out.Orders, term{Kind: "key-desc"})
		case dsq.OrderByValue:
			out.Orders = append(out.Orders, term{Kind: "value"})
		case dsq.OrderByValueDescending:
			out.Orders = append(out.Orders, term{Kind: "value-desc"})
		default:
			return query{}, fmt.Errorf("a crash driver cannot send a query order of type %T to its child", o)
		}
	}
	return out, nil
}

func (q query) decode() dsq.Query {
	out := dsq.Query{Prefix: q.Prefix, Limit: q.Limit, Offset: q.Offset, KeysOnly: q.KeysOnly,
		ReturnExpirations: q.ReturnExpirations, ReturnsSizes: q.ReturnsSizes}
	for _, f := range q.Filters {
		switch f.Kind {
		case "key":
			out.Filters = append(out.Filters, dsq.FilterKeyCompare{Op: f.Op, Key: f.Arg})
		case "value":
			out.Filters = append(out.Filters, dsq.FilterValueCompare{Op: f.Op, Value: f.Value})
		case "prefix":
			out.Filters = append(out.Filters, dsq.FilterKeyPrefix{Prefix: f.Arg})
		}
	}
	for _, o := range q.Orders {
		switch o.Kind {
		case "key":
			out.Orders = append(out.Orders, dsq.OrderByKey{})
		case "key-desc":
			out.Orders = append(out.Orders, dsq.OrderByKeyDescending{})
		case "value":
			out.Orders = append(out.Orders, dsq.OrderByValue{})
		case "value-desc":
			out.Orders = append(out.Orders, dsq.OrderByValueDescending{})
		}
	}
	return out
}
