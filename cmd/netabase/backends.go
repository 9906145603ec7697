package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core"
)

type backendsOptions struct {
	json bool
}

func newBackendsCmd(e *env) *cobra.Command {
	var opts backendsOptions
	cmd := &cobra.Command{
		Use:   "backends",
		Short: "List the storage backends, their versions and capabilities",
		Long: `List the storage backends this netabase can open: each URL scheme with its
engine version, the capabilities it declares, the shape of its URL and the
parameters the URL accepts.` + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackends(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON instead of a table")
	return cmd
}

func runBackends(_ context.Context, e *env, opts backendsOptions) error {
	var abouts []core.About
	for _, d := range e.registry.Drivers() {
		abouts = append(abouts, d.About())
	}
	if opts.json {
		return writeJSON(e, abouts)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEME\tVERSION\tCAPABILITIES\tURL")
	for _, a := range abouts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Scheme, a.Version, a.Capabilities, a.Form)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nURL parameters:")
	for _, a := range abouts {
		if len(a.Params) == 0 {
			fmt.Fprintf(e.stdout, "  %s: none\n", a.Scheme)
			continue
		}
		for _, p := range a.Params {
			fmt.Fprintf(e.stdout, "  %s: %s — %s\n", a.Scheme, p.Name, p.Doc)
		}
	}
	fmt.Fprintln(e.stdout, "\nCapabilities: "+strings.Join([]string{
		"persistent (data survives a reopen)",
		"durable (synced writes survive a crash)",
		"ttl (keys may expire)",
		"transactions (atomic multi-key commits)",
	}, ", ")+".")
	return nil
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
