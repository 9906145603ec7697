package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

func newSyncListCmd(e *env) *cobra.Command {
	var opts syncListOptions
	cmd := &cobra.Command{
		Use:   "list <name>",
		Short: "List every writer's values in a synced collection",
		Long: `List the values the node's replica of the synced collection called name
holds: every writer's live values (removed ones left out), by writer and
key, with the time each was written (its record's clock, in local time).

Each value is shown on one line: text as it is, quoted when it holds a
control character, cut after 100 characters with its size; a value that
is not UTF-8 text as its size and first bytes (<520 KB binary:
89504e470d0a1a0a…). With --cbor, a value that is one CBOR data item, as
a core/model collection writes (a typed collection's values are its
records' CBOR; nothing in them marks them so, hence the flag), is shown
as JSON (without it, the list says when a value shown as binary is CBOR);
a core/model key stays as stored (base32hex), since decoding it needs the
program's key type. --json prints every record as it is: the
value in base64 and the schema version.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a collection name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSyncList(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	cmd.Flags().BoolVar(&opts.cbor, "cbor", false, "show values that are CBOR (a core/model collection's) as JSON")
	return cmd
}

type syncListOptions struct {
	clientOptions
	cbor bool
}

func runSyncList(ctx context.Context, e *env, opts syncListOptions, args []string) error {
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
	fmt.Fprintln(tw, "WRITER\tKEY\tWRITTEN\tVALUE")
	cborShownBinary := false
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Writer, shown(r.Key), r.Clock.Local().Format(time.RFC3339), cell(r.Value, opts.cbor))
		if !opts.cbor && !cborShownBinary && !utf8.Valid(r.Value) {
			_, cborShownBinary = cborJSON(r.Value)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cborShownBinary {
		return say(e, "Some values shown as binary are CBOR, as a core/model collection writes; --cbor shows them as JSON.\n")
	}
	return nil
}
