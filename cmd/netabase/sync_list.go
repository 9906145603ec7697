package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newSyncListCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "list <name>",
		Short: "List every writer's values in a synced collection",
		Long: `List the values the node's replica of the synced collection called name
holds: every writer's live values (removed ones left out), by writer and
key, with each value's schema version. A key or value holding a control
character or bytes that are not UTF-8 is shown quoted; --json gives the
values as they are (base64).` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a collection name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSyncList(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runSyncList(ctx context.Context, e *env, opts clientOptions, args []string) error {
	name := args[0]
	if err := checkSyncName(name); err != nil {
		return err
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	recs, err := c.SyncRecords(ctx, name)
	if err != nil {
		return syncErr(err, name)
	}
	if opts.json {
		return writeJSON(e, recs)
	}
	if len(recs) == 0 {
		return say(e, "No values in %s.\n", name)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WRITER\tKEY\tVERSION\tVALUE")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", r.Writer, shown(r.Key), r.Version, shown(string(r.Value)))
	}
	return tw.Flush()
}
