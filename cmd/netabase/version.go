package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase"
	"github.com/netabase/netabase/conformance"
)

type versionOptions struct {
	json bool
}

func newVersionCmd(e *env) *cobra.Command {
	var opts versionOptions
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the netabase version",
		Long:  "Print the netabase release, the conformance suite version and the Go toolchain." + exitStatusHelp,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return cmd
}

type versionInfo struct {
	Version     string `json:"version"`
	Conformance string `json:"conformance_suite"`
	Go          string `json:"go"`
	Platform    string `json:"platform"`
}

func runVersion(_ context.Context, e *env, opts versionOptions) error {
	v := versionInfo{
		Version:     netabase.Version,
		Conformance: conformance.Version,
		Go:          runtime.Version(),
		Platform:    runtime.GOOS + "/" + runtime.GOARCH,
	}
	if opts.json {
		return writeJSON(e, v)
	}
	_, err := fmt.Fprintf(e.stdout, "netabase %s (conformance suite v%s, %s %s)\n", v.Version, v.Conformance, v.Go, v.Platform)
	return err
}
