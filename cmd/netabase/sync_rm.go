package main

import (
	"context"

	"github.com/spf13/cobra"
)

func newSyncRmCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "rm <name> <key>",
		Short: "Remove this node's value for a key of a synced collection",
		Long: `Remove this node's value for key from the synced collection called name, on
every replica: the node writes a signed tombstone, which replaces the value
wherever it arrives. Tombstones are forgotten after 30 days; a replica
offline longer than that, which still holds the value, brings it back.` + clientHelp + exitStatusHelp,
		Args: exactArgs(2, "a collection name and a key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSyncRm(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runSyncRm(ctx context.Context, e *env, opts clientOptions, args []string) error {
	name, key := args[0], args[1]
	if err := checkSyncName(name); err != nil {
		return err
	}
	if key == "" {
		return usageErrorf("<key> is empty; give the key to remove")
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	if err := c.SyncDelete(ctx, name, key); err != nil {
		return syncErr(err, name)
	}
	if opts.json {
		return writeJSON(e, map[string]string{"collection": name, "removed": key})
	}
	return say(e, "Removed %s from %s; the tombstone goes to every replica.\n", shown(key), name)
}
