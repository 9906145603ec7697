package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newPeersCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the connected peers",
		Long: `List the peers the node is connected to: peer ID, who dialled, the agent
the peer announced, the round-trip time, whether it is in the DHT's
routing table, and the address of the connection.` + clientHelp + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPeers(cmd.Context(), e, opts)
		},
	}
	opts.register(cmd)
	return cmd
}

func runPeers(ctx context.Context, e *env, opts clientOptions) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	peers, err := c.Peers(ctx)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, peers)
	}
	if len(peers) == 0 {
		return say(e, "No peers connected.\n")
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tDIALLED\tAGENT\tRTT\tROUTING\tADDRESS")
	for _, p := range peers {
		dir, routing, addr, rtt := "out", "no", "-", "-"
		if p.Inbound {
			dir = "in"
		}
		if p.Routing {
			routing = "yes"
		}
		if len(p.Addrs) > 0 {
			addr = p.Addrs[0]
		}
		if p.LatencyMS > 0 {
			rtt = fmt.Sprintf("%.1fms", p.LatencyMS)
		}
		agent := p.Agent
		if agent == "" {
			agent = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, dir, agent, rtt, routing, addr)
	}
	return tw.Flush()
}
