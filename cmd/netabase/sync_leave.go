package main

import (
	"context"

	"github.com/spf13/cobra"
)

func newSyncLeaveCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "leave <name>",
		Short: "Leave a synced collection",
		Long: `Stop replicating the synced collection called name, and remove it from the
collections the daemon joins at start. The replica stays in the store:
joining again with the same writers resumes it.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a collection name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSyncLeave(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runSyncLeave(ctx context.Context, e *env, opts clientOptions, args []string) error {
	name := args[0]
	if err := checkSyncName(name); err != nil {
		return err
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	if err := c.SyncLeave(ctx, name); err != nil {
		return syncErr(err, name)
	}
	if opts.json {
		return writeJSON(e, map[string]string{"left": name})
	}
	return say(e, "Left %s; its replica stays in the store.\n", name)
}
