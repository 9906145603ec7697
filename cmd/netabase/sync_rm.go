package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/control"
)

func newSyncRmCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "rm <name> <key>",
		Short: "Remove this node's value for a key of a synced collection",
		Long: `Remove this node's value for key from the synced collection called name, on
every replica: the node writes a signed tombstone, which replaces the value
wherever it arrives. Tombstones are forgotten after 30 days; a replica
offline longer than that, which still holds the value, brings it back.

Only a value this node wrote can be removed: for a key this node holds no
value of (another writer's key, or one that holds nothing), rm writes
nothing and fails with exit status 1, saying whose values the key holds.` + clientHelp + exitStatusHelp,
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
	if err := c.SyncDelete(ctx, name, key); errors.Is(err, core.ErrNotFound) {
		return nothingToRemove(ctx, c, name, key)
	} else if err != nil {
		return syncErr(err, name)
	}
	if opts.json {
		return writeJSON(e, map[string]string{"collection": name, "removed": key})
	}
	return say(e, "Removed %s from %s; the tombstone goes to every replica.\n", shown(key), name)
}

// nothingToRemove is the failure of removing key, which holds no value of
// this node's in the collection name: it says whose values key holds.
func nothingToRemove(ctx context.Context, c *control.Client, name, key string) error {
	recs, err := c.SyncRecords(ctx, name)
	if err != nil {
		return syncErr(err, name)
	}
	var writers []string
	for _, r := range recs {
		if r.Key == key {
			writers = append(writers, r.Writer)
		}
	}
	msg := fmt.Sprintf("%s holds no value of this node's for %s, so nothing was removed", name, shown(key))
	if len(writers) == 0 {
		return failed(fmt.Errorf("%s; no writer's value for it is here (netabase sync list %s shows the keys)", msg, name))
	}
	if len(writers) == 1 {
		return failed(fmt.Errorf("%s; it holds the value of %s, which only that writer can remove", msg, writers[0]))
	}
	return failed(fmt.Errorf("%s; it holds the values of %s, which only their writers can remove", msg, strings.Join(writers, ", ")))
}
