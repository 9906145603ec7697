package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/internal/control"
)

func newConnectCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "connect <multiaddr>",
		Short: "Connect to a peer",
		Long: `Connect to the peer at a multiaddr ending in /p2p/<peer ID>, such as one
netabase id prints on another node.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a multiaddr"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConnect(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd, true)
	return cmd
}

func runConnect(ctx context.Context, e *env, opts clientOptions, args []string) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	id, err := c.Connect(ctx, args[0])
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, control.PeerRequest{Peer: id})
	}
	return say(e, "Connected to %s.\n", id)
}
