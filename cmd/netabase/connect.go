package main

import (
	"context"

	"github.com/spf13/cobra"
)

func newConnectCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "connect <multiaddr>",
		Short: "Connect to a peer",
		Long: `Connect to the peer at a multiaddr ending in /p2p/<peer ID>, such as one
netabase id prints on another node. It says at which address the connection
is: when the node is connected to the peer already, or reaches it at an
address it knew first, the address given is not used, and not kept.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a multiaddr"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConnect(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runConnect(ctx context.Context, e *env, opts clientOptions, args []string) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	res, err := c.Connect(ctx, args[0])
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, res)
	}
	switch {
	case res.AtAddrGiven:
		return say(e, "Connected to %s at %s.\n", res.Peer, res.Addr)
	case res.Already:
		return say(e, "Already connected to %s at %s; the address given was not used.\n", res.Peer, res.Addr)
	}
	return say(e, "Connected to %s at %s, an address the node knew, not at the address given.\n", res.Peer, res.Addr)
}
