package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/internal/control"
)

type putOptions struct {
	clientOptions
	schema  string
	version uint32
}

func newPutCmd(e *env) *cobra.Command {
	var opts putOptions
	cmd := &cobra.Command{
		Use:   "put <key> <value | @file | ->",
		Short: "Publish a record",
		Long: `Publish a record: the node stores it and sends it to the peers closest to
its key, and says how many accepted it.

A key without a leading slash names one of this node's own records: the
node seals the value in an envelope signed with its identity, under the
record key /netabase/<peer ID>/<key>, which the command prints. Nobody but
this node can replace that record. A key with a leading slash is a full
record key; the value must then pass its namespace's validator (for a
netabase key of another node: a sealed envelope).

The value is the argument itself, the contents of a file (@path), or
standard input (-).

Examples:
  netabase put greeting 'hello, world'
  netabase put photo @cat.jpg --schema image/jpeg
  date | netabase put now -` + clientHelp + exitStatusHelp,
		Args: exactArgs(2, "a key and a value"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPut(cmd.Context(), e, opts, args)
		},
	}
	opts.register(cmd)
	cmd.Flags().StringVar(&opts.schema, "schema", "bytes", "what the value holds, recorded in the envelope")
	cmd.Flags().Uint32Var(&opts.version, "schema-version", 1, "the schema's version, recorded in the envelope")
	return cmd
}

// readValue reads a value argument: text, @file or - for standard input.
// A value larger than a record holds is refused before anything is sent,
// and a file or standard input is read no further than that.
func readValue(e *env, arg string) ([]byte, error) {
	from, r := "the value", io.Reader(strings.NewReader(arg))
	switch {
	case arg == "-":
		if e.stdin == nil {
			return nil, usageErrorf("there is no standard input to read the value from")
		}
		from, r = "standard input", e.stdin
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return nil, usageErrorf("cannot read the value: %v", err)
		}
		defer f.Close()
		from, r = arg[1:], f
	}
	b, err := io.ReadAll(io.LimitReader(r, envelope.MaxSize+1))
	if err != nil {
		return nil, usageErrorf("cannot read the value from %s: %v", from, err)
	}
	if len(b) > envelope.MaxSize {
		return nil, usageErrorf("%s holds more than a record can: a record is at most %d bytes (%d KiB) with its key and signature; store large data elsewhere and put a reference to it",
			from, envelope.MaxSize, envelope.MaxSize>>10)
	}
	return b, nil
}

func runPut(ctx context.Context, e *env, opts putOptions, args []string) error {
	if err := checkRecordName(args[0]); err != nil {
		return err
	}
	value, err := readValue(e, args[1])
	if err != nil {
		return err
	}
	c, ctx, done, err := opts.client(ctx, e)
	if err != nil {
		return err
	}
	defer done()
	// JSON carries text, so a name or key that is not UTF-8 would reach
	// the daemon changed (each bad byte made U+FFFD) and be stored under
	// another name than the one given, which get then refuses. It is
	// refused here, as get refuses it.
	if !utf8.ValidString(args[0]) {
		return clientErr(notUTF8(ctx, c, args[0]))
	}
	req := control.PutRequest{Value: value, Schema: opts.schema, Version: opts.version}
	if strings.HasPrefix(args[0], "/") {
		req.Key = args[0]
	} else {
		req.Name = args[0]
	}
	res, err := c.Put(ctx, req)
	if err != nil {
		return clientErr(err)
	}
	if opts.json {
		return writeJSON(e, res)
	}
	if res.Peers == 0 {
		return printSay(e, res.Key, "Stored locally; no peers are known to send it to (connect or bootstrap first).\n")
	}
	return printSay(e, res.Key, "Stored, and sent to %s; %d accepted it.\n", plural(res.Peers, "peer"), res.Accepted)
}

// notUTF8 is the error for key, a record name or key that is not UTF-8:
// for a netabase record, the one the node gives get (envelope.ParseKey's).
func notUTF8(ctx context.Context, c *control.Client, key string) error {
	full, err := recordKey(ctx, c, key)
	if err != nil {
		return err
	}
	if _, _, err := envelope.ParseKey(full); err != nil && strings.HasPrefix(full, "/"+envelope.Namespace+"/") {
		return err
	}
	return core.Errorf(core.ErrInvalidKey, "record key %q is not valid UTF-8", key)
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
