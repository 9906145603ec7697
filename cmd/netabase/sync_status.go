package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/control"
)

func newSyncStatusCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "status [<name>]",
		Short: "Show the synced collections the node has joined",
		Long: `Show each synced collection the node has joined, or the one called name:
who may write, the records and tombstones its replica holds, the records
from peers it refused (by reason), the peers that share it, and for each peer the node has reconciled with, the last
reconciliation (and its error, if it failed), the bytes sent and
received in all, and whether the node is connected to it now (the
figures are kept across restarts, so a peer listed may be long gone;
"connected" in --json), and the pages connected now to the gateway's
sync endpoint of the collection: each page's peer ID, its address, since
when, its sessions, and the records and bytes it sent and was sent
("pages" in --json, with "pongs": the gateway's keepalive pings it
answered). A collection whose replica is unavailable (its store failed)
is listed with the error alone ("error" in --json), the others as usual,
and the command then exits 1.` + clientHelp + exitStatusHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("%s takes at most one collection name (got %d arguments)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSyncStatus(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	return cmd
}

func runSyncStatus(ctx context.Context, e *env, opts clientOptions, args []string) error {
	if len(args) == 1 {
		if err := checkSyncName(args[0]); err != nil {
			return err
		}
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	var all []control.SyncStatus
	if len(args) == 1 {
		st, err := c.SyncStatus(ctx, args[0])
		if err != nil {
			return syncErr(err, args[0])
		}
		all = []control.SyncStatus{st}
	} else if all, err = c.SyncStatuses(ctx); err != nil {
		return clientErr(err)
	}
	if opts.json {
		if len(args) == 1 {
			return writeJSON(e, all[0])
		}
		if err := writeJSON(e, all); err != nil {
			return err
		}
		return faulted(all)
	}
	if len(all) == 0 {
		return say(e, "No synced collections; join one with: netabase sync join <name>\n")
	}
	for i, st := range all {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if err := printSyncStatus(e, st); err != nil {
			return err
		}
	}
	return faulted(all)
}

// faulted is the error for the collections of a listing whose replicas
// are unavailable, after the listing showed them with their errors and
// the others as usual; nil when there are none.
func faulted(all []control.SyncStatus) error {
	var errs []error
	for _, st := range all {
		if st.Error != "" {
			errs = append(errs, fmt.Errorf("collection %s: %s", st.Name, st.Error))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return failed(errors.Join(errs...))
}

func printSyncStatus(e *env, st control.SyncStatus) error {
	if st.Error != "" {
		return printf(e, "%s\n  unavailable  %s\n", st.Name, shown(st.Error))
	}
	who := "any peer"
	if !st.Open {
		who = plural(len(st.Settings.Writers), "listed peer")
	}
	var bounds []string
	for _, f := range replica.Fields() {
		if v := st.Settings.Get(f.Key); f.Number && !(f.Optional && v == int64(0)) {
			bounds = append(bounds, fmt.Sprintf("%s %v", f.Key, v))
		}
	}
	fmt.Fprintf(e.stdout, "%s\n  writers      %s; records from %s\n  records      %d, %d tombstones, %d bytes\n  bounds       %s\n  refused      %s\n  topic peers  %d\n",
		st.Name, who, plural(st.WritersSeen, "writer"), st.Records, st.Tombstones, st.Bytes, strings.Join(bounds, ", "), refusedText(st.Refused), len(st.TopicPeers))
	if err := printSyncPeers(e, st); err != nil {
		return err
	}
	return printSyncPages(e, st)
}

func printSyncPeers(e *env, st control.SyncStatus) error {
	if len(st.Peers) == 0 {
		return printf(e, "  not reconciled with any peer yet\n")
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PEER\tCONNECTED\tLAST RECONCILED\tSESSIONS\tSENT\tRECEIVED\tERROR")
	for _, p := range st.Peers {
		last, lastErr := "-", "-"
		if !p.Last.IsZero() {
			last = p.Last.Local().Format(time.RFC3339)
		}
		if p.LastError != "" {
			lastErr = shown(p.LastError)
		}
		connected := "no"
		if p.Connected {
			connected = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d B\t%d B\t%s\n", p.ID, connected, last, p.Sessions, p.Total.BytesSent, p.Total.BytesReceived, lastErr)
	}
	return tw.Flush()
}

// printSyncPages lists the pages connected to the gateway's sync
// endpoint, if any.
func printSyncPages(e *env, st control.SyncStatus) error {
	if len(st.Pages) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PAGE\tREMOTE\tCONNECTED SINCE\tSESSIONS\tRECORDS IN\tRECORDS OUT\tBYTES IN\tBYTES OUT")
	for _, p := range st.Pages {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%d B\t%d B\n", p.ID, shown(p.Remote), p.Since.Local().Format(time.RFC3339), p.Sessions, p.RecordsIn, p.RecordsOut, p.BytesIn, p.BytesOut)
	}
	return tw.Flush()
}
