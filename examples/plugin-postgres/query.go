package main

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// A query reads a page of at most pageRows rows per statement, and stops
// reading a page early once it holds pageBytes of values: no statement
// holds a connection while the host consumes results, and memory stays
// bounded whatever the values' sizes.
const (
	pageRows  = 256
	pageBytes = 4 << 20
)

// column is one column the results are sorted by.
type column struct {
	name string // key or value
	desc bool
}

// plan is a datastore query in SQL: the WHERE clause of its prefix and
// filters, its sort, its offset and limit; and what is left to apply in Go
// when the query has a filter or an order SQL cannot express.
type plan struct {
	where  []string
	args   []any
	sort   []column
	value  bool // the rows' values are read
	offset int
	limit  int // 0: no limit
	rest   *query.Query
}

var sqlOps = map[query.Op]string{
	query.Equal: "=", query.NotEqual: "<>",
	query.GreaterThan: ">", query.GreaterThanOrEqual: ">=",
	query.LessThan: "<", query.LessThanOrEqual: "<=",
}

func (p *plan) arg(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// startsWith returns the conditions of "key starts with prefix" as a
// range, so the primary key's index serves it.
func (p *plan) startsWith(prefix string) []string {
	conds := []string{"key >= " + p.arg([]byte(prefix))}
	if end, ok := successor(prefix); ok {
		conds = append(conds, "key < "+p.arg(end))
	}
	return conds
}

// successor is the least byte string greater than every string that starts
// with prefix; ok is false when there is none (prefix is empty or all 0xff).
func successor(prefix string) ([]byte, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return b[:i+1], true
		}
	}
	return nil, false
}

// planQuery turns q into SQL as far as it can: the prefix, every filter of
// go-datastore's kinds, orders by key and value, offset and limit. A filter
// or an order of another kind leaves the filters, orders, offset and limit
// to go-datastore's helpers, on rows read in key order.
func planQuery(q query.Query) *plan {
	p := &plan{value: !q.KeysOnly}
	prefix := q.Prefix
	if !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	prefix = path.Clean(prefix)
	if prefix != "/" {
		prefix += "/"
	}
	p.where = append(p.where, p.startsWith(prefix)...)
	pushed := true
	var filters []string
	for _, f := range q.Filters {
		switch f := f.(type) {
		case query.FilterKeyCompare:
			op, ok := sqlOps[f.Op]
			pushed = pushed && ok
			filters = append(filters, "key "+op+" "+p.arg([]byte(f.Key)))
		case query.FilterValueCompare:
			op, ok := sqlOps[f.Op]
			pushed = pushed && ok
			filters = append(filters, "value "+op+" "+p.arg(f.Value))
		case query.FilterKeyPrefix:
			filters = append(filters, p.startsWith(f.Prefix)...)
		default:
			pushed = false
		}
	}
	var sort []column
orders:
	for _, o := range q.Orders {
		switch o.(type) {
		case query.OrderByKey:
			sort = append(sort, column{name: "key"})
			break orders // keys are unique: later orders change nothing
		case query.OrderByKeyDescending:
			sort = append(sort, column{name: "key", desc: true})
			break orders
		case query.OrderByValue:
			sort = append(sort, column{name: "value"})
		case query.OrderByValueDescending:
			sort = append(sort, column{name: "value", desc: true})
		default:
			pushed = false
		}
	}
	if !pushed {
		// Read the prefix in key order; go-datastore applies the rest.
		rest := q
		rest.Prefix = ""
		p.rest, p.sort, p.value = &rest, []column{{name: "key"}}, true
		p.args = p.args[:0]
		p.where = p.where[:0]
		p.where = append(p.where, p.startsWith(prefix)...)
		return p
	}
	p.where = append(p.where, filters...)
	// go-datastore breaks ties by key, ascending.
	if len(sort) == 0 || sort[len(sort)-1].name != "key" {
		sort = append(sort, column{name: "key"})
	}
	p.sort = sort
	for _, c := range sort {
		if c.name == "value" {
			p.value = true
		}
	}
	p.offset, p.limit = q.Offset, q.Limit
	return p
}

