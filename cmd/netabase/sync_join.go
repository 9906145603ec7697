package main

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/netabase/netabase/internal/control"
)

type syncJoinOptions struct {
	clientOptions
	writers []string
}

func newSyncJoinCmd(e *env) *cobra.Command {
	var opts syncJoinOptions
	cmd := &cobra.Command{
		Use:   "join <name> [--writer <peer ID>]...",
		Short: "Join a synced collection",
		Long: `Join the synced collection called name: the node replicates it from now on,
with the peers that join it too, and joins it again at every start: the
daemon records it in config.toml, which it rewrites with every key and
its comment (comments added by hand are not kept).

Without --writer the collection is open: any peer may write its own
records, so throwaway identities can fill it up to its bounds. With
--writer (repeat it for several), only those peers may write; records of
any other peer are refused by every node. Every node must join with the
same writers, in any order: nodes that give other writers replicate
another collection.

A name is 1 to 128 bytes, printable, without spaces or "/".

Examples:
  netabase sync join chat
  netabase sync join notes --writer 12D3KooW... --writer 12D3KooW...` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a collection name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSyncJoin(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	cmd.Flags().StringArrayVar(&opts.writers, "writer", nil, "a peer ID that may write to the collection; repeat for several (default: any peer)")
	return cmd
}

func runSyncJoin(ctx context.Context, e *env, opts syncJoinOptions, args []string) error {
	name := args[0]
	if err := checkSyncName(name); err != nil {
		return err
	}
	for _, w := range opts.writers {
		if _, err := peer.Decode(w); err != nil {
			return usageErrorf("--writer: %q is not a peer ID (%v); give one as netabase id prints it", w, err)
		}
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	st, err := c.SyncJoin(ctx, control.SyncJoinRequest{Name: name, Writers: opts.writers})
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, st)
	}
	who := "any peer may write"
	if !st.Open {
		who = "writers: " + plural(len(st.Writers), "peer")
	}
	return say(e, "Joined %s (%s); it holds %s. The node joins it again at start.\n", name, who, plural(st.Records, "record"))
}
