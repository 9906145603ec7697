package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/internal/control"
)

func newStatsCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Summarise the running node on one screen",
		Long: `Summarise the running node: connected peers and the DHT's routing table,
the storage backend, its state and how it was admitted, what the node holds
for other peers, the writes from peers it accepted and refused (by reason;
see [quota] in config.toml) since it started, event subscribers and the
events they lost, each synced collection's records and reconciliation
sessions, and, on a storage plugin, its calls since the node started:
their round-trip times (median and 95th percentile), those in flight, and
the plugin's restarts.

For figures over time, serve them to Prometheus: netabase daemon --metrics
(the README lists the metrics).` + clientHelp + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), e, opts)
		},
	}
	opts.register(cmd)
	return cmd
}

func runStats(ctx context.Context, e *env, opts clientOptions) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	st, err := c.Stats(ctx)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, st)
	}
	state := st.BackendState
	if st.BackendDetail != "" {
		state += ": " + st.BackendDetail
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Peer ID:    %s\n", st.ID)
	fmt.Fprintf(&b, "Peers:      %d connected, %d in the routing table\n", st.Peers, st.RoutingTable)
	fmt.Fprintf(&b, "Backend:    %s (%s), %s\n", st.Backend.Name, st.Backend.Version, state)
	fmt.Fprintf(&b, "Admission:  %s\n", admissionText(st.Admission))
	fmt.Fprintf(&b, "Held:       %s (%d bytes) and %s for other peers\n",
		plural(int(st.Held.Records), "record"), st.Held.Bytes, plural(int(st.Held.Providers), "provider record"))
	fmt.Fprintf(&b, "Accepted:   %s and %s from peers\n", plural(int(st.Accepted.Records), "record"), plural(int(st.Accepted.Providers), "provider record"))
	fmt.Fprintf(&b, "Refused:    %s\n", refusedText(st.Refused))
	fmt.Fprintf(&b, "Events:     %s, %d events lost\n", plural(st.Subscribers, "subscriber"), st.EventsLost)
	if p := st.Plugin; p != nil {
		fmt.Fprintf(&b, "Plugin:     %s, round trip p50 %.3f ms, p95 %.3f ms; %d in flight, %s\n",
			plural(int(p.Calls), "call"), p.P50MS, p.P95MS, p.InFlight, plural(int(p.Restarts), "restart"))
	}
	if len(st.Synced) == 0 {
		b.WriteString("Synced:     none\n")
	}
	for i, s := range st.Synced {
		label := "Synced:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(&b, "%-11s %s\n", label, syncStatsText(s))
	}
	return printf(e, "%s", b.String())
}

// syncStatsText sums up a synced collection on one line.
func syncStatsText(s control.SyncStats) string {
	if s.Error != "" {
		return fmt.Sprintf("%s: unavailable: %s; refused %s", s.Name, s.Error, refusedText(s.Refused))
	}
	return fmt.Sprintf("%s: %s, %s, %d bytes; %s; %s (%d bytes sent, %d received); refused %s",
		s.Name, plural(s.Records, "record"), plural(s.Tombstones, "tombstone"), s.Bytes,
		plural(s.TopicPeers, "topic peer"), plural(s.Sessions, "session"), s.BytesSent, s.BytesReceived, refusedText(s.Refused))
}
