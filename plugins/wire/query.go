package wire

import (
	"fmt"

	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
)

var ops = map[dsq.Op]pb.CompareOp{
	dsq.Equal:              pb.CompareOp_COMPARE_OP_EQUAL,
	dsq.NotEqual:           pb.CompareOp_COMPARE_OP_NOT_EQUAL,
	dsq.GreaterThan:        pb.CompareOp_COMPARE_OP_GREATER_THAN,
	dsq.GreaterThanOrEqual: pb.CompareOp_COMPARE_OP_GREATER_THAN_OR_EQUAL,
	dsq.LessThan:           pb.CompareOp_COMPARE_OP_LESS_THAN,
	dsq.LessThanOrEqual:    pb.CompareOp_COMPARE_OP_LESS_THAN_OR_EQUAL,
}

// EncodeQuery returns the wire form of q and whether it carries all of q.
// The protocol knows go-datastore's standard filters and orders; a query
// with any other travels as its prefix alone, and the caller applies the
// rest of q itself to what comes back (dsq.NaiveQueryApply).
func EncodeQuery(q dsq.Query) (*pb.QueryRequest, bool) {
	r := &pb.QueryRequest{
		Prefix:       []byte(q.Prefix),
		KeysOnly:     q.KeysOnly,
		ReturnsSizes: q.ReturnsSizes,
		Limit:        int64(q.Limit),
		Offset:       int64(q.Offset),
	}
	for _, f := range q.Filters {
		w, ok := encodeFilter(f)
		if !ok {
			return &pb.QueryRequest{Prefix: []byte(q.Prefix), ReturnsSizes: q.ReturnsSizes}, false
		}
		r.Filters = append(r.Filters, w)
	}
	for _, o := range q.Orders {
		var w pb.Order
		switch o.(type) {
		case dsq.OrderByKey:
			w = pb.Order_ORDER_KEY_ASCENDING
		case dsq.OrderByKeyDescending:
			w = pb.Order_ORDER_KEY_DESCENDING
		case dsq.OrderByValue:
			w = pb.Order_ORDER_VALUE_ASCENDING
		case dsq.OrderByValueDescending:
			w = pb.Order_ORDER_VALUE_DESCENDING
		default:
			return &pb.QueryRequest{Prefix: []byte(q.Prefix), ReturnsSizes: q.ReturnsSizes}, false
		}
		r.Orders = append(r.Orders, w)
	}
	return r, true
}

func encodeFilter(f dsq.Filter) (*pb.Filter, bool) {
	switch f := f.(type) {
	case dsq.FilterKeyCompare:
		op, ok := ops[f.Op]
		return &pb.Filter{Filter: &pb.Filter_KeyCompare{KeyCompare: &pb.KeyCompare{Op: op, Key: []byte(f.Key)}}}, ok
	case dsq.FilterKeyPrefix:
		return &pb.Filter{Filter: &pb.Filter_KeyPrefix{KeyPrefix: &pb.KeyPrefix{Prefix: []byte(f.Prefix)}}}, true
	case dsq.FilterValueCompare:
		op, ok := ops[f.Op]
		return &pb.Filter{Filter: &pb.Filter_ValueCompare{ValueCompare: &pb.ValueCompare{Op: op, Value: f.Value}}}, ok
	}
	return nil, false
}

// DecodeQuery returns the go-datastore query that r carries. It rejects
// what no host sends: negative counts and unknown operators or orders.
func DecodeQuery(r *pb.QueryRequest) (dsq.Query, error) {
	q := dsq.Query{
		Prefix:       string(r.GetPrefix()),
		KeysOnly:     r.GetKeysOnly(),
		ReturnsSizes: r.GetReturnsSizes(),
	}
	if r.GetLimit() < 0 || r.GetOffset() < 0 || r.GetLimit() > 1<<40 || r.GetOffset() > 1<<40 {
		return q, fmt.Errorf("a query's limit and offset must be between 0 and 2^40, got %d and %d", r.GetLimit(), r.GetOffset())
	}
	q.Limit, q.Offset = int(r.GetLimit()), int(r.GetOffset())
	for _, f := range r.GetFilters() {
		switch f := f.GetFilter().(type) {
		case *pb.Filter_KeyCompare:
			op, err := decodeOp(f.KeyCompare.GetOp())
			if err != nil {
				return q, err
			}
			q.Filters = append(q.Filters, dsq.FilterKeyCompare{Op: op, Key: string(f.KeyCompare.GetKey())})
		case *pb.Filter_KeyPrefix:
			q.Filters = append(q.Filters, dsq.FilterKeyPrefix{Prefix: string(f.KeyPrefix.GetPrefix())})
		case *pb.Filter_ValueCompare:
			op, err := decodeOp(f.ValueCompare.GetOp())
			if err != nil {
				return q, err
			}
			q.Filters = append(q.Filters, dsq.FilterValueCompare{Op: op, Value: f.ValueCompare.GetValue()})
		default:
			return q, fmt.Errorf("a query filter of a kind this plugin does not know")
		}
	}
	for _, o := range r.GetOrders() {
		switch o {
		case pb.Order_ORDER_KEY_ASCENDING:
			q.Orders = append(q.Orders, dsq.OrderByKey{})
		case pb.Order_ORDER_KEY_DESCENDING:
			q.Orders = append(q.Orders, dsq.OrderByKeyDescending{})
		case pb.Order_ORDER_VALUE_ASCENDING:
			q.Orders = append(q.Orders, dsq.OrderByValue{})
		case pb.Order_ORDER_VALUE_DESCENDING:
			q.Orders = append(q.Orders, dsq.OrderByValueDescending{})
		default:
			return q, fmt.Errorf("a query order %v this plugin does not know", o)
		}
	}
	return q, nil
}

func decodeOp(op pb.CompareOp) (dsq.Op, error) {
	for k, v := range ops {
		if v == op {
			return k, nil
		}
	}
	return "", fmt.Errorf("a query filter with the unknown operator %v", op)
}

// EncodeSeek returns the wire form (protocol version 2) of q.
func EncodeSeek(q core.SeekQuery) *pb2.Seek {
	return &pb2.Seek{
		Prefix:     []byte(q.Prefix),
		Start:      []byte(q.Start),
		Descending: q.Descending,
		Limit:      int64(q.Limit),
		KeysOnly:   q.KeysOnly,
	}
}

// DecodeSeek returns the query that starts at a key which r carries. It
// rejects what no host sends: a negative or absurd limit.
func DecodeSeek(r *pb2.Seek) (core.SeekQuery, error) {
	q := core.SeekQuery{
		Prefix:     string(r.GetPrefix()),
		Start:      string(r.GetStart()),
		Descending: r.GetDescending(),
		KeysOnly:   r.GetKeysOnly(),
	}
	if r.GetLimit() < 0 || r.GetLimit() > 1<<40 {
		return q, fmt.Errorf("a query's limit must be between 0 and 2^40, got %d", r.GetLimit())
	}
	q.Limit = int(r.GetLimit())
	return q, nil
}
