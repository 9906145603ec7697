// Command chat is a chat room for every chat process that can reach
// another: on one machine or a LAN they find each other by mDNS, elsewhere
// by --bootstrap. Each line typed on stdin is a message; every message of
// the room is printed, the history first. The room is a synced collection
// (core/node JoinSync), kept in a pebble store in --data-dir, so a process
// that was stopped while others talked catches up when it comes back and
// prints the whole history in order.
//
//	go run ./examples/chat --data-dir /tmp/alice --nick alice
//
// A message is a record of the collection "chat": its key is the writer's
// wall clock in nanoseconds, zero-padded to 19 digits (moved forward past
// the writer's last key when the clock is behind), so one writer's keys
// are unique and sort in the order written; its value is JSON
// {"nick": ..., "text": ...}. Messages are printed in the order of their
// record clocks, a hybrid logical clock that a node moves past every record
// its replica holds before it writes, ties broken by writer ID; so a reply
// always comes after the message it answers, on every screen.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

// room is the name of the synced collection all chat processes join.
const room = "chat"

type options struct {
	dataDir   string
	nick      string
	listen    []string
	bootstrap []string
	noMDNS    bool
	json      bool
	catchUp   time.Duration
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// repeated is a flag that may be given more than once.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

func parseFlags(args []string, usage io.Writer) (options, error) {
	var o options
	var listen, bootstrap repeated
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&o.dataDir, "data-dir", "", "directory of this chat node: identity key and message store (required)")
	fs.StringVar(&o.nick, "nick", "", "name shown with your messages (default: the end of your peer ID)")
	fs.Var(&listen, "listen", "multiaddr to listen on, repeatable (default /ip4/0.0.0.0/tcp/0)")
	fs.Var(&bootstrap, "bootstrap", "multiaddr of a peer to join, ending in /p2p/<peer ID>, repeatable")
	fs.BoolVar(&o.noMDNS, "no-mdns", false, "do not look for peers on the local network")
	fs.BoolVar(&o.json, "json", false, "print messages as JSON lines")
	fs.DurationVar(&o.catchUp, "catch-up", 5*time.Second, "how long to wait at start for a peer's history before printing it")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.dataDir == "" {
		return o, errors.New("--data-dir is required")
	}
	o.listen, o.bootstrap = listen, bootstrap
	if len(o.listen) == 0 {
		o.listen = []string{"/ip4/0.0.0.0/tcp/0"}
	}
	return o, nil
}

// message is the value of a chat record.
type message struct {
	Nick string `json:"nick"`
	Text string `json:"text"`
}

func run(ctx context.Context, o options, in io.Reader, out, log io.Writer) (err error) {
	c := config.Default(o.dataDir)
	c.Listen = o.listen
	c.Bootstrap = o.bootstrap
	c.MDNS = !o.noMDNS
	n, err := node.New(ctx, node.Config{Config: c, DataDir: o.dataDir, Registry: all.Registry(), Suite: conformance.Suite("")})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Close()) }()
	fmt.Fprintln(log, "chat: peer", n.ID())
	for _, a := range n.Addrs() {
		fmt.Fprintln(log, "chat: listening on", a)
	}
	if o.nick == "" {
		id := n.ID().String()
		o.nick = id[len(id)-6:]
	}
	r, err := n.JoinSync(ctx, replica.Settings{Name: room})
	if err != nil {
		return err
	}
	// Watch before reading the history, so no record falls in between.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	changes := make(chan replica.Change, 256)
	go func() {
		defer close(changes)
		for ch := range r.Watch(watchCtx) {
			select {
			case changes <- ch:
			case <-watchCtx.Done():
				return
			}
		}
	}()

	if len(o.bootstrap) > 0 || !o.noMDNS {
		waitCatchUp(ctx, r, o.catchUp)
	}
	p := printer{out: out, json: o.json, shown: make(map[string]bool)}
	var history []replica.Record
	for rec, err := range r.Records(ctx) {
		if err != nil {
			return err
		}
		history = append(history, rec)
	}
	last := lastKey(history, n.ID())
	p.print(history)
	fmt.Fprintf(log, "chat: ready, %d messages before this; type a message and press Enter\n", len(history))

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		s := bufio.NewScanner(in)
		for s.Scan() {
			select {
			case lines <- s.Text():
			case <-watchCtx.Done():
				return
			}
		}
		readErr <- s.Err()
	}()
	presence := time.NewTicker(500 * time.Millisecond)
	defer presence.Stop()
	present := make(map[peer.ID]bool)
	for {
		select {
		case <-ctx.Done():
			return nil // interrupted: a clean stop
		case err := <-readErr:
			return err // end of input: every line read is stored and published
		case line := <-lines:
			text := strings.TrimSpace(line)
			if text == "" {
				continue
			}
			last = max(time.Now().UnixNano(), last+1)
			value, err := json.Marshal(message{Nick: o.nick, Text: text})
			if err != nil {
				return err
			}
			rec, err := r.Put(ctx, fmt.Sprintf("%019d", last), value)
			if err != nil {
				fmt.Fprintln(log, "chat:", err)
			}
			if rec.Writer != "" { // stored, if perhaps not published
				p.print([]replica.Record{rec})
			}
		case ch, ok := <-changes:
			if !ok {
				return nil
			}
			// Records that arrive together, as a catch-up does, are
			// printed in order.
			batch := []replica.Record{ch.Record}
		more:
			for {
				select {
				case ch, ok := <-changes:
					if !ok {
						break more
					}
					batch = append(batch, ch.Record)
				default:
					break more
				}
			}
			p.print(batch)
		case <-presence.C:
			now := make(map[peer.ID]bool)
			for _, id := range r.Status().TopicPeers {
				now[id] = true
				if !present[id] {
					fmt.Fprintln(log, "chat: joined:", id)
				}
			}
			for id := range present {
				if !now[id] {
					fmt.Fprintln(log, "chat: left:", id)
				}
			}
			present = now
		}
	}
}

