package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
)

type recordsOptions struct {
	clientOptions
	namespace string
}

func newRecordsCmd(e *env) *cobra.Command {
	var opts recordsOptions
	cmd := &cobra.Command{
		Use:   "records",
		Short: "List the records in the node's store",
		Long: `List the records the node stores: its own and those peers sent it or it
fetched, with the schema, version and size of netabase records and when
the node received each.` + clientHelp + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecords(cmd.Context(), e, opts)
		},
	}
	opts.register(cmd)
	cmd.Flags().StringVar(&opts.namespace, "namespace", "", "list only this record namespace, such as netabase")
	return cmd
}

func runRecords(ctx context.Context, e *env, opts recordsOptions) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	recs, err := c.Records(ctx, opts.namespace)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, recs)
	}
	if len(recs) == 0 {
		return say(e, "No records.\n")
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSCHEMA\tVERSION\tSIZE\tRECEIVED")
	for _, r := range recs {
		schema, version := "-", "-"
		if r.Envelope != nil {
			schema, version = r.Envelope.Schema, fmt.Sprint(r.Envelope.Version)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", shown(r.Key), shown(schema), version, r.Size, r.Received.Local().Format(time.RFC3339))
	}
	return tw.Flush()
}

// shown is s as it may go to a terminal: record keys, schemas and values
// are chosen by whichever peer wrote the record, and one holding a control
// character (an escape sequence, a tab or a newline that would break the
// table) or bytes that are not UTF-8 is shown quoted.
func shown(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
