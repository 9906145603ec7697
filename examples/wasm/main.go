//go:build js && wasm

// Command wasm is the chat of examples/chat in a browser page (index.html):
// the page is a writer of the synced collection "chat", as a chat process
// is, with a daemon as its relay (core/page over the daemon's sync
// endpoint, `netabase daemon --gateway-sync`). Its messages are the
// records examples/chat writes — key the writer's wall clock in
// nanoseconds, 19 digits; value JSON {"nick": ..., "text": ...}; each
// writer's record "nick" names it — signed with the page's own identity
// (an Ed25519 key kept in the origin's IndexedDB, the same at every
// reload), so a person in a terminal running examples/chat and a person in
// the page talk to each other, through any daemon that replicates the
// room.
//
// A message written in the page is stored in the page's store at once,
// connected or not, and reaches the daemons when the page next reaches
// one; a reload shows every message the page holds at once, in the order
// of their record clocks (ties by writer), as examples/chat prints them.
// The store is opened through the admission gate, as a node opens its own
// (store.go): on the first load of a build the conformance suite runs in
// the page, and later loads open it from the certificate kept in
// localStorage.
//
// Build it with GOOS=js GOARCH=wasm; `go run ./examples/wasm/serve` builds
// and serves it (README.md).
//
// The page's address takes its settings:
//
//	?daemon=ws://127.0.0.1:4180/v1/sync/chat/ws   a daemon's sync endpoint (this default); repeat for several
//	&nick=alice                                   the name shown with the page's messages (default: the end of its peer ID)
//	&writer=<peer ID>                             a writer the room admits; repeat for several; none: any
//	&store=idb://netabase-chat                    the page's store (this default)
//
// and the room's other settings by the names of netabase sync join's flags
// (max-records-per-writer= and so on): a daemon that replicates the room
// with other settings refuses the page, naming them.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall/js"
	"time"
	"unicode"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/page"
	"github.com/netabase/netabase/core/replica"
)

// room is the synced collection of examples/chat.
const room = "chat"

// message is the value of a chat record, as examples/chat writes it.
type message struct {
	Nick string `json:"nick"`
	Text string `json:"text,omitempty"`
}

// nickKey is the key of each writer's record that names it.
const nickKey = "nick"

type chat struct {
	ctx  context.Context
	s    *page.Synced
	self peer.ID
	nick string

	mu      sync.Mutex
	records map[string]replica.Record // the messages, by writer/key
	nicks   map[peer.ID]string
	last    int64 // the page's last message key
	refused int
}

func main() {
	ctx := context.Background()
	q, _ := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	daemons := q["daemon"]
	if len(daemons) == 0 {
		daemons = []string{"ws://127.0.0.1:4180/v1/sync/" + room + "/ws"}
	}
	setText(byID("daemons"), strings.Join(daemons, ", "))
	store := q.Get("store")
	if store == "" {
		store = "idb://netabase-" + room
	}
	if err := start(ctx, q, daemons, store); err != nil {
		state(byID("chat"), "error", err.Error())
	}
	select {}
}

// start opens the page's store and identity, joins the room through the
// daemons, shows what the page holds and takes messages.
func start(ctx context.Context, q url.Values, daemons []string, storeURL string) error {
	given := replica.Settings{Name: room}
	for _, f := range replica.Fields() {
		if f.Flag == "" {
			continue
		}
		for _, v := range q[f.Flag] {
			if err := given.Set(f.Key, v); err != nil {
				return fmt.Errorf("%s=: %w", f.Flag, err)
			}
		}
	}
	settings, err := given.Normalize()
	if err != nil {
		return err
	}
	b, err := openStore(ctx, storeURL)
	if err != nil {
		return fmt.Errorf("cannot open the page's store %s: %w", storeURL, err)
	}
	p, err := page.Open(ctx, b, nil)
	if err != nil {
		return err
	}
	id := byID("identity")
	setText(id, p.ID().String())
	id.Get("dataset").Set("peer", p.ID().String())
	c := &chat{ctx: ctx, self: p.ID(), nick: strings.TrimSpace(q.Get("nick")),
		records: map[string]replica.Record{}, nicks: map[peer.ID]string{}}
	if c.nick == "" {
		c.nick = shortID(p.ID())
	}
	c.s, err = p.JoinSync(ctx, settings, page.SyncOptions{Daemons: daemons, Refused: c.refuse})
	if err != nil {
		return err
	}
	// Subscribe before reading what the page holds, so that no record is
	// missed between the two.
	changes := make(chan replica.Change, 256)
	go func() {
		for ch := range c.s.Watch(ctx) {
			changes <- ch
		}
	}()
	if err := c.reload(); err != nil {
		return err
	}
	if err := c.sayNick(); err != nil {
		c.showError(err)
	}
	c.render()

	input := byID("text")
	send := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 {
			args[0].Call("preventDefault") // the form's submit: no navigation
		}
		text := strings.TrimSpace(input.Get("value").String())
		input.Set("value", "")
		if text != "" {
			go c.send(text)
		}
		return nil
	})
	byID("send").Call("addEventListener", "submit", send)
	el := byID("chat")
	state(el, "ready", "you are "+printable(c.nick)+"; type a message and press Enter")
	el.Get("dataset").Set("ms", js.Global().Get("performance").Call("now").Int())

	status := time.NewTicker(250 * time.Millisecond)
	defer status.Stop()
	for {
		select {
		case ch := <-changes:
			apply := func(ch replica.Change) error {
				if ch.Missed > 0 {
					return c.reload()
				}
				c.take(ch.Record)
				return nil
			}
			err := apply(ch)
			// Take whatever else came, then show it all once.
			for more := true; more && err == nil; {
				select {
				case ch := <-changes:
					err = apply(ch)
				default:
					more = false
				}
			}
			if err != nil {
				return err
			}
			c.render()
		case <-status.C:
			c.showStatus()
		}
	}
}

