package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func newEventsCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the node's events as JSON lines until interrupted",
		Long: `Print the node's events as they happen, one JSON object per line, until
interrupted or the daemon stops (--json is accepted, and changes nothing).
Each has a "type" and a "time":

  peer.connected, peer.disconnected, peer.discovered (mDNS)
  record.stored (this node published it), record.received (via put or fetch),
  record.removed (netabase rm removed the local copy)
  sync.stored (a record entered a synced collection's replica: collection,
    writer, key, clock, deleted for a tombstone, from the peer that sent it)
  provider.added, dht.mode, backend.state (up, down, restarting)
  events.lost (this stream fell behind and lost "count" events)

A reader that falls behind loses events rather than slowing the node;
to see every change of a synced collection, with none lost, use
netabase sync list <name> --follow.` + clientHelp + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 0, "stop after this long (0: run until interrupted)")
	opts.registerWait(cmd)
	// Every command that prints data takes --json; events print JSON
	// always.
	cmd.Flags().BoolVar(&opts.json, "json", false, "accepted like every command's --json: events are JSON lines always")
	return cmd
}

func runEvents(ctx context.Context, e *env, opts clientOptions) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	events, err := c.Events(ctx)
	if err != nil {
		return clientErr(err)
	}
	// Said on stderr, so stdout stays JSON lines: from here on no event is
	// missed.
	fmt.Fprintln(e.stderr, "Watching events; stop with Ctrl-C.")
	enc := json.NewEncoder(e.stdout)
	for ev, err := range events {
		if err != nil {
			return err
		}
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	// The daemon stopped, the timeout ran out, or the user interrupted.
	return nil
}
