package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/compare"
	"github.com/netabase/netabase/plugins/host"
)

type benchOptions struct {
	baseline   string
	json       bool
	records    int
	rounds     int
	scratchDir string
}

// benchValueSize is the size of the values netabase bench writes.
const benchValueSize = 1 << 10

// defaultBaseline is the default --baseline: pebble in-process. Only its
// scratch stores are used, so its path is never touched.
var defaultBaseline = "pebble://" + filepath.ToSlash(filepath.Join(os.TempDir(), "netabase-bench-baseline"))

func newBenchCmd(e *env) *cobra.Command {
	var opts benchOptions
	cmd := &cobra.Command{
		Use:   "bench <storage-url>",
		Short: "Measure a storage backend's record throughput against a baseline",
		Long: `Measure RecordStore throughput on the backend a storage URL names, side by
side in this process with a baseline backend (default: pebble): batched puts
(100 records per batch) and single puts, each ended by a Sync, so that a
backend that queues writes is timed until they are durable; gets in random
order and a scan of every record. Like netabase conformance, it works on fresh scratch stores
created with each URL's options in a temporary directory: the data at a
URL's own path is never read or written.

Each round runs every operation on both backends, alternating which goes
first; the report gives the medians over the rounds of records/s for each
side, their ratio (above 1, the backend is faster than the baseline) and
the peak Go heap of this process in use while the operation ran (a
plugin's own process is not counted, so its column shows only the host's
side). Figures vary from run to run; the ratio, measured side by side,
varies less.

Examples:
  netabase bench leveldb:///tmp/x
  netabase bench --baseline memory:// --records 100000 badger:///tmp/x
  netabase bench --json plugin:///opt/store?sha256=...` + exitStatusHelp,
		Args: exactArgs(1, "one storage URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), e, opts, args)
		},
	}
	cmd.Flags().StringVar(&opts.baseline, "baseline", defaultBaseline, "the storage URL to compare with")
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&opts.records, "records", 10000, "records (of 1 KiB) each operation writes or reads")
	cmd.Flags().IntVar(&opts.rounds, "rounds", 3, "rounds per backend")
	cmd.Flags().StringVar(&opts.scratchDir, "scratch-dir", "", "where scratch stores are created (default: the system temporary directory)")
	return cmd
}

// benchBackend is one side of a bench report.
type benchBackend struct {
	URL     string    `json:"url"`
	Backend core.Info `json:"backend"`
}

// benchReport is the JSON form of a run.
type benchReport struct {
	Subject    benchBackend     `json:"subject"`
	Baseline   benchBackend     `json:"baseline"`
	Records    int              `json:"records"`
	ValueSize  int              `json:"value_size"`
	Rounds     int              `json:"rounds"`
	Operations []compare.Result `json:"operations"`
}

func runBench(ctx context.Context, e *env, opts benchOptions, args []string) error {
	if opts.records < 1 {
		return usageErrorf("--records must be at least 1 (got %d)", opts.records)
	}
	if opts.rounds < 1 {
		return usageErrorf("--rounds must be at least 1 (got %d)", opts.rounds)
	}
	if err := checkScratchDir(opts.scratchDir); err != nil {
		return err
	}
	subject, sh, err := benchHarness(ctx, e, args[0], opts.scratchDir)
	if err != nil {
		return err
	}
	baseline, bh, err := benchHarness(ctx, e, opts.baseline, opts.scratchDir)
	if err != nil {
		return fmt.Errorf("--baseline: %w", err)
	}
	rep := benchReport{Subject: subject, Baseline: baseline, Records: opts.records, ValueSize: benchValueSize, Rounds: opts.rounds}
	if !opts.json {
		fmt.Fprintf(e.stdout, "Backend %s (%s) against baseline %s (%s), on scratch stores:\n",
			subject.Backend.Name, subject.Backend.Version, baseline.Backend.Name, baseline.Backend.Version)
		fmt.Fprintf(e.stdout, "%s records of %d B, %d round(s) alternating sides, medians.\n\n",
			group(float64(opts.records)), benchValueSize, opts.rounds)
	}
	copts := compare.Options{Records: opts.records, ValueSize: benchValueSize, Rounds: opts.rounds}
	rep.Operations, err = compare.Stores(ctx, sh, bh, copts, progressBar(e))
	if err != nil {
		return failed(fmt.Errorf("the measurement failed: %w", err))
	}
	if opts.json {
		return writeJSON(e, rep)
	}
	return writeBenchTable(e, rep)
}

// benchHarness resolves a storage URL into the harness of its scratch
// stores, as netabase conformance does.
func benchHarness(ctx context.Context, e *env, rawURL, scratchDir string) (benchBackend, conformance.Harness, error) {
	u, d, err := e.registry.Resolve(rawURL)
	if err != nil {
		return benchBackend{}, nil, err
	}
	info, err := d.Describe(ctx, u)
	if err != nil {
		return benchBackend{}, nil, err
	}
	return benchBackend{URL: core.ShownURL(u), Backend: info}, conformance.URLHarness(d, u, info, scratchDir), nil
}

func writeBenchTable(e *env, rep benchReport) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "OPERATION\t%s (records/s)\tBASELINE %s\tRATIO\tPEAK HEAP (MiB)\t\n",
		strings.ToUpper(rep.Subject.Backend.Name), strings.ToUpper(rep.Baseline.Backend.Name))
	for _, c := range rep.Operations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.0f / %.0f\t\n", c.Op, group(c.Subject.RecordsPerSec),
			group(c.Baseline.RecordsPerSec), c.Ratio, c.Subject.PeakHeapMiB, c.Baseline.PeakHeapMiB)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.stdout, "\nratio: %s's records/s over the baseline's (above 1, %s is faster); peak heap: %s / baseline, of this process.\n",
		rep.Subject.Backend.Name, rep.Subject.Backend.Name, rep.Subject.Backend.Name); err != nil {
		return err
	}
	for _, side := range []benchBackend{rep.Subject, rep.Baseline} {
		if strings.HasPrefix(side.URL, host.Scheme+":") {
			if _, err := fmt.Fprintf(e.stdout, "%s runs in a process of its own, whose memory the peak heap does not count.\n", side.Backend.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// group formats x rounded to a whole number, with thousands separated by
// commas: 12,345.
func group(x float64) string {
	s := strconv.FormatFloat(math.Round(x), 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
