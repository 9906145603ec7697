package all_test

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	badgerds "github.com/ipfs/go-ds-badger4"
	leveldbds "github.com/ipfs/go-ds-leveldb"
	pebbleds "github.com/ipfs/go-ds-pebble"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
)

// engines opens each disk engine raw, with the options the default netabase
// URL of the same scheme gives it.
var engines = []struct {
	scheme string
	raw    func(dir string) (ds.Batching, error)
}{
	{"pebble", func(dir string) (ds.Batching, error) { return pebbleds.NewDatastore(dir) }},
	{"leveldb", func(dir string) (ds.Batching, error) { return leveldbds.NewDatastore(dir, &leveldbds.Options{}) }},
	{"badger", func(dir string) (ds.Batching, error) {
		o := badgerds.DefaultOptions
		return badgerds.NewDatastore(dir, &o)
	}},
}

const (
	benchRecords   = 10000
	benchValueSize = 1 << 10
)

// fixture is the data both sides of a comparison work with: records, and the
// datastore keys and bytes RecordStore stores them as, so that the raw
// engine stores exactly the same bytes.
type fixture struct {
	recs []core.Record
	keys []ds.Key
	vals [][]byte
}

func newFixture(b *testing.B) *fixture {
	f := &fixture{}
	m := ds.NewMapDatastore()
	rs := core.NewRecordStore(m)
	for i := range benchRecords {
		v := make([]byte, benchValueSize)
		for j := range v {
			v[j] = byte(i*7 + j)
		}
		r := core.Record{Key: fmt.Sprintf("/bench/%08d", i), Value: v}
		if err := rs.Put(b.Context(), r); err != nil {
			b.Fatal(err)
		}
		k := core.RecordKey(r.Key)
		stored, err := m.Get(b.Context(), k)
		if err != nil {
			b.Fatal(err)
		}
		f.recs, f.keys, f.vals = append(f.recs, r), append(f.keys, k), append(f.vals, stored)
	}
	return f
}

// side is one half of a comparison: it opens a store in dir, fills it when
// asked, and runs operation i.
type side struct {
	open func(ctx context.Context, dir string) (ds.Batching, error)
	op   func(ctx context.Context, d ds.Batching, i int) error
}

// measureFor is how long each side of a comparison runs per round.
var measureFor = flag.Duration("compare.time", time.Second, "how long each side of a RecordStore comparison runs per round")

// measure opens s's store, fills it, reopens it, then runs s's operation for
// measureFor and returns the mean time per operation and the peak heap in
// use meanwhile, in MiB. (testing.Benchmark cannot run inside a benchmark,
// so the two sides are timed here, the same way for both.)
func measure(ctx context.Context, dir string, s side, fill func(context.Context, ds.Batching) error) (nsPerOp, peakMiB float64, err error) {
	if fill != nil {
		// Fill, then close and reopen, so that every store is read in the
		// same settled state rather than mid-compaction.
		d, err := s.open(ctx, dir)
		if err != nil {
			return 0, 0, err
		}
		err = fill(ctx, d)
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, 0, err
		}
	}
	d, err := s.open(ctx, dir)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if cerr := d.Close(); err == nil {
			err = cerr
		}
	}()
	runtime.GC()
	stop := samplePeakHeap()
	n := 0
	start := time.Now()
	for time.Since(start) < *measureFor {
		for range 50 {
			if err := s.op(ctx, d, n); err != nil {
				stop()
				return 0, 0, err
			}
			n++
		}
	}
	elapsed := time.Since(start)
	return float64(elapsed.Nanoseconds()) / float64(n), stop(), nil
}

// samplePeakHeap samples the heap in use until the returned function is
// called, which returns the largest value seen, in MiB.
func samplePeakHeap() func() float64 {
	done, result := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		return float64(<-result) / (1 << 20)
	}
}

