package main

import (
	"context"

	"github.com/spf13/cobra"
)

func newSyncPutCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "put <name> <key> <value | @file | ->",
		Short: "Write this node's value for a key of a synced collection",
		Long: `Write this node's value for key in the synced collection called name: the
node signs the record, stores it and sends it to the peers that share the
collection, and says how many peers sharing it got it at once (the others
get it when they next reconcile). It replaces this node's older value for
key; other writers' values for the same key are theirs and stay.

The value is the argument itself, the contents of a file (@path), or
standard input (-).

Examples:
  netabase sync put chat hello 'hello, world'
  date | netabase sync put chat now -` + clientHelp + exitStatusHelp,
		Args: exactArgs(3, "a collection name, a key and a value"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSyncPut(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runSyncPut(ctx context.Context, e *env, opts clientOptions, args []string) error {
	name, key := args[0], args[1]
	if err := checkSyncName(name); err != nil {
		return err
	}
	if key == "" {
		return usageErrorf("<key> is empty; give the record a key")
	}
	// The record's name is the collection's and the key (SYNC.md §3).
	if err := checkRecordName(name + "/" + key); err != nil {
		return err
	}
	value, err := readValue(e, args[2])
	if err != nil {
		return err
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	rec, err := c.SyncPut(ctx, name, key, value)
	if err != nil {
		return syncErr(err, name)
	}
	if opts.json {
		return writeJSON(e, rec)
	}
	if rec.SentTo == 0 {
		return say(e, "Wrote %s in %s (%s); no peer shares %s now, so peers get it when they next reconcile.\n",
			shown(key), name, plural(len(value), "byte"), name)
	}
	return say(e, "Wrote %s in %s (%s); sent to %s sharing it, the others get it when they next reconcile.\n",
		shown(key), name, plural(len(value), "byte"), plural(rec.SentTo, "peer"))
}
