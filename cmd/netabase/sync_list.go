package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/internal/control"
)

func newSyncListCmd(e *env) *cobra.Command {
	var opts syncListOptions
	cmd := &cobra.Command{
		Use:   "list <name>",
		Short: "List every writer's values in a synced collection",
		Long: `List the values the node's replica of the synced collection called name
holds: every writer's live values (removed ones left out), by writer and
key, with the time each was written (its record's clock, in local time).

Each value is shown on one line: text as it is, quoted when it holds a
control character, cut after 100 characters with its size; a value that
is not UTF-8 text as its size and first bytes (<520 KB binary:
89504e470d0a1a0a…). With --cbor, a value that is one CBOR data item, as
a core/model collection writes (a typed collection's values are its
records' CBOR; nothing in them marks them so, hence the flag), is shown
as JSON (without it, the list says when a value shown as binary is CBOR);
a core/model key stays as stored (base32hex), since decoding it needs the
program's key type. --json prints every record as it is: the
value in base64 and the schema version.

With --follow, the list goes on with every change to the collection, one
line each, until interrupted (--timeout then defaults to none): a value
written, or <removed> for a removal. When the daemon stops or leaves the
collection, it ends with exit status 1, saying so. No change is lost
between the list and the changes, nor later: when the changes come faster
than they are printed, the daemon says how many it skipped (on stderr),
reads the replica again and prints what differs from what was printed,
so that the last line printed for each writer and key is what the
replica holds. With --json, each line is a JSON object: "type" is
"record" (the record's fields, and "from", the peer that sent a change),
"ready" once the list is complete, or "missed" ("count" changes skipped,
what differs follows). netabase events reports stored records too, but
drops events a slow reader cannot take: --follow is the lossless way.` + clientHelp + exitStatusHelp,
		Args: exactArgs(1, "a collection name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.follow {
				if !cmd.Flags().Changed("timeout") {
					opts.timeout = 0
				}
				return runSyncFollow(cmd.Context(), e, opts, args)
			}
			return runSyncList(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	cmd.Flags().BoolVar(&opts.cbor, "cbor", false, "show values that are CBOR (a core/model collection's) as JSON")
	cmd.Flags().BoolVarP(&opts.follow, "follow", "f", false, "go on with every change, until interrupted")
	return cmd
}

type syncListOptions struct {
	clientOptions
	cbor   bool
	follow bool
}

func runSyncList(ctx context.Context, e *env, opts syncListOptions, args []string) error {
	name := args[0]
	if err := checkSyncName(name); err != nil {
		return err
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	recs, err := c.SyncRecords(ctx, name)
	if err != nil {
		return syncErr(err, name)
	}
	if opts.json {
		return writeJSON(e, recs)
	}
	if len(recs) == 0 {
		return say(e, "No values in %s.\n", name)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WRITER\tKEY\tWRITTEN\tVALUE")
	cborShownBinary := false
	for _, r := range recs {
		printChange(tw, r, opts.cbor)
		if !opts.cbor && !cborShownBinary && !utf8.Valid(r.Value) {
			_, cborShownBinary = cborJSON(r.Value)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cborShownBinary {
		return say(e, "Some values shown as binary are CBOR, as a core/model collection writes; --cbor shows them as JSON.\n")
	}
	return nil
}

// runSyncFollow prints the collection as sync list does, then every change,
// as the daemon's follow stream sends them.
func runSyncFollow(ctx context.Context, e *env, opts syncListOptions, args []string) error {
	name := args[0]
	if err := checkSyncName(name); err != nil {
		return err
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	changes, err := c.SyncFollow(ctx, name)
	if err != nil {
		return syncErr(err, name)
	}
	enc := json.NewEncoder(e.stdout)
	// The list is aligned as sync list aligns it; each change after it
	// is printed as it comes.
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	ready := false
	if !opts.json {
		fmt.Fprintln(tw, "WRITER\tKEY\tWRITTEN\tVALUE")
	}
	for ch, err := range changes {
		if err != nil {
			return err
		}
		if opts.json {
			if err := enc.Encode(ch); err != nil {
				return err
			}
		}
		switch ch.Type {
		case control.FollowRecord:
			if ch.SyncRecord == nil {
				return fmt.Errorf("the daemon sent a record line without a record (is it another netabase version?)")
			}
			if opts.json {
				break
			}
			printChange(tw, *ch.SyncRecord, opts.cbor)
			if ready {
				if err := tw.Flush(); err != nil {
					return err
				}
			}
		case control.FollowReady:
			ready = true
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "Following %s; stop with Ctrl-C.\n", name)
		case control.FollowMissed:
			fmt.Fprintf(e.stderr, "The changes came faster than they were printed: %s skipped; what differs follows.\n", plural(int(ch.Count), "change"))
		case control.FollowError:
			return failed(fmt.Errorf("following %s ended: %s", name, ch.Error))
		}
	}
	if ctx.Err() == nil {
		return failed(fmt.Errorf("following %s ended: the daemon closed the stream (it stopped?)", name))
	}
	// The timeout ran out, or the user interrupted.
	return nil
}

// printChange prints one row of sync list, or a record of a follow stream:
// a removal as <removed> (with no time when the replica dropped the
// record).
func printChange(w io.Writer, r control.SyncRecord, asCBOR bool) {
	written, value := "-", "<removed>"
	if !r.Clock.IsZero() {
		written = r.Clock.Local().Format(time.RFC3339)
	}
	if !r.Deleted {
		value = cell(r.Value, asCBOR)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Writer, shown(r.Key), written, value)
}
