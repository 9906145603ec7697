package main

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/control"
)

type syncJoinOptions struct {
	clientOptions
	settings settingFlags
}

func newSyncJoinCmd(e *env) *cobra.Command {
	var opts syncJoinOptions
	cmd := &cobra.Command{
		Use:   "join <name> [--writer <peer ID>]... [--<bound> <value>]...",
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

The other flags bound the collection: past a bound, the oldest records
are dropped, a writer's own first; a delete is remembered for the
tombstone horizon. A bound left out takes its default, and every node
must give the same bounds too. A size is a number of bytes, a duration
is written such as 720h or 90m.

A name is 1 to 128 bytes, printable, without spaces or "/".

Examples:
  netabase sync join chat
  netabase sync join notes --writer 12D3KooW... --writer 12D3KooW...
  netabase sync join log --max-records-per-writer 1000 --tombstone-horizon 168h` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a collection name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSyncJoin(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	opts.settings.register(cmd)
	return cmd
}

// settingFlags are the flags of a collection's settings: one for each
// field of replica.Settings that has a flag, made from the field.
type settingFlags []*settingFlag

// settingFlag keeps what its flag was given, for settingFlags.apply.
type settingFlag struct {
	field replica.Field
	given []string
}

func (f *settingFlag) String() string { return strings.Join(f.given, ",") }
func (f *settingFlag) Type() string   { return f.field.Type }

func (f *settingFlag) Set(v string) error {
	f.given = append(f.given, v)
	return nil
}

func (fs *settingFlags) register(cmd *cobra.Command) {
	for _, field := range replica.Fields() {
		if field.Flag == "" {
			continue
		}
		f := &settingFlag{field: field}
		*fs = append(*fs, f)
		// The flags' style: no capital, no full stop.
		usage := strings.ToLower(field.Doc[:1]) + strings.TrimSuffix(field.Doc[1:], ".")
		if field.List {
			usage += "; repeat it for several"
		}
		if field.Default != "" {
			usage += " (default " + field.Default + ")"
		}
		cmd.Flags().Var(f, field.Flag, usage)
	}
}

// settings returns the settings of the collection name as the flags give
// them (a bound not given left zero, so that the daemon's configuration
// keeps it at its default) and normalized, or a usage error naming the
// flag.
func (fs settingFlags) settings(name string) (given, normalized replica.Settings, err error) {
	s := replica.Settings{Name: name}
	flagErr := func(err error) error {
		var fe *replica.FieldError
		if !errors.As(err, &fe) {
			return usageErrorf("%v", err)
		}
		for _, f := range fs {
			if f.field.Key == fe.Key {
				return usageErrorf("--%s: %s", f.field.Flag, strings.TrimPrefix(fe.Err.Error(), core.ErrInvalidKey.Error()+": "))
			}
		}
		return usageErrorf("%v", err)
	}
	for _, f := range fs {
		for _, v := range f.given {
			if err := s.Set(f.field.Key, v); err != nil {
				return s, s, flagErr(err)
			}
		}
	}
	n, err := s.Normalize()
	if err != nil {
		return s, s, flagErr(err)
	}
	return s, n, nil
}

func runSyncJoin(ctx context.Context, e *env, opts syncJoinOptions, args []string) error {
	name := args[0]
	if err := checkSyncName(name); err != nil {
		return err
	}
	settings, want, err := opts.settings.settings(name)
	if err != nil {
		return err
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	st, err := c.SyncJoin(ctx, control.SyncJoinRequest{Settings: settings})
	if err != nil {
		return clientErr(err)
	}
	if err := want.Agree("the daemon", st.Settings, st.Digest); err != nil {
		return failed(err)
	}
	if opts.json {
		return writeJSON(e, st)
	}
	who := "any peer may write"
	if !st.Open {
		who = "writers: " + plural(len(st.Settings.Writers), "peer")
	}
	return say(e, "Joined %s (%s); it holds %s. The node joins it again at start.\n", name, who, plural(st.Records, "record"))
}
