package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newBootstrapCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Join the network through the bootstrap peers",
		Long: `Connect to the configured bootstrap peers and refresh the DHT's routing
table, which fills it with the peers the network knows, and print the
routing table's size. The daemon bootstraps once by itself at start.` + clientHelp + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBootstrap(cmd.Context(), e, opts)
		},
	}
	opts.register(cmd)
	return cmd
}

func runBootstrap(ctx context.Context, e *env, opts clientOptions) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	res, err := c.Bootstrap(ctx)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, res)
	}
	for _, f := range res.Failed {
		fmt.Fprintln(e.stderr, "netabase:", f)
	}
	return say(e, "Connected to %s; the routing table holds %s.\n",
		plural(res.Connected, "bootstrap peer"), plural(res.RoutingTable, "peer"))
}
