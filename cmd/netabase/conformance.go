package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
)

type conformanceOptions struct {
	json       bool
	scratchDir string
}

func newConformanceCmd(e *env) *cobra.Command {
	var opts conformanceOptions
	cmd := &cobra.Command{
		Use:   "conformance <storage-url>",
		Short: "Run the conformance suite against a storage backend",
		Long: `Run the conformance suite against the backend a storage URL names, on
fresh scratch stores created with the URL's options in a temporary
directory: the data at the URL's own path is never read or written. A
plugin whose data lives on a server gets a fresh namespace there (a scratch
table, say) for each scratch store, dropped afterwards.

Examples:
  netabase conformance memory://
  netabase conformance pebble:///tmp/x?sync=true
  netabase conformance --json leveldb:///tmp/x` + exitStatusHelp,
		Args: exactArgs(1, "one storage URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConformance(cmd.Context(), e, opts, args)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&opts.scratchDir, "scratch-dir", "", "where scratch stores are created (default: the system temporary directory)")
	return cmd
}

// conformanceReport is the JSON form of a run.
type conformanceReport struct {
	URL     string    `json:"url"`
	Backend core.Info `json:"backend"`
	Passed  bool      `json:"passed"`
	*conformance.Report
}

func runConformance(ctx context.Context, e *env, opts conformanceOptions, args []string) error {
	u, d, err := e.registry.Resolve(args[0])
	if err != nil {
		return err
	}
	info, err := d.Describe(ctx, u)
	if err != nil {
		return err
	}
	if err := checkScratchDir(opts.scratchDir); err != nil {
		return err
	}
	if !opts.json {
		fmt.Fprintf(e.stdout, "Backend %s (%s), capabilities: %s\n", info.Name, info.Version, info.Capabilities)
		fmt.Fprintf(e.stdout, "Running conformance suite v%s on scratch stores.\n\n", conformance.Version)
	}
	h := conformance.URLHarness(d, u, info, opts.scratchDir)
	rep, err := conformance.CheckProgress(ctx, h, progress(e))
	if _, ok := errors.AsType[*conformance.SetupError](err); ok {
		return failed(err)
	}
	if err != nil {
		return failed(fmt.Errorf("the suite did not finish: %w", err))
	}
	if opts.json {
		err = writeJSON(e, conformanceReport{URL: core.ShownURL(u), Backend: info, Passed: rep.Passed(), Report: rep})
	} else {
		_, err = fmt.Fprint(e.stdout, rep)
	}
	if err != nil {
		return err
	}
	if !rep.Passed() {
		return failed(errors.New(info.Name + " failed the conformance suite"))
	}
	return nil
}

// checkScratchDir checks a --scratch-dir flag: empty, or a directory.
func checkScratchDir(dir string) error {
	if dir == "" {
		return nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usageErrorf("--scratch-dir %s is not a directory", dir)
	}
	return nil
}

// progress returns a progress display of the suite's cases on a
// terminal's stderr, or nil.
func progress(e *env) func(name string, i, n int, res *conformance.CaseResult) {
	bar := progressBar(e)
	if bar == nil {
		return nil
	}
	return func(name string, i, n int, res *conformance.CaseResult) { bar(name, i, n, res != nil) }
}

// progressBar returns a progress display on a terminal's stderr, or nil:
// called with done false when step i of n starts (named name), and with
// done true when it ends.
func progressBar(e *env) func(name string, i, n int, done bool) {
	if !e.terminal {
		return nil
	}
	var bar *progressbar.ProgressBar
	return func(name string, i, n int, done bool) {
		if bar == nil {
			bar = progressbar.NewOptions(n,
				progressbar.OptionSetWriter(e.stderr),
				progressbar.OptionShowCount(),
				progressbar.OptionSetWidth(30),
				progressbar.OptionClearOnFinish(),
			)
		}
		if !done {
			bar.Describe(name)
			return
		}
		_ = bar.Add(1)
		if i == n-1 {
			_ = bar.Finish()
		}
	}
}
