package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
)

func newProtocolsCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "protocols",
		Short: "Print the protocol names the node uses",
		Long: `Print the node's DHT protocol and prefix, and every protocol its libp2p
host handles now (the DHT protocol among them only while it serves).` + clientHelp + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProtocols(cmd.Context(), e, opts)
		},
	}
	opts.register(cmd)
	return cmd
}

func runProtocols(ctx context.Context, e *env, opts clientOptions) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	p, err := c.Protocols(ctx)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, p)
	}
	return printf(e, "DHT:    %s (prefix %s)\nHandled:\n  %s\n", p.DHT, p.Prefix, strings.Join(p.Host, "\n  "))
}
