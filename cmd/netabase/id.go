package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/internal/control"
)

func newIDCmd(e *env) *cobra.Command {
	var opts clientOptions
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print the node's peer ID, addresses, backend and DHT mode",
		Long: `Print what the running node is: its peer ID, agent, listen addresses (each
ending in /p2p/<peer ID>, ready for another node's --bootstrap or connect),
DHT protocol and mode, storage backend and how it was admitted, and how many
writes from peers the quota refused, by reason (see [quota] in config.toml).` + clientHelp + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runID(cmd.Context(), e, opts)
		},
	}
	opts.register(cmd)
	return cmd
}

func runID(ctx context.Context, e *env, opts clientOptions) error {
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	id, err := c.ID(ctx)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, id)
	}
	addrs := "-"
	if len(id.Addrs) > 0 {
		addrs = strings.Join(id.Addrs, "\n            ")
	}
	state := id.BackendState
	if id.BackendDetail != "" {
		state += ": " + id.BackendDetail
	}
	return printf(e, "Peer ID:    %s\nAgent:      %s\nAddresses:  %s\nProtocol:   %s/kad/1.0.0, DHT mode %s\nBackend:    %s (%s; %s)\nState:      %s\nStorage:    %s\nAdmission:  %s\nData dir:   %s\nRefused:    %s\n",
		id.ID, id.Agent, addrs, id.Prefix, modeText(id.Mode.Configured, id.Mode.Effective),
		id.Backend.Name, id.Backend.Version, id.Backend.Capabilities, state, id.Storage, admissionText(id.Admission), id.DataDir, refusedText(id.Refused))
}

// admissionText says how the backend was admitted.
func admissionText(a *control.Admission) string {
	if a == nil {
		return "-"
	}
	how := "suite run at start"
	if a.Cached {
		how = "cached certificate"
	}
	return "passed conformance suite v" + a.Suite + " on " + a.Passed.Local().Format(time.RFC3339) + " (" + how + ")"
}

// refusedText says how many writes from peers were refused, by reason.
func refusedText(refused map[string]uint64) string {
	if len(refused) == 0 {
		return "none"
	}
	var parts []string
	for _, reason := range slices.Sorted(maps.Keys(refused)) {
		if refused[reason] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", reason, refused[reason]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
