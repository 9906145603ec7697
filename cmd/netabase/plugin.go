package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/plugins/host"
)

// newRegistry returns the registry of the CLI: the in-tree backends and
// storage plugins, whose warnings and errors go to stderr.
func newRegistry(stderr io.Writer) *core.Registry {
	r := all.Registry()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := r.Register(host.NewDriver(host.Config{Logger: log})); err != nil {
		// "plugin" is no in-tree scheme; a clash is a programming error
		// caught by this package's tests.
		panic(err)
	}
	return r
}

func newPluginCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Work with storage plugins",
		Long: `Work with storage plugins: separate programs, built with netabase's
plugins/sdk, that serve a store to netabase over gRPC. A plugin is named by
a storage URL that pins its binary's checksum:

  plugin:///abs/path/to/binary?sha256=<hex>&<plugin options>` + exitStatusHelp,
	}
	return commandGroup(cmd, newPluginPinCmd(e))
}

type pluginPinOptions struct {
	json bool
}

func newPluginPinCmd(e *env) *cobra.Command {
	var opts pluginPinOptions
	cmd := &cobra.Command{
		Use:   "pin <binary> [option=value ...]",
		Short: "Print the storage URL of a plugin binary, with its checksum",
		Long: `Start the plugin binary, check that it is a netabase storage plugin and
that it accepts the options given, and print its storage URL with the
binary's SHA-256 checksum filled in. netabase refuses the plugin if the
binary changes; pin it again after an upgrade. A binary that does not
complete the plugin handshake within the start timeout (30s) is stopped,
with every process it started.

Relative paths, of the binary and of the plugin's path options, are made
absolute.

Examples:
  netabase plugin pin ./netabase-bbolt path=/var/lib/netabase/bolt.db
  netabase conformance "$(netabase plugin pin ./netabase-bbolt path=/tmp/x.db)"` + exitStatusHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("%s takes a plugin binary and its options as name=value", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPluginPin(cmd.Context(), e, opts, args)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the URL and what the plugin says about itself as JSON")
	return cmd
}

// pinned is the JSON form of a pinned plugin.
type pinned struct {
	URL     string            `json:"url"`
	Plugin  core.Info         `json:"plugin"`
	SDK     string            `json:"sdk"`
	Options []host.OptionSpec `json:"options"`
}

func runPluginPin(ctx context.Context, e *env, opts pluginPinOptions, args []string) error {
	bin, err := filepath.Abs(args[0])
	if err != nil {
		return usageErrorf("%s: %v", args[0], err)
	}
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() {
		return usageErrorf("%s is not a plugin binary: no such file", bin)
	}
	given := url.Values{}
	for _, a := range args[1:] {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return usageErrorf("option %q is not name=value", a)
		}
		given.Add(name, value)
	}
	_, d, err := e.registry.Resolve(host.Scheme + ":///")
	if err != nil {
		return err
	}
	plugins, ok := d.(*host.Driver)
	if !ok {
		return fmt.Errorf("the %s:// scheme is registered to another driver", host.Scheme)
	}
	sum, err := host.Checksum(bin)
	if err != nil {
		return failed(fmt.Errorf("cannot read %s: %w", bin, err))
	}
	u, err := url.Parse(host.FormatURL(bin, sum, given))
	if err != nil {
		return err
	}
	say(e, "Starting %s; it has %v to complete the plugin handshake and describe itself...\n", bin, plugins.StartTimeout())
	desc, err := plugins.Inspect(ctx, u)
	if err != nil {
		return failed(err)
	}
	for _, o := range desc.Options {
		if vs, ok := given[o.Name]; ok && o.Kind == "path" {
			for i, v := range vs {
				if abs, err := filepath.Abs(v); err == nil && v != "" {
					vs[i] = abs
				}
			}
		}
	}
	if u, err = url.Parse(host.FormatURL(bin, sum, given)); err != nil {
		return err
	}
	if _, err := plugins.Describe(ctx, u); err != nil {
		if errors.Is(err, core.ErrInvalidURL) {
			return usageErrorf("%v", err)
		}
		return failed(err)
	}
	if opts.json {
		return writeJSON(e, pinned{URL: u.String(), Plugin: desc.Info, SDK: desc.SDK, Options: desc.Options})
	}
	_, err = fmt.Fprintln(e.stdout, u.String())
	return err
}
