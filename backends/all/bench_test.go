package all_test

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	badgerds "github.com/ipfs/go-ds-badger4"
	leveldbds "github.com/ipfs/go-ds-leveldb"
	pebbleds "github.com/ipfs/go-ds-pebble"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"google.golang.org/protobuf/proto"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/measure"
)

// engines opens each disk engine raw, with the options the default netabase
// URL of the same scheme gives it.
var engines = []struct {
	scheme string
	raw    func(dir string) (ds.Batching, error)
}{
	{"pebble", func(dir string) (ds.Batching, error) {
		return pebbleds.NewDatastore(dir, pebbleds.WithPebbleOpts(pebblestore.EngineOptions()), pebbleds.WithCacheSize(pebblestore.DefaultCacheSize))
	}},
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

// measureFor is how long each side of a comparison runs per round.
var measureFor = flag.Duration("compare.time", time.Second, "how long each side of a RecordStore comparison runs per round")

// run runs op for measureFor and returns the mean time per operation and
// the peak heap in use meanwhile, in MiB. (testing.Benchmark cannot run
// inside a benchmark, so both sides are timed here, the same way.)
func run(ctx context.Context, d ds.Batching, op func(ctx context.Context, d ds.Batching, i int) error) (nsPerOp, peakMiB float64, err error) {
	runtime.GC()
	stop := measure.PeakHeap()
	n := 0
	start := time.Now()
	for time.Since(start) < *measureFor {
		for range 50 {
			if err := op(ctx, d, n); err != nil {
				stop()
				return 0, 0, err
			}
			n++
		}
	}
	elapsed := time.Since(start)
	return float64(elapsed.Nanoseconds()) / float64(n), stop(), nil
}

// BenchmarkRecordStore compares RecordStore over a netabase backend with the
// raw go-ds engine underneath, in the same process, with the same engine
// options. The netabase side is the engine wrapped by core, exactly as the
// registry opens it; the raw side calls the engine directly with the bytes
// RecordStore stores, under the same keys.
//
//   - put: each side writes into a fresh store of its own.
//   - get and scan: both sides read the same store, filled and then closed
//     and reopened, one after the other, so they see the same layout.
//
// Each comparison runs five rounds, alternating which side goes first, each
// side for -compare.time (default 1s) per round, and reports the medians:
// raw-ns/op, netabase-ns/op (also the ns/op column), ratio (netabase
// throughput over raw throughput; 1 means equal), records/s and the peak
// heap of each side.
//
//	go test ./backends/all -run '^$' -bench RecordStore -benchtime 1x
func BenchmarkRecordStore(b *testing.B) {
	f := newFixture(b)
	drivers := map[string]core.Driver{}
	for _, d := range all.Drivers() {
		drivers[d.About().Scheme] = d
	}
	scanPrefix := core.RecordKey("/bench/x").Parent().String()
	fill := func(ctx context.Context, d ds.Batching) error {
		rs := core.NewRecordStore(d)
		for _, r := range f.recs {
			if err := rs.Put(ctx, r); err != nil {
				return err
			}
		}
		return nil
	}

	// rawScan reads every record's bytes from the engine, decoding each with
	// the libp2p record protobuf when decode is set.
	rawScan := func(decode bool) func(ctx context.Context, d ds.Batching, _ int) error {
		return func(ctx context.Context, d ds.Batching, _ int) error {
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
				if decode {
					if err := proto.Unmarshal(r.Value, new(recpb.Record)); err != nil {
						return err
					}
				}
				n++
			}
		}
	}
	records := func(ctx context.Context, d ds.Batching, _ int) error {
		n := 0
		for _, err := range core.NewRecordStore(d).Records(ctx, "bench") {
			if err != nil {
				return err
			}
			n++
		}
		return wantCount(n)
	}

	for _, e := range engines {
		info := drivers[e.scheme].About().Info()
		wrap := func(raw ds.Batching) (core.Backend, error) { return core.Wrap(raw, info) }
		// openFilled opens a store in dir holding the fixture, after a close
		// and reopen.
		openFilled := func(ctx context.Context, dir string) (ds.Batching, error) {
			raw, err := e.raw(dir)
			if err != nil {
				return nil, err
			}
			w, err := wrap(raw)
			if err != nil {
				return nil, err
			}
			err = fill(ctx, w)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			return e.raw(dir)
		}
		for _, c := range []struct {
			name          string
			read          bool // both sides read one filled store
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
				name: "get", read: true,
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
			{name: "scan", read: true, raw: rawScan(false), netabase: records, perOp: benchRecords},
			// The same scan against a raw baseline that also decodes each
			// record the standard way (the libp2p record protobuf, as
			// go-libp2p-kad-dht reads it), for readers who need records rather
			// than bytes.
			{name: "scan-decoded", read: true, raw: rawScan(true), netabase: records, perOp: benchRecords},
		} {
			b.Run(e.scheme+"/"+c.name, func(b *testing.B) {
				ctx := b.Context()
				raw, nb := measure.Samples{}, measure.Samples{}
				for round := range 5 {
					var err error
					if c.read {
						err = compareReads(ctx, filepath.Join(b.TempDir(), "db"), openFilled, wrap, c.raw, c.netabase, round, raw, nb)
					} else {
						err = compareWrites(ctx, b.TempDir(), e.raw, wrap, c.raw, c.netabase, round, raw, nb)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				rawNs, nbNs := raw.Median("ns"), nb.Median("ns")
				b.ReportMetric(nbNs, "ns/op")
				b.ReportMetric(rawNs, "raw-ns/op")
				b.ReportMetric(nbNs, "netabase-ns/op")
				b.ReportMetric(1e9*float64(c.perOp)/nbNs, "netabase-records/s")
				b.ReportMetric(rawNs/nbNs, "ratio")
				b.ReportMetric(raw.Median("peak"), "raw-peak-MiB")
				b.ReportMetric(nb.Median("peak"), "netabase-peak-MiB")
			})
		}
	}
}

// compareReads runs both sides on one filled store, in the round's order
// (measure.Order), adding their figures to raw and nb.
func compareReads(ctx context.Context, dir string, open func(context.Context, string) (ds.Batching, error),
	wrap func(ds.Batching) (core.Backend, error), rawOp, nbOp func(context.Context, ds.Batching, int) error,
	round int, raw, nb measure.Samples) (err error) {
	e, err := open(ctx, dir)
	if err != nil {
		return err
	}
	w, err := wrap(e)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	sides := []func() error{
		func() error { return runInto(ctx, e, rawOp, raw) },
		func() error { return runInto(ctx, w, nbOp, nb) },
	}
	for _, i := range measure.Order(round, len(sides)) {
		if err := sides[i](); err != nil {
			return err
		}
	}
	return nil
}

// runInto runs op as run does and adds its figures to into.
func runInto(ctx context.Context, d ds.Batching, op func(ctx context.Context, d ds.Batching, i int) error, into measure.Samples) error {
	ns, peak, err := run(ctx, d, op)
	into.Add("ns", ns)
	into.Add("peak", peak)
	return err
}

// compareWrites runs each side on a fresh store of its own, in the
// round's order (measure.Order), adding their figures to raw and nb.
func compareWrites(ctx context.Context, tmp string, open func(string) (ds.Batching, error),
	wrap func(ds.Batching) (core.Backend, error), rawOp, nbOp func(context.Context, ds.Batching, int) error,
	round int, raw, nb measure.Samples) error {
	side := func(name string, wrapped bool, op func(context.Context, ds.Batching, int) error, into measure.Samples) (err error) {
		e, err := open(filepath.Join(tmp, name))
		if err != nil {
			return err
		}
		var d ds.Batching = e
		if wrapped {
			if d, err = wrap(e); err != nil {
				return err
			}
		}
		defer func() {
			if cerr := d.Close(); err == nil {
				err = cerr
			}
		}()
		return runInto(ctx, d, op, into)
	}
	sides := []func() error{
		func() error { return side("raw", false, rawOp, raw) },
		func() error { return side("netabase", true, nbOp, nb) },
	}
	for _, i := range measure.Order(round, len(sides)) {
		if err := sides[i](); err != nil {
			return err
		}
	}
	return nil
}

func wantCount(n int) error {
	if n != benchRecords {
		return fmt.Errorf("the scan saw %d records, want %d", n, benchRecords)
	}
	return nil
}
