package main

import (
	"context"

	"github.com/spf13/cobra"
)

func newUnprovideCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "unprovide <key>",
		Short: "Stop providing a key",
		Long: `Remove this node's provider record for a key and stop re-announcing it.
Peers that stored the announcement keep it until it expires (48 hours).
The key is turned into a CID as netabase provide turns it.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUnprovide(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runUnprovide(ctx context.Context, e *env, opts clientOptions, args []string) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	res, err := c.Unprovide(ctx, args[0])
	if err != nil {
		return clientErr(err)
	}
	noteNotCID(e, args[0], res.CID)
	if opts.json {
		return writeJSON(e, res)
	}
	return printSay(e, res.CID, "No longer providing it; peers that stored the announcement keep it until it expires.\n")
}
