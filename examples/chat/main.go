// Command chat is a chat room for every chat process that can reach
// another: on one machine or a LAN they find each other by mDNS, elsewhere
// by --bootstrap. Each line typed is a message; every message of the room
// is printed, the history first. On a terminal a line editor keeps the
// line being typed under the messages; otherwise each line of stdin is a
// message and messages go to stdout. The room is a synced collection
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
// {"nick": ..., "text": ...}. Each writer's record under the key "nick",
// {"nick": ...}, names it in joins and leaves before it has written a
// message. Messages are printed in the order of their record clocks, a
// hybrid logical clock that a node moves past every record its replica
// holds before it writes, ties broken by writer ID; so a reply always
// comes after the message it answers, on every screen.
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
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/term"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

// room is the name of the synced collection all chat processes join.
const room = "chat"

type options struct {
	dataDir   string
	nick      string
	listen    []ma.Multiaddr
	bootstrap []peer.AddrInfo
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
	if term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd())) {
		err = runTerminal(ctx, opts, os.Stdin, os.Stdout)
	} else {
		err = run(ctx, opts, plain(os.Stdin, os.Stdout, os.Stderr))
	}
	if err != nil {
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
	if len(listen) == 0 {
		listen = repeated{"/ip4/0.0.0.0/tcp/0"}
	}
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return o, fmt.Errorf("--listen %q is not a multiaddr (%v); write one such as /ip4/0.0.0.0/tcp/0", s, err)
		}
		o.listen = append(o.listen, a)
	}
	for _, s := range bootstrap {
		ai, err := node.ParsePeerAddr(s)
		if err != nil {
			return o, fmt.Errorf("--bootstrap: %v", err)
		}
		o.bootstrap = append(o.bootstrap, ai)
	}
	return o, nil
}

// message is the value of a chat record.
type message struct {
	Nick string `json:"nick"`
	Text string `json:"text"`
}

// nickKey is the key of a writer's presence record, whose value is JSON
// {"nick": ...}: the nick its joins and leaves are shown with before it
// has written a message. Message keys are digits, so it is none of them.
const nickKey = "nick"

// nickPatience is how long a peer that joined the room is not announced
// while its nick is unknown: its presence record comes by the
// reconciliation that starts when the peers meet, about when gossip says
// it joined. Past that it is announced by the end of its peer ID.
const nickPatience = 10 * time.Second

// ui is where the chat shows messages and notices and reads what is typed.
type ui struct {
	out   io.Writer // messages
	notes io.Writer // notices: peer ID, addresses, joins, leaves, errors
	// prefix starts every notice.
	prefix string
	// start begins reading typed lines, once the history is shown, with
	// nick the user's nick; ended then yields nil at the end of input, or
	// the error that ended it.
	start func(nick string) (lines <-chan string, ended <-chan error)
}

func (u ui) notice(format string, args ...any) {
	fmt.Fprintf(u.notes, u.prefix+format+"\n", args...)
}

// plain is the line mode of a chat whose standard input or output is not a
// terminal: messages on stdout, notices on stderr, each line of stdin a
// message.
func plain(in io.Reader, out, log io.Writer) ui {
	return ui{out: out, notes: log, prefix: "chat: ", start: func(string) (<-chan string, <-chan error) {
		lines := make(chan string)
		ended := make(chan error, 1)
		go func() {
			s := bufio.NewScanner(in)
			for s.Scan() {
				lines <- s.Text()
			}
			ended <- s.Err()
		}()
		return lines, ended
	}}
}

// keySend is the key the terminal's line editor is given for Enter (see
// runTerminal): a control character it binds to nothing else.
const keySend = 0x1e

