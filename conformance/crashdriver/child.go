package crashdriver

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
)

// ServeChild returns at once unless this process is a child a crash driver
// started. Then it opens the store the parent named with d, serves it until
// the parent closes it, kills the child or goes away, and exits. A test
// binary's TestMain calls it before running the tests.
func ServeChild(d core.Driver) {
	rawURL, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if err := serve(d, rawURL); err != nil {
		fmt.Fprintln(os.Stderr, "crashdriver child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serve(d core.Driver, rawURL string) error {
	enc := gob.NewEncoder(os.NewFile(responseFD, "responses"))
	dec := gob.NewDecoder(os.NewFile(requestFD, "requests"))
	ctx := context.Background()
	u, err := url.Parse(rawURL)
	var b ds.Batching
	if err == nil {
		b, err = d.Open(ctx, u)
	}
	if eerr := enc.Encode(respond(err)); err != nil || eerr != nil {
		return errors.Join(err, eerr)
	}
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			// The parent went away without closing the store.
			cerr := b.Close()
			if errors.Is(err, io.EOF) {
				return cerr
			}
			return errors.Join(err, cerr)
		}
		if req.Op == opClose {
			return enc.Encode(respond(b.Close()))
		}
		if err := enc.Encode(handle(ctx, b, &req)); err != nil {
			return errors.Join(err, b.Close())
		}
	}
}

// handle runs one request on b.
func handle(ctx context.Context, b ds.Batching, req *request) *response {
	k := ds.RawKey(req.Key)
	switch req.Op {
	case opGet:
		v, err := b.Get(ctx, k)
		resp := respond(err)
		resp.Value = v
		return resp
	case opHas:
		has, err := b.Has(ctx, k)
		resp := respond(err)
		resp.Has = has
		return resp
	case opGetSize:
		n, err := b.GetSize(ctx, k)
		resp := respond(err)
		resp.Size = n
		return resp
	case opPut:
		return respond(b.Put(ctx, k, nonNil(req.Value)))
	case opDelete:
		return respond(b.Delete(ctx, k))
	case opSync:
		return respond(b.Sync(ctx, k))
	case opCommit:
		return respond(commit(ctx, b, req.Batch))
	case opQuery:
		res, err := b.Query(ctx, req.Query.decode())
		if err != nil {
			return respond(err)
		}
		es, err := res.Rest()
		resp := respond(err)
		resp.Entries = es
		return resp
	}
	return respond(fmt.Errorf("the crash driver's child got an unknown request, %s", req.Op))
}

func commit(ctx context.Context, b ds.Batching, ops []batchOp) error {
	bt, err := b.Batch(ctx)
	if err != nil {
		return err
	}
	for _, o := range ops {
		k := ds.RawKey(o.Key)
		if o.Delete {
			err = bt.Delete(ctx, k)
		} else {
			err = bt.Put(ctx, k, nonNil(o.Value))
		}
		if err != nil {
			return err
		}
	}
	return bt.Commit(ctx)
}
