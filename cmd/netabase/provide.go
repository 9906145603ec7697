package main

import (
	"context"

	"github.com/spf13/cobra"
)

func newProvideCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "provide <key>",
		Short: "Announce that this node provides a key",
		Long: `Record that this node provides a key and announce it to the peers closest
to the key; the node re-announces it every records.republish_interval
while it runs. Provider keys are CIDs, as IPFS uses them: a key that is a
CID is used as it is, and any other key becomes the CIDv1 (raw, sha2-256)
of its bytes. The command prints the CID it used; a key that looks like a
CID (Qm..., bafy..., bafk...) but does not parse as one is used as a plain
key too, with a note on standard error naming the parse error.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProvide(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runProvide(ctx context.Context, e *env, opts clientOptions, args []string) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	res, err := c.Provide(ctx, args[0])
	if err != nil {
		return clientErr(err)
	}
	noteNotCID(e, args[0], res.CID)
	if opts.json {
		return writeJSON(e, res)
	}
	if res.Peers == 0 {
		return printSay(e, res.CID, "Providing it; no peers are known to announce it to (connect or bootstrap first).\n")
	}
	return printSay(e, res.CID, "Providing it; announced to %s.\n", plural(res.Sent, "peer"))
}
