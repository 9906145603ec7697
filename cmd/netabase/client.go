package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/internal/control"
)

// clientOptions are the flags of every command that talks to the daemon.
type clientOptions struct {
	json    bool
	timeout time.Duration
	wait    time.Duration
}

// register adds the flags --json and --timeout to cmd.
func (o *clientOptions) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	cmd.Flags().DurationVar(&o.timeout, "timeout", time.Minute, "give up after this long")
	o.registerWait(cmd)
}

func (o *clientOptions) registerWait(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&o.wait, "wait", 0, "wait up to this long for a daemon that is not running yet or still starting (for scripts that start one)")
}

const clientHelp = `

The command talks to the daemon running for the data directory (see
netabase daemon); it fails with exit status 1 when none is running, and
at once, with exit status 1, while the daemon is still starting (checking
its storage backend): try again when the daemon prints Ready, or give
--wait 30s to wait up to 30 seconds for the daemon to be ready.`

// client returns a client of the daemon of the data directory, and a
// context bounded by the timeout (none when it is 0).
func (o *clientOptions) client(ctx context.Context, e *env) (*control.Client, context.Context, func(), error) {
	dir, err := dataDir(e)
	if err != nil {
		return nil, nil, nil, err
	}
	c := control.NewClient(filepath.Join(dir, config.SocketFile))
	cancel := func() {}
	if o.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
	}
	done := func() {
		cancel()
		c.Close()
	}
	if o.wait > 0 {
		if err := waitForDaemon(ctx, c, o.wait); err != nil {
			done()
			return nil, nil, nil, clientErr(err)
		}
	}
	return c, ctx, done, nil
}

// waitForDaemon waits up to wait until the daemon of c answers: while no
// daemon is running or it is starting, it asks again every 100ms.
func waitForDaemon(ctx context.Context, c *control.Client, wait time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var why error // why the daemon did not answer last time
	for {
		_, err := c.ID(wctx)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, control.ErrNoDaemon) || errors.Is(err, control.ErrStarting):
			why = err
		case wctx.Err() == nil || ctx.Err() != nil || why == nil:
			return err
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("waited %v for the daemon: %w", wait, why)
		case <-tick.C:
		}
	}
}

// clientErr turns a daemon's refusal of bad input into a usage error.
func clientErr(err error) error {
	if errors.Is(err, core.ErrInvalidKey) {
		return &exitError{code: exitUsage, err: err}
	}
	if errors.Is(err, control.ErrNoDaemon) {
		return failed(err)
	}
	return err
}

// checkRecordName refuses, as bad usage, a record name or a record key
// (it starts with "/") that the node would refuse to be given
// (envelope.CheckName), before the daemon is asked.
func checkRecordName(arg string) error {
	check := envelope.CheckName
	if strings.HasPrefix(arg, "/") {
		check = envelope.CheckKey
	}
	if err := check(arg); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return nil
}

// recordKey turns a record name into this node's record key; a key (it
// starts with "/") stays as it is.
func recordKey(ctx context.Context, c *control.Client, key string) (string, error) {
	if strings.HasPrefix(key, "/") {
		return key, nil
	}
	id, err := c.ID(ctx)
	if err != nil {
		return "", err
	}
	owner, err := peer.Decode(id.ID)
	if err != nil {
		return "", fmt.Errorf("the daemon reported %q as its peer ID: %w", id.ID, err)
	}
	return envelope.Key(owner, key), nil
}

// printf writes data to stdout.
func printf(e *env, format string, args ...any) error {
	_, err := fmt.Fprintf(e.stdout, format, args...)
	return err
}

// say writes a sentence for the reader to stderr, so that stdout holds
// only the data a script captures.
func say(e *env, format string, args ...any) error {
	_, err := fmt.Fprintf(e.stderr, format, args...)
	return err
}

// printSay writes data to stdout, then a sentence about it to stderr.
func printSay(e *env, data string, format string, args ...any) error {
	if err := printf(e, "%s\n", data); err != nil {
		return err
	}
	return say(e, format, args...)
}
