package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/netabase/netabase/core"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed, or found a failure
	exitUsage   = 2 // the command line, a URL or a flag was wrong
)

// env is what commands use from the outside world, so that tests can run
// them without a process.
type env struct {
	stdout, stderr io.Writer
	// terminal is true when stderr is a terminal: progress displays go there.
	terminal bool
	// stdoutTerminal is true when stdout is a terminal: a value printed
	// there ends with a newline, so the shell's prompt starts a line.
	stdoutTerminal bool
	registry       *core.Registry
	// stdin feeds values given as "-"; nil when there is none.
	stdin io.Reader
	// dataDir is the global --data-dir flag; empty means the default.
	dataDir string
}

func newEnv(stdout, stderr *os.File) *env {
	return &env{
		stdout:         stdout,
		stderr:         stderr,
		terminal:       term.IsTerminal(int(stderr.Fd())),
		stdoutTerminal: term.IsTerminal(int(stdout.Fd())),
		registry:       newRegistry(stderr),
		stdin:          os.Stdin,
	}
}

// exitError carries the exit status a command wants.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a mistake on the command line: exit status 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failed reports a command that ran and found a failure: exit status 1,
// with msg (possibly empty) printed.
func failed(err error) error {
	return &exitError{code: exitFailure, err: err}
}

// exitCode maps an error to the exit status.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, core.ErrInvalidURL):
		return exitUsage
	}
	return exitFailure
}

const exitStatusHelp = `

EXIT STATUS
  0  success
  1  the command failed, or found a failure (a backend failing conformance)
  2  bad usage: a wrong command, flag, argument or storage URL`

// Main runs the netabase command line with args and returns the exit status.
func Main(args []string, e *env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal asks the command to stop; from then on the signals'
	// default action is back, so a second one ends a command that does not.
	context.AfterFunc(ctx, stop)
	root := newRootCmd(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || ee.err != nil {
			fmt.Fprintln(e.stderr, "netabase:", err)
		}
		if exitCode(err) == exitUsage {
			fmt.Fprintln(e.stderr, "Run 'netabase --help' for usage.")
		}
	}
	return exitCode(err)
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "netabase",
		Short: "A peer-to-peer node with pluggable storage",
		Long: `netabase runs a libp2p node (Kademlia DHT, mDNS, Identify) whose records
live in a storage backend you choose by URL, and checks backends against
the conformance suite every backend must pass.` + exitStatusHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageErrorf("%v", err)
	})
	root.PersistentFlags().StringVar(&e.dataDir, "data-dir", "", dataDirHelp)
	commandGroup(root,
		newBackendsCmd(e),
		newConformanceCmd(e),
		newBenchCmd(e),
		newPluginCmd(e),
		newVersionCmd(e),
		newInitCmd(e),
		newDaemonCmd(e),
		newIDCmd(e),
		newPeersCmd(e),
		newStatsCmd(e),
		newPutCmd(e),
		newGetCmd(e),
		newRmCmd(e),
		newRecordsCmd(e),
		newProvideCmd(e),
		newUnprovideCmd(e),
		newFindprovsCmd(e),
		newBootstrapCmd(e),
		newConnectCmd(e),
		newDisconnectCmd(e),
		newDHTCmd(e),
		newProtocolsCmd(e),
		newEventsCmd(e),
		newSyncCmd(e),
	)
	return root
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %s (got %d arguments)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

// commandGroup makes cmd a group of the commands subs, as the root and
// sync are: run alone it prints its help; given a word that names none of
// its commands, it fails with a usage error that suggests those of a
// similar name.
func commandGroup(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	// Cobra hands a group the words that name none of its commands.
	cmd.Args = unknownCommand
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	cmd.SuggestionsMinimumDistance = 2
	cmd.AddCommand(subs...)
	return cmd
}

// unknownCommand is a command group's argument check: any argument cobra
// leaves the group is a command it does not have, a usage error that
// suggests the commands of a similar name.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var suggest strings.Builder
	if names := cmd.SuggestionsFor(args[0]); len(names) > 0 {
		suggest.WriteString("\n\nDid you mean this?\n")
		for _, name := range names {
			fmt.Fprintf(&suggest, "\t%s\n", name)
		}
	}
	return usageErrorf("unknown command %q for %q%s", args[0], cmd.CommandPath(), suggest.String())
}

// noArgs is cobra.NoArgs reporting a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments (got %q)", cmd.CommandPath(), args)
	}
	return nil
}
