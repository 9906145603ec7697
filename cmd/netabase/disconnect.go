package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/internal/control"
)

func newDisconnectCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "disconnect <peer ID>",
		Short: "Close the connections to a peer",
		Long: `Close every connection to a peer. Either side may connect again, as the DHT
does when it needs the peer; a bootstrap peer or a peer of a synced
collection, which the daemon keeps connected, is dialled again at once.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a peer ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDisconnect(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runDisconnect(ctx context.Context, e *env, opts clientOptions, args []string) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	if err := c.Disconnect(ctx, args[0]); err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, control.PeerRequest{Peer: args[0]})
	}
	return say(e, "Disconnected from %s.\n", args[0])
}
