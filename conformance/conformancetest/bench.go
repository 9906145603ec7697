package conformancetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
)

// BenchValueSize is the value size RunBenchmarks writes.
const BenchValueSize = 1 << 10

// RunBenchmarks measures a backend: single puts, batched puts, gets, a
// prefix scan and RecordStore puts and gets, each on a fresh instance.
func RunBenchmarks(b *testing.B, h conformance.Harness) {
	// Random, so that an engine that compresses values stores all of them.
	value := make([]byte, BenchValueSize)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(value)
	key := func(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/bench/%09d", i)) }
	const prefill = 10000

	bench := func(name string, fill bool, bytesPerOp int64, op func(ctx context.Context, d ds.Batching, i int) error) {
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			inst, err := h.NewInstance(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer inst.Destroy()
			d, err := inst.Open(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			if fill {
				for i := range prefill {
					if err := d.Put(ctx, key(i), value); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetBytes(bytesPerOp)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := op(ctx, d, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	bench("put", false, BenchValueSize, func(ctx context.Context, d ds.Batching, i int) error {
		return d.Put(ctx, key(i), value)
	})
	bench("batch-put", false, BenchValueSize, func(ctx context.Context, d ds.Batching, i int) error {
		if i%100 != 0 {
			return nil
		}
		bt, err := d.Batch(ctx)
		if err != nil {
			return err
		}
		for j := range 100 {
			if err := bt.Put(ctx, key(i+j), value); err != nil {
				return err
			}
		}
		return bt.Commit(ctx)
	})
	bench("get", true, BenchValueSize, func(ctx context.Context, d ds.Batching, i int) error {
		_, err := d.Get(ctx, key(i%prefill))
		return err
	})
	bench("scan-1000", true, 1000*BenchValueSize, func(ctx context.Context, d ds.Batching, i int) error {
		res, err := d.Query(ctx, dsq.Query{Prefix: "/bench", Limit: 1000})
		if err != nil {
			return err
		}
		es, err := res.Rest()
		if err == nil && len(es) != 1000 {
			err = fmt.Errorf("scan returned %d entries", len(es))
		}
		return err
	})
	bench("record-put", false, BenchValueSize, func(ctx context.Context, d ds.Batching, i int) error {
		return core.NewRecordStore(d).Put(ctx, core.Record{Key: fmt.Sprintf("/bench/%09d", i), Value: value})
	})
	bench("record-get", false, BenchValueSize, func(ctx context.Context, d ds.Batching, i int) error {
		rs := core.NewRecordStore(d)
		k := fmt.Sprintf("/bench/%09d", i%100)
		if i < 100 {
			if err := rs.Put(ctx, core.Record{Key: k, Value: value}); err != nil {
				return err
			}
		}
		_, err := rs.Get(ctx, k)
		return err
	})
}
