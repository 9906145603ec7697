package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/internal/control"
)

func newRmCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "rm <key>",
		Short: "Remove the local copy of a record",
		Long: `Remove the node's local copy of a record. Peers keep theirs, so a later
netabase get may fetch it back. A key without a leading slash names one of
this node's own records.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRm(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runRm(ctx context.Context, e *env, opts clientOptions, args []string) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	key, err := recordKey(ctx, c, args[0])
	if err != nil {
		return clientErr(err)
	}
	if err := c.Remove(ctx, key); err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, control.KeyRequest{Key: key})
	}
	return say(e, "Removed the local copy of %s; peers keep theirs.\n", key)
}