// reload reads every record the page holds.
func (c *chat) reload() error {
	for rec, err := range c.s.Records(c.ctx) {
		if err != nil {
			return err
		}
		c.take(rec)
	}
	return nil
}

// take keeps a record: a writer's nick, or a message.
func (c *chat) take(rec replica.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := string(rec.Writer) + "/" + rec.Key
	switch {
	case rec.Key == nickKey:
		if n := nickIn(rec.Value); n != "" && !rec.Deleted {
			c.nicks[rec.Writer] = n
		}
	case rec.Deleted:
		delete(c.records, id)
	default:
		c.records[id] = rec
		if rec.Writer == c.self {
			var k int64
			if _, err := fmt.Sscanf(rec.Key, "%d", &k); err == nil {
				c.last = max(c.last, k)
			}
		}
	}
}

// sayNick writes the page's nick record unless it holds that nick already.
func (c *chat) sayNick() error {
	if rec, err := c.s.Get(c.ctx, c.self, nickKey); err == nil && nickIn(rec.Value) == c.nick {
		return nil
	}
	v, err := json.Marshal(message{Nick: c.nick})
	if err != nil {
		return err
	}
	rec, err := c.s.Put(c.ctx, nickKey, v)
	if err != nil {
		return err
	}
	c.take(rec)
	return nil
}

// send writes a message, keyed as examples/chat keys its messages: the
// wall clock in nanoseconds, past the page's last key.
func (c *chat) send(text string) {
	v, err := json.Marshal(message{Nick: c.nick, Text: text})
	if err != nil {
		c.showError(err)
		return
	}
	c.mu.Lock()
	c.last = max(time.Now().UnixNano(), c.last+1)
	key := fmt.Sprintf("%019d", c.last)
	c.mu.Unlock()
	rec, err := c.s.Put(c.ctx, key, v)
	if err != nil {
		c.showError(err)
		return
	}
	c.take(rec)
	c.render()
}

// refuse lists what a daemon refused.
func (c *chat) refuse(r page.Refusal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused++
	list := byID("refused")
	li := create("li")
	setText(li, r.String())
	li.Get("dataset").Set("key", r.Key)
	list.Call("appendChild", li)
	list.Get("dataset").Set("count", c.refused)
}

func (c *chat) showError(err error) {
	state(byID("error"), "error", err.Error())
}

// showStatus says whether a daemon is connected.
func (c *chat) showStatus() {
	st := c.s.Status()
	connected, why := 0, ""
	for _, d := range st.Daemons {
		switch {
		case d.Connected:
			connected++
		case d.Refused != nil:
			why = d.Refused.String()
		case d.LastError != nil:
			why = d.LastError.Error()
		}
	}
	el := byID("sync")
	if connected > 0 {
		state(el, "live", fmt.Sprintf("live: connected to %d of %d daemons; %d records here", connected, len(st.Daemons), st.Records))
		return
	}
	if why == "" {
		why = "connecting"
	}
	state(el, "offline", "offline, writing here and sending later: "+why)
}

// render shows the messages in the order of their clocks, ties by writer.
func (c *chat) render() {
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs := slices.SortedFunc(func(yield func(replica.Record) bool) {
		for _, r := range c.records {
			if !yield(r) {
				return
			}
		}
	}, func(a, b replica.Record) int {
		return cmp.Or(a.Clock.Compare(b.Clock), strings.Compare(string(a.Writer), string(b.Writer)))
	})
	list := byID("messages")
	list.Set("textContent", "")
	for _, r := range msgs {
		var m message
		if json.Unmarshal(r.Value, &m) != nil || m.Text == "" {
			m = message{Text: string(r.Value)} // not written by a chat: shown as text
		}
		if m.Nick == "" {
			m.Nick = c.nicks[r.Writer]
		}
		if m.Nick == "" {
			m.Nick = shortID(r.Writer)
		}
		li := create("li")
		d := li.Get("dataset")
		d.Set("key", r.Key)
		d.Set("writer", r.Writer.String())
		d.Set("nick", m.Nick)
		d.Set("text", m.Text)
		nick := create("b")
		nick.Set("className", "nick")
		setText(nick, printable(m.Nick))
		li.Call("appendChild", nick)
		text := create("span")
		text.Set("className", "text")
		setText(text, m.Text)
		li.Call("appendChild", text)
		when := create("small")
		setText(when, r.Clock.Time().Format(time.TimeOnly)+", signed by "+r.Writer.String())
		li.Call("appendChild", when)
		list.Call("appendChild", li)
	}
	list.Get("dataset").Set("count", len(msgs))
}

// nickIn is the nick a record's value names, or "".
func nickIn(value []byte) string {
	var m message
	if json.Unmarshal(value, &m) != nil {
		return ""
	}
	return m.Nick
}

// shortID is the end of a peer ID: the nick of a writer that gave none.
func shortID(id peer.ID) string {
	s := id.String()
	return s[len(s)-6:]
}

// printable drops control characters from a nick.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

func byID(id string) js.Value { return js.Global().Get("document").Call("getElementById", id) }

func create(tag string) js.Value { return js.Global().Get("document").Call("createElement", tag) }

func setText(el js.Value, s string) { el.Set("textContent", s) }

// state sets an element's data-state, and its text unless text is "".
func state(el js.Value, s, text string) {
	el.Get("dataset").Set("state", s)
	if text != "" {
		setText(el, text)
	}
}