// waitCatchUp waits until a reconciliation with some peer has ended well,
// so the history printed first is the room's, not only what this node
// held, or until patience runs out (no peer around).
func waitCatchUp(ctx context.Context, r *node.Synced, patience time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		for _, ps := range r.Status().Peers {
			if ps.Sessions > 0 && ps.LastError == "" {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lastKey is the largest of self's message keys, as a number.
func lastKey(recs []replica.Record, self peer.ID) int64 {
	var last int64
	for _, rec := range recs {
		if rec.Writer != self {
			continue
		}
		if k, err := strconv.ParseInt(rec.Key, 10, 64); err == nil {
			last = max(last, k)
		}
	}
	return last
}

// printer prints messages, each once. Those dated before the last one it
// printed (a catch-up that came late) are marked late.
type printer struct {
	out   io.Writer
	json  bool
	shown map[string]bool // writer + "/" + key
	last  replica.Record
}

// before orders records by clock, then writer.
func before(a, b replica.Record) int {
	return cmp.Or(a.Clock.Compare(b.Clock), strings.Compare(string(a.Writer), string(b.Writer)))
}

func (p *printer) print(recs []replica.Record) {
	slices.SortFunc(recs, before)
	for _, rec := range recs {
		id := string(rec.Writer) + "/" + rec.Key
		if rec.Deleted || p.shown[id] {
			continue
		}
		p.shown[id] = true
		late := p.last.Writer != "" && before(rec, p.last) < 0
		if !late {
			p.last = rec
		}
		var m message
		if json.Unmarshal(rec.Value, &m) != nil || m.Text == "" {
			// Not written by this program (by `netabase sync put`, say):
			// show the value as text.
			m = message{Text: string(rec.Value)}
		}
		if m.Nick == "" {
			w := rec.Writer.String()
			m.Nick = w[len(w)-6:]
		}
		if p.json {
			b, _ := json.Marshal(struct {
				Writer peer.ID `json:"writer"`
				Key    string  `json:"key"`
				Clock  string  `json:"clock"`
				Nick   string  `json:"nick"`
				Text   string  `json:"text"`
				Late   bool    `json:"late,omitempty"`
			}{rec.Writer, rec.Key, rec.Clock.String(), m.Nick, m.Text, late})
			fmt.Fprintf(p.out, "%s\n", b)
			continue
		}
		mark := ""
		if late {
			mark = "  (arrived late)"
		}
		fmt.Fprintf(p.out, "[%s] %s: %s%s\n", stamp(rec.Clock.Time()), printable(m.Nick), printable(m.Text), mark)
	}
}

// stamp is a message's time: the time of day for today's, with the date
// for older ones.
func stamp(t time.Time) string {
	if t.Format(time.DateOnly) == time.Now().Format(time.DateOnly) {
		return t.Format(time.TimeOnly)
	}
	return t.Format("2006-01-02 15:04")
}

// printable drops control characters, so a peer cannot drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