// runTerminal runs the chat on a terminal: a line editor (golang.org/x/term)
// under the messages, with the nick as its prompt. A message or notice
// that arrives while a line is typed is written above it, and the line is
// drawn again as it was. Ctrl-D on an empty line, or Ctrl-C, leaves.
func runTerminal(ctx context.Context, o options, in, out *os.File) error {
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return err
	}
	defer term.Restore(int(in.Fd()), old)
	// The editor leaves each line ReadLine returns on the screen, above
	// the next prompt; a sent message would then show twice, as typed and
	// as the room's line. So Enter comes to it as keySend, which its
	// AutoCompleteCallback takes: it hands the line over and empties the
	// editor, and the message is shown once, like everyone's.
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{enterAsSend{in}, out}, "")
	w := sizedTerminal{t, int(out.Fd())}
	defer func() {
		// Leave the screen with the prompt cleared.
		t.SetPrompt("")
		_, _ = w.Write(nil)
	}()
	u := ui{out: w, notes: w, prefix: "* ", start: func(nick string) (<-chan string, <-chan error) {
		lines := make(chan string)
		ended := make(chan error, 1)
		t.SetPrompt(printable(nick) + "> ")
		t.AutoCompleteCallback = func(line string, _ int, key rune) (string, int, bool) {
			if key != keySend {
				return "", 0, false
			}
			if strings.TrimSpace(line) != "" {
				t.History.Add(line) // Up brings it back, as for a line ReadLine returns
				select {
				case lines <- line:
				case <-ctx.Done():
				}
			}
			return "", 0, true
		}
		go func() {
			_, err := t.ReadLine() // returns only at Ctrl-D, Ctrl-C or an error
			if errors.Is(err, io.EOF) {
				err = nil
			}
			ended <- err
		}()
		return lines, ended
	}}
	return run(ctx, o, u)
}

// enterAsSend is a terminal's input with Enter (CR or LF) turned into
// keySend.
type enterAsSend struct{ r io.Reader }

func (e enterAsSend) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	for i, b := range p[:n] {
		if b == '\r' || b == '\n' {
			p[i] = keySend
		}
	}
	return n, err
}

// sizedTerminal writes to the line editor after telling it the terminal's
// width, which it needs to redraw a long line and which the user may
// change at any time.
type sizedTerminal struct {
	t  *term.Terminal
	fd int
}

func (s sizedTerminal) Write(p []byte) (int, error) {
	if w, h, err := term.GetSize(s.fd); err == nil {
		_ = s.t.SetSize(w, h)
	}
	return s.t.Write(p)
}

func run(ctx context.Context, o options, u ui) (err error) {
	n, err := node.New(ctx, node.Config{
		DataDir:   o.dataDir, // the identity key, the certificates and a pebble store
		Registry:  all.Registry(),
		Suite:     conformance.Suite(""),
		Listen:    o.listen,
		Bootstrap: o.bootstrap,
		MDNS:      !o.noMDNS,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Close()) }()
	u.notice("peer %s", n.ID())
	for _, a := range n.Addrs() {
		u.notice("listening on %s", a)
	}
	if o.nick == "" {
		o.nick = shortID(n.ID())
	}
	r, err := n.JoinSync(ctx, replica.Settings{Name: room})
	if err != nil {
		return err
	}
	if err := sayNick(ctx, r, n.ID(), o.nick); err != nil {
		u.notice("%v", err)
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
		// The history printed first is the room's, not only what this
		// node held, unless a peer does not answer within the patience.
		catchCtx, cancel := context.WithTimeout(ctx, o.catchUp)
		_, err := r.CaughtUp(catchCtx, o.catchUp)
		cancel()
		if err != nil && ctx.Err() == nil {
			u.notice("%v; the history shown is what this node holds", err)
		}
	}
	p := printer{out: u.out, json: o.json, shown: make(map[string]bool), nicks: make(map[peer.ID]string)}
	var history []replica.Record
	for rec, err := range r.Records(ctx) {
		if err != nil {
			return err
		}
		history = append(history, rec)
	}
	last := lastKey(history, n.ID())
	// What arrived while the history was read belongs to it too.
	history, _, err = appendQueued(ctx, r, history, changes)
	if err != nil {
		return err
	}
	p.print(history)
	suffix := "s"
	if p.messages == 1 {
		suffix = ""
	}
	u.notice("ready, %d message%s before this; you are %s; type a message and press Enter (Ctrl-D to leave)", p.messages, suffix, printable(o.nick))

	lines, ended := u.start(o.nick)
	presence := time.NewTicker(500 * time.Millisecond)
	defer presence.Stop()
	present := make(map[peer.ID]bool)      // announced as joined
	unnamed := make(map[peer.ID]time.Time) // joined, not announced: nick unknown since
	for {
		select {
		case <-ctx.Done():
			return nil // interrupted: a clean stop
		case err := <-ended:
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
				u.notice("%v", err)
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
			batch, err := taken(ctx, r, nil, ch)
			open := true
			if err == nil {
				batch, open, err = appendQueued(ctx, r, batch, changes)
			}
			if err != nil {
				return err
			}
			p.print(batch)
			if !open {
				return nil
			}
		case <-presence.C:
			now := make(map[peer.ID]bool)
			for _, id := range r.Status().TopicPeers {
				now[id] = true
				if present[id] {
					continue
				}
				nick, known := p.nicks[id]
				if since, waiting := unnamed[id]; !known && (!waiting || time.Since(since) < nickPatience) {
					if !waiting {
						unnamed[id] = time.Now()
					}
					continue
				}
				if !known {
					nick = shortID(id)
				}
				delete(unnamed, id)
				present[id] = true
				u.notice("joined: %s", printable(nick))
			}
			for id := range present {
				if !now[id] {
					delete(present, id)
					u.notice("left: %s", printable(p.nick(id)))
				}
			}
			for id := range unnamed {
				if !now[id] {
					delete(unnamed, id)
				}
			}
		}
	}
}

