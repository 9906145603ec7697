package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newGetCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "get <key>",
		Short: "Get a record",
		Long: `Get the newest valid record under a key and print its value: the node's
copy, unless the peers closest to the key hold a newer one (which the node
then stores). A key without a leading slash names one of this node's own
records; another node's record is /netabase/<its peer ID>/<name>, as its
netabase put printed. With --json, the record's envelope (owner, schema,
version, clock) and where it came from are printed too. In a pipe or a
file the value is printed exactly as stored. On a terminal a value not
ending in a newline gets one, and a value that is not text (not UTF-8,
or holding control characters other than tabs and line ends) is shown as
its size and first bytes, <520 KB binary: 89504e470d0a1a0a…>: redirect
stdout to a file or a program for its bytes.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runGet(ctx context.Context, e *env, opts clientOptions, args []string) error {
	if err := checkRecordName(args[0]); err != nil {
		return err
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	key, err := recordKey(ctx, c, args[0])
	if err != nil {
		return clientErr(err)
	}
	rec, err := c.Get(ctx, key)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, rec)
	}
	if e.stdoutTerminal && !isText(rec.Value) {
		if err := printf(e, "%s\n", binarySummary(rec.Value)); err != nil {
			return err
		}
		return say(e, "The value is not text, so the terminal is not sent its bytes; for them, redirect stdout: netabase get %s > value\n", args[0])
	}
	if _, err := e.stdout.Write(rec.Value); err != nil {
		return err
	}
	if e.stdoutTerminal && !bytes.HasSuffix(rec.Value, []byte("\n")) {
		_, err = fmt.Fprintln(e.stdout)
	}
	return err
}
