package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/internal/control"
)

func newDHTCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dht",
		Short: "Inspect and steer the DHT",
		Long:  "Inspect and steer the node's Kademlia DHT." + clientHelp + exitStatusHelp,
	}
	return commandGroup(cmd, newDHTModeCmd(e))
}

func newDHTModeCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "mode [auto|client|server]",
		Short: "Print or change the DHT mode",
		Long: `Print the DHT mode, or change it for as long as the daemon runs (the
configuration's mode key sets it at start):

  auto    serve DHT requests unless the node finds it is unreachable
  client  only send requests: peers do not store records on the node
  server  send and serve requests

The mode in effect (serving or not) is printed too.` + clientHelp + exitStatusHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("%s takes at most one mode (got %d arguments)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDHTMode(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runDHTMode(ctx context.Context, e *env, opts clientOptions, args []string) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	get := c.Mode
	if len(args) == 1 {
		get = func(ctx context.Context) (control.Mode, error) { return c.SetMode(ctx, args[0]) }
	}
	m, err := get(ctx)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, m)
	}
	return printf(e, "DHT mode: %s\n", modeText(m.Configured, m.Effective))
}
