package gateway_test

import (
	"context"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	gc "github.com/netabase/netabase/core/gateway/gatewayclient"
	"github.com/netabase/netabase/core/replica"
)

// BenchmarkRecord reads one record: from the node (node.GetRecord, the
// baseline), and through the gateway over loopback HTTP, verified by the
// client (what a page does).
func BenchmarkRecord(b *testing.B) {
	n, srv := startNode(b)
	ctx := testContext(b)
	res, err := n.Publish(ctx, "greeting", "text/plain", 1, make([]byte, 1024))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("node", func(b *testing.B) {
		for b.Loop() {
			if _, err := n.GetRecord(ctx, res.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
	c := client(b, srv)
	b.Run("gateway", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Record(ctx, res.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCatchUp fills an empty replica with a collection of 1000
// records of 1 KiB: through the gateway's event stream with Follow (each
// envelope verified once, by the replica, then inserted), against the
// baseline of verifying and inserting the same envelopes directly. Both
// report records/s.
func BenchmarkCatchUp(b *testing.B) {
	const records = 1000
	n, srv := startNode(b)
	ctx := testContext(b)
	s, err := n.JoinSync(ctx, replica.Settings{Name: "notes"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range records {
		if _, err := s.Put(ctx, fmt.Sprintf("n%04d", i), make([]byte, 1024)); err != nil {
			b.Fatal(err)
		}
	}
	var envs [][]byte
	for _, it := range s.Replica().Items() {
		e, err := s.Replica().Envelope(ctx, it.Key)
		if err != nil {
			b.Fatal(err)
		}
		envs = append(envs, e)
	}
	open := func() *replica.Replica {
		r, err := replica.Open(ctx, dssync.MutexWrap(ds.NewMapDatastore()), notes(b))
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			r := open()
			vs := make([]replica.Verified, 0, len(envs))
			for _, e := range envs {
				v, err := r.Verify(e)
				if err != nil {
					b.Fatal(err)
				}
				vs = append(vs, v)
			}
			if got, err := r.Insert(ctx, "", vs); err != nil || got != records {
				b.Fatalf("inserted %d: %v", got, err)
			}
		}
		b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	c := client(b, srv)
	b.Run("gateway", func(b *testing.B) {
		for b.Loop() {
			r := open()
			fctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- gc.Follow(fctx, c, r, ds.NewMapDatastore(), func(p gc.Progress) {
					if p.Ready {
						cancel()
					}
				})
			}()
			<-done
			if got := len(r.Items()); got != records {
				b.Fatalf("caught up %d records", got)
			}
		}
		b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