// page returns the statement that reads the next page: the rows after
// last (the sort columns' values of the last row read; nil for the first
// page), at most n of them, skipping offset.
func (p *plan) page(table string, last []any, n, offset int) (string, []any) {
	args := append([]any(nil), p.args...)
	where := append([]string(nil), p.where...)
	if last != nil {
		// The rows after last in the sort order: for sort columns
		// c1..cn, (c1, ..., ck-1) equal to last's and ck beyond it, for
		// some k.
		var ors []string
		for k, c := range p.sort {
			var ands []string
			for j := range k {
				args = append(args, last[j])
				ands = append(ands, fmt.Sprintf("%s = $%d", p.sort[j].name, len(args)))
			}
			op := ">"
			if c.desc {
				op = "<"
			}
			args = append(args, last[k])
			ands = append(ands, fmt.Sprintf("%s %s $%d", c.name, op, len(args)))
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	cols := "key, octet_length(value)"
	if p.value {
		cols += ", value"
	}
	var order []string
	for _, c := range p.sort {
		if c.desc {
			order = append(order, c.name+" DESC")
		} else {
			order = append(order, c.name)
		}
	}
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT %d", cols, table,
		strings.Join(where, " AND "), strings.Join(order, ", "), n)
	if offset > 0 {
		sql += fmt.Sprintf(" OFFSET %d", offset)
	}
	return sql, args
}

// QueryFrom runs a query that starts at a key (core.Seeker): a range over
// the primary key's index from the start, a page at a time, so the rows
// before the start are never read.
func (s *store) QueryFrom(ctx context.Context, q core.SeekQuery) (query.Results, error) {
	lo, hi := q.Bounds()
	p := &plan{value: !q.KeysOnly, sort: []column{{name: "key", desc: q.Descending}}, limit: q.Limit}
	p.where = append(p.where, "key >= "+p.arg(lo), "key < "+p.arg(hi))
	it := &pager{s: s, ctx: ctx, p: p, keysOnly: q.KeysOnly, left: p.limit}
	return query.ResultsFromIterator(q.Query(), query.Iterator{Next: it.next, Close: func() error { return nil }}), nil
}

// Query runs q a page at a time.
func (s *store) Query(ctx context.Context, q query.Query) (query.Results, error) {
	p := planQuery(q)
	// Go's helpers may need the values (a filter or an order by value).
	it := &pager{s: s, ctx: ctx, p: p, keysOnly: q.KeysOnly && p.rest == nil, offset: p.offset, left: p.limit}
	res := query.ResultsFromIterator(q, query.Iterator{Next: it.next, Close: func() error { return nil }})
	if p.rest != nil {
		return query.NaiveQueryApply(*p.rest, res), nil
	}
	return res, nil
}

// pager reads a query's pages.
type pager struct {
	s        *store
	ctx      context.Context
	p        *plan
	keysOnly bool
	offset   int // rows still to skip, for the first page
	left     int // rows still to return when the query has a limit
	last     []any
	page     []query.Entry
	done     bool
}

func (it *pager) next() (query.Result, bool) {
	if len(it.page) == 0 && !it.done {
		if err := it.read(); err != nil {
			it.done = true
			return query.Result{Error: err}, true
		}
	}
	if len(it.page) == 0 {
		return query.Result{}, false
	}
	e := it.page[0]
	it.page = it.page[1:]
	return query.Result{Entry: e}, true
}

// read fills the next page.
func (it *pager) read() error {
	n := pageRows
	if it.p.limit > 0 {
		n = min(n, it.left)
	}
	sql, args := it.p.page(it.s.cfg.table, it.last, n, it.offset)
	rows, err := it.s.pool.Query(it.ctx, sql, args...)
	if err != nil {
		return it.s.fail("query", err)
	}
	defer rows.Close()
	got, bytes := 0, 0
	for rows.Next() {
		var k, value []byte
		var size int
		dest := []any{&k, &size}
		if it.p.value {
			dest = append(dest, &value)
		}
		if err := rows.Scan(dest...); err != nil {
			return it.s.fail("query", err)
		}
		e := query.Entry{Key: string(k), Size: size}
		if !it.keysOnly {
			if value == nil {
				value = []byte{}
			}
			e.Value = value
		}
		it.page = append(it.page, e)
		it.last = it.last[:0]
		for _, c := range it.p.sort {
			if c.name == "key" {
				it.last = append(it.last, k)
			} else {
				it.last = append(it.last, value)
			}
		}
		got++
		bytes += len(value)
		if bytes >= pageBytes {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		it.page = nil
		return it.s.fail("query", err)
	}
	it.offset = 0
	if it.p.limit > 0 {
		it.left -= got
	}
	if (got < n && bytes < pageBytes) || (it.p.limit > 0 && it.left == 0) {
		it.done = true
	}
	return nil
}
