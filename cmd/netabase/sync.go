package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

func newSyncCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Replicate collections with other nodes",
		Long: `Join, write to, read and leave synced collections: sets of signed records,
each (writer, key) written only by its writer, that every node joining the
collection replicates. New records are pushed to the peers sharing the
collection as they are written; a node that was away catches up by
reconciling with them when they meet, and every minute.

For one writer and key, the newest record wins (by its signed clock), on
every node whatever order records arrive in. A removal is a signed
tombstone, forgotten after 30 days: a replica offline longer than that,
which still holds the removed value, brings it back.

The daemon keeps the collections it has joined in config.toml ([[sync]]
tables) and joins them again at start.` + clientHelp + exitStatusHelp,
	}
	return commandGroup(cmd,
		newSyncJoinCmd(e),
		newSyncLeaveCmd(e),
		newSyncPutCmd(e),
		newSyncRmCmd(e),
		newSyncListCmd(e),
		newSyncStatusCmd(e),
	)
}

// checkSyncName refuses a collection name that cannot name a synced
// collection, before the daemon is asked.
func checkSyncName(name string) error {
	if err := replica.CheckName(name); err != nil {
		return usageErrorf("<name>: %s", strings.TrimPrefix(err.Error(), core.ErrInvalidKey.Error()+": "))
	}
	return nil
}

// syncErr says what to do about a collection this node has not joined.
func syncErr(err error, name string) error {
	if errors.Is(err, node.ErrNotJoined) {
		return failed(fmt.Errorf("this node has not joined the synced collection %s; join it with: netabase sync join %s", name, name))
	}
	return clientErr(err)
}
