package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

type findprovsOptions struct {
	clientOptions
	limit int
}

func newFindprovsCmd(e *env) *cobra.Command {
	var opts findprovsOptions
	cmd := &cobra.Command{
		Use:   "findprovs <key>",
		Short: "Find the providers of a key",
		Long: `Find the peers that provide a key, in the node's store and on the network.
The key is turned into a CID as netabase provide turns it; the command
prints the CID, then one provider per line with its addresses.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFindprovs(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	cmd.Flags().IntVar(&opts.limit, "limit", 0, "stop after this many providers (0: ask the closest peers, and print all found)")
	return cmd
}

func runFindprovs(ctx context.Context, e *env, opts findprovsOptions, args []string) error {
	if opts.limit < 0 {
		return usageErrorf("--limit %d is negative", opts.limit)
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	res, err := c.FindProviders(ctx, args[0], opts.limit)
	if err != nil {
		return clientErr(err)
	}
	noteNotCID(e, args[0], res.CID)
	if opts.json {
		return writeJSON(e, res)
	}
	if len(res.Providers) == 0 {
		return printSay(e, res.CID, "No providers found.\n")
	}
	var b strings.Builder
	fmt.Fprintln(&b, res.CID)
	for _, p := range res.Providers {
		fmt.Fprintf(&b, "%s %s\n", p.ID, strings.Join(p.Addrs, " "))
	}
	return printf(e, "%s", b.String())
}