// appendQueued appends what the changes already queued bring to recs (see
// taken); it reports false when changes is closed.
func appendQueued(ctx context.Context, r *node.Synced, recs []replica.Record, changes <-chan replica.Change) ([]replica.Record, bool, error) {
	for {
		select {
		case ch, ok := <-changes:
			if !ok {
				return recs, false, nil
			}
			var err error
			if recs, err = taken(ctx, r, recs, ch); err != nil {
				return recs, true, err
			}
		default:
			return recs, true, nil
		}
	}
}

// taken appends what ch brings to recs: its record, or, when the watch
// says it missed changes, every record the room holds (print shows each
// once).
func taken(ctx context.Context, r *node.Synced, recs []replica.Record, ch replica.Change) ([]replica.Record, error) {
	if ch.Missed == 0 {
		return append(recs, ch.Record), nil
	}
	for rec, err := range r.Records(ctx) {
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// sayNick writes self's presence record, unless the one it holds already
// says nick.
func sayNick(ctx context.Context, r *node.Synced, self peer.ID, nick string) error {
	if rec, err := r.Get(ctx, self, nickKey); err == nil && nickIn(rec.Value) == nick {
		return nil
	}
	value, err := json.Marshal(message{Nick: nick})
	if err != nil {
		return err
	}
	_, err = r.Put(ctx, nickKey, value)
	return err
}

// nickIn is the nick of a message or presence value, or "".
func nickIn(value []byte) string {
	var m message
	if json.Unmarshal(value, &m) != nil {
		return ""
	}
	return m.Nick
}

// shortID is the end of a peer ID: the nick of a peer that gave none.
func shortID(id peer.ID) string {
	s := id.String()
	return s[len(s)-6:]
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
// printed (a catch-up that came late) are marked late. It learns each
// writer's nick from its presence record and its messages.
type printer struct {
	out      io.Writer
	json     bool
	shown    map[string]bool // writer + "/" + key
	last     replica.Record
	nicks    map[peer.ID]string
	messages int // printed
}

// before orders records by clock, then writer.
func before(a, b replica.Record) int {
	return cmp.Or(a.Clock.Compare(b.Clock), strings.Compare(string(a.Writer), string(b.Writer)))
}

// nick is the nick writer was last seen with, or the end of its peer ID.
func (p *printer) nick(writer peer.ID) string {
	if nick, ok := p.nicks[writer]; ok {
		return nick
	}
	return shortID(writer)
}

func (p *printer) print(recs []replica.Record) {
	slices.SortFunc(recs, before)
	for _, rec := range recs {
		if rec.Key == nickKey { // a presence record: a nick, changed or not
			if nick := nickIn(rec.Value); nick != "" && !rec.Deleted {
				p.nicks[rec.Writer] = nick
			}
			continue
		}
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
			m.Nick = p.nick(rec.Writer)
		} else if !late {
			p.nicks[rec.Writer] = m.Nick
		}
		p.messages++
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
