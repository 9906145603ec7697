// Command liarplugin is a netabase plugin whose store answers with what no
// correct store returns, chosen by its option lie:
//
//   - extra: a query returns every entry under its prefix, ignoring the
//     limit;
//   - order: a query returns its entries in the reverse of the order it
//     asks for;
//   - dup: a query returns every entry twice in a row;
//   - outside: a query returns every entry of the store, whatever its
//     prefix;
//   - badkey: a query returns its keys without their leading slash;
//   - size: a keys-only query reports a negative size for every entry;
//   - big: Get and queries return values one byte over core.MaxValueSize;
//   - longerror: Get fails with a message of 4 MiB;
//   - hang: every read and write blocks for ever, ignoring its context;
//   - exit: Open writes a line to its stderr and exits with status 3;
//   - hangopen: Open blocks for ever, ignoring its context.
//
// The environment variable LIARPLUGIN_NAME, when set, is the name it
// declares.
package main

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/sdk"
)

type liar struct {
	*dssync.MutexDatastore
	lie string
}

// hang blocks for ever when the lie is hang.
func (l liar) hang() {
	if l.lie == "hang" {
		select {}
	}
}

func (l liar) Has(ctx context.Context, k ds.Key) (bool, error) {
	l.hang()
	return l.MutexDatastore.Has(ctx, k)
}

func (l liar) Put(ctx context.Context, k ds.Key, v []byte) error {
	l.hang()
	return l.MutexDatastore.Put(ctx, k, v)
}

func (l liar) Sync(ctx context.Context, prefix ds.Key) error {
	l.hang()
	return l.MutexDatastore.Sync(ctx, prefix)
}

func (l liar) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	l.hang()
	switch l.lie {
	case "big":
		return make([]byte, core.MaxValueSize+1), nil
	case "longerror":
		return nil, errors.New(strings.Repeat("x", 4<<20))
	}
	return l.MutexDatastore.Get(ctx, k)
}

func (l liar) Query(ctx context.Context, q dsq.Query) (dsq.Results, error) {
	l.hang()
	prefix := q.Prefix
	if l.lie == "outside" {
		prefix = "/"
	}
	res, err := l.MutexDatastore.Query(ctx, dsq.Query{Prefix: prefix, Orders: q.Orders, KeysOnly: q.KeysOnly, ReturnsSizes: q.ReturnsSizes})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	switch l.lie {
	case "order":
		slices.Reverse(entries)
	case "dup":
		var twice []dsq.Entry
		for _, e := range entries {
			twice = append(twice, e, e)
		}
		entries = twice
	case "badkey":
		for i := range entries {
			entries[i].Key = strings.TrimPrefix(entries[i].Key, "/")
		}
	case "size":
		for i := range entries {
			entries[i].Size = -7
		}
	case "big":
		for i := range entries {
			entries[i].Value = make([]byte, core.MaxValueSize+1)
		}
	}
	if l.lie != "extra" && q.Limit > 0 && len(entries) > q.Limit {
		entries = entries[:q.Limit]
	}
	return dsq.ResultsWithEntries(q, entries), nil
}

func (l liar) Batch(ctx context.Context) (ds.Batch, error) { return ds.NewBasicBatch(l), nil }

func main() {
	name := "liar"
	if n, ok := os.LookupEnv("LIARPLUGIN_NAME"); ok {
		name = n
	}
	sdk.Serve(sdk.Config{
		Name:        name,
		Version:     "test",
		MaxProtocol: testplugins.MaxProtocol(),
		Options:     []sdk.Option{{Name: "lie", Kind: sdk.String, Required: true, Doc: "extra, order, dup, outside, badkey, size, big, longerror, hang, exit or hangopen"}},
		Open: func(_ context.Context, opts *sdk.Options) (ds.Batching, error) {
			if opts.String("lie") == "exit" {
				// Straight to file descriptor 2, as a dying runtime writes:
				// go-plugin forwards os.Stderr over the connection.
				_, _ = syscall.Write(2, []byte("liarplugin: giving up at Open\n"))
				os.Exit(3)
			}
			if opts.String("lie") == "hangopen" {
				select {}
			}
			return liar{dssync.MutexWrap(ds.NewMapDatastore()), opts.String("lie")}, nil
		},
	})
}