// BenchmarkRecordStore compares RecordStore, through a netabase backend,
// with the raw go-ds engine underneath storing the same bytes under the same
// keys, with the same engine options, in the same process. Each comparison
// runs raw and netabase alternately five times and reports the medians:
// raw-ns/op, netabase-ns/op, ratio (netabase throughput over raw
// throughput; 1 means equal) and the peak heap of each side.
//
// The framework's own iteration count is not used: each side runs for
// -compare.time per round (default 1s), and ns/op is netabase's.
//
//	go test ./backends/all -run '^$' -bench RecordStore -benchtime 1x
func BenchmarkRecordStore(b *testing.B) {
	f := newFixture(b)
	reg := all.Registry()
	fillRaw := func(ctx context.Context, d ds.Batching) error {
		for i := range f.keys {
			if err := d.Put(ctx, f.keys[i], f.vals[i]); err != nil {
				return err
			}
		}
		return nil
	}
	fillRecords := func(ctx context.Context, d ds.Batching) error {
		rs := core.NewRecordStore(d)
		for _, r := range f.recs {
			if err := rs.Put(ctx, r); err != nil {
				return err
			}
		}
		return nil
	}
	scanPrefix := core.RecordKey("/bench/x").Parent().String()

	for _, e := range engines {
		rawOpen := func(_ context.Context, dir string) (ds.Batching, error) { return e.raw(dir) }
		nbOpen := func(ctx context.Context, dir string) (ds.Batching, error) {
			return reg.Open(ctx, e.scheme+"://"+dir)
		}
		for _, c := range []struct {
			name          string
			rawFill       func(context.Context, ds.Batching) error
			nbFill        func(context.Context, ds.Batching) error
			raw, netabase func(ctx context.Context, d ds.Batching, i int) error
			perOp         int // records an operation touches
		}{
			{
				name: "put",
				raw: func(ctx context.Context, d ds.Batching, i int) error {
					return d.Put(ctx, f.keys[i%benchRecords], f.vals[i%benchRecords])
				},
				netabase: func(ctx context.Context, d ds.Batching, i int) error {
					return core.NewRecordStore(d).Put(ctx, f.recs[i%benchRecords])
				},
				perOp: 1,
			},
			{
				name: "get", rawFill: fillRaw, nbFill: fillRecords,
				raw: func(ctx context.Context, d ds.Batching, i int) error {
					_, err := d.Get(ctx, f.keys[i%benchRecords])
					return err
				},
				netabase: func(ctx context.Context, d ds.Batching, i int) error {
					_, err := core.NewRecordStore(d).Get(ctx, f.recs[i%benchRecords].Key)
					return err
				},
				perOp: 1,
			},
			{
				name: "scan", rawFill: fillRaw, nbFill: fillRecords,
				raw: func(ctx context.Context, d ds.Batching, _ int) error {
					res, err := d.Query(ctx, dsq.Query{Prefix: scanPrefix})
					if err != nil {
						return err
					}
					defer res.Close()
					n := 0
					for {
						r, ok := res.NextSync()
						if !ok {
							return wantCount(n)
						}
						if r.Error != nil {
							return r.Error
						}
						n++
					}
				},
				netabase: func(ctx context.Context, d ds.Batching, _ int) error {
					n := 0
					for _, err := range core.NewRecordStore(d).Records(ctx, "bench") {
						if err != nil {
							return err
						}
						n++
					}
					return wantCount(n)
				},
				perOp: benchRecords,
			},
		} {
			b.Run(e.scheme+"/"+c.name, func(b *testing.B) {
				var rawNs, nbNs, rawPeak, nbPeak []float64
				for round := range 5 {
					ns, peak, err := measure(b.Context(), filepath.Join(b.TempDir(), fmt.Sprint("raw", round)), side{rawOpen, c.raw}, c.rawFill)
					if err != nil {
						b.Fatal(err)
					}
					rawNs, rawPeak = append(rawNs, ns), append(rawPeak, peak)
					ns, peak, err = measure(b.Context(), filepath.Join(b.TempDir(), fmt.Sprint("netabase", round)), side{nbOpen, c.netabase}, c.nbFill)
					if err != nil {
						b.Fatal(err)
					}
					nbNs, nbPeak = append(nbNs, ns), append(nbPeak, peak)
				}
				raw, nb := median(rawNs), median(nbNs)
				b.ReportMetric(nb, "ns/op")
				b.ReportMetric(raw, "raw-ns/op")
				b.ReportMetric(nb, "netabase-ns/op")
				b.ReportMetric(1e9*float64(c.perOp)/nb, "netabase-records/s")
				b.ReportMetric(raw/nb, "ratio")
				b.ReportMetric(median(rawPeak), "raw-peak-MiB")
				b.ReportMetric(median(nbPeak), "netabase-peak-MiB")
			})
		}
	}
}

func wantCount(n int) error {
	if n != benchRecords {
		return fmt.Errorf("the scan saw %d records, want %d", n, benchRecords)
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}
