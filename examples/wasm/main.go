//go:build js && wasm

// Command wasm is the Go program of a page (index.html) that reads a
// netabase daemon through its read-only HTTP gateway and trusts only what
// it verifies itself: a record fetched by key is shown with the owner whose
// signature it carries, and the notes of a synced collection are kept in a
// replica (core/replica) in the browser's IndexedDB, fed by the daemon's
// event stream, every envelope verified in the page, and shown through a
// typed collection (core/model, type Note) kept from the replica in the
// same store. After a reload the page shows the notes it holds at once and
// asks the daemon only for what is new. The store is opened through the
// admission gate, as a node opens its own (store.go): on the first load of
// a build the conformance suite runs in the page, and later loads open it
// from the certificate kept in localStorage.
//
// Build it with GOOS=js GOARCH=wasm; `go run ./examples/wasm/serve` builds
// and serves it (README.md).
//
// The page's address takes its settings:
//
//	?gateway=http://127.0.0.1:4180   the daemon's gateway (this default)
//	&collection=notes                the synced collection (this default)
//	&key=/netabase/<peer ID>/<name>  a record to fetch at once
//	&writer=<peer ID>                a writer the collection admits; repeat for several; none: any
//	&store=idb://netabase-notes      the page's store (this default: idb://netabase-<collection>)
package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"syscall/js"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	gc "github.com/netabase/netabase/core/gateway/gatewayclient"
	"github.com/netabase/netabase/core/replica"
)

type page struct {
	client *gc.Client
	ctx    context.Context

	mu      sync.Mutex // serialises rendering
	refused int
}

func main() {
	ctx := context.Background()
	q, _ := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	gateway := q.Get("gateway")
	if gateway == "" {
		gateway = "http://127.0.0.1:4180"
	}
	collection := q.Get("collection")
	if collection == "" {
		collection = "notes"
	}
	setText(byID("gateway"), gateway)
	setText(byID("collection"), collection)
	c, err := gc.New(gateway, nil)
	if err != nil {
		state(byID("record"), "error", err.Error())
		state(byID("sync"), "error", err.Error())
		select {}
	}
	p := &page{client: c, ctx: ctx}

	input := byID("key")
	fetch := js.FuncOf(func(js.Value, []js.Value) any {
		key := strings.TrimSpace(input.Get("value").String())
		go p.fetchRecord(key)
		return nil
	})
	byID("fetch").Call("addEventListener", "click", fetch)
	if key := q.Get("key"); key != "" {
		input.Set("value", key)
		go p.fetchRecord(key)
	}
	store := q.Get("store")
	if store == "" {
		store = "idb://netabase-" + collection
	}
	go p.follow(collection, q, store)
	select {}
}

// fetchRecord shows the record under key, verified, or why it is not.
func (p *page) fetchRecord(key string) {
	el := byID("record")
	state(el, "loading", "fetching "+key+"...")
	ctx, cancel := context.WithTimeout(p.ctx, 40*time.Second)
	defer cancel()
	rec, err := p.client.Record(ctx, key)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case gc.IsRefused(err):
		state(el, "refused", err.Error())
		return
	case err != nil:
		state(el, "error", err.Error())
		return
	}
	state(el, "verified", "")
	el.Set("textContent", "")
	for _, f := range [][2]string{
		{"owner", rec.Owner.String()},
		{"name", rec.Name},
		{"value", string(rec.Envelope.Value)},
		{"schema", fmt.Sprintf("%s v%d", rec.Envelope.Schema, rec.Envelope.Version)},
		{"written", rec.Envelope.Clock.String()},
		{"source", rec.Source},
	} {
		row := create("div")
		row.Get("dataset").Set("field", f[0])
		label := create("b")
		setText(label, f[0]+": ")
		row.Call("appendChild", label)
		span := create("span")
		setText(span, f[1])
		row.Call("appendChild", span)
		el.Call("appendChild", row)
	}
	el.Get("dataset").Set("owner", rec.Owner.String())
}

// follow keeps the collection's replica and its typed view in the page's
// store (IndexedDB), fed from the daemon, and shows its notes. The
// collection's settings are in the page's query by the names of netabase
// sync join's flags: writer= (repeatable), max-records-per-writer= and so
// on; Follow refuses a daemon that replicates the collection with others.
func (p *page) follow(name string, q url.Values, storeURL string) {
	el := byID("sync")
	given := replica.Settings{Name: name}
	for _, f := range replica.Fields() {
		if f.Flag == "" {
			continue
		}
		for _, v := range q[f.Flag] {
			if err := given.Set(f.Key, v); err != nil {
				state(el, "error", fmt.Sprintf("%s=: %v", f.Flag, err))
				return
			}
		}
	}
	settings, err := given.Normalize()
	if err != nil {
		state(el, "error", err.Error())
		return
	}
	store, err := openStore(p.ctx, storeURL)
	if err != nil {
		state(el, "error", "cannot open the page's store "+storeURL+": "+err.Error())
		return
	}
	r, err := replica.Open(p.ctx, namespace.Wrap(store, ds.NewKey("/replica")), settings)
	if err != nil {
		state(el, "error", err.Error())
		return
	}
	view, err := openNotes(p.ctx, store, name)
	if err != nil {
		state(el, "error", err.Error())
		return
	}
	// Subscribe before the view catches up with the replica, so that no
	// record is missed between the two.
	changes := make(chan replica.Change, 256)
	go func() {
		for c := range r.Watch(p.ctx) {
			changes <- c
		}
	}()
	if err := view.sync(p.ctx, r); err != nil {
		state(el, "error", err.Error())
		return
	}
	p.render(view)
	state(el, "stored", fmt.Sprintf("%d records kept in this browser; connecting...", len(r.Items())))

	// The view is written from this goroutine alone: the changes in the
	// order the replica took them, and a full comparison with the replica
	// after each catch-up and whenever the watch says it missed changes.
	resync := make(chan struct{}, 1)
	go func() {
		err := gc.Follow(p.ctx, p.client, r, namespace.Wrap(store, ds.NewKey("/cursors")), func(pr gc.Progress) {
			switch {
			case pr.Ready:
				select {
				case resync <- struct{}{}:
				default:
				}
				state(el, "live", fmt.Sprintf("live: %d records here, %d sent by the daemon to catch up", len(r.Items()), pr.Records))
			case pr.Refused != nil:
				p.refuse(pr.Refused)
			case pr.Err != nil:
				state(el, "offline", "offline: "+pr.Err.Error()+"; retrying")
			}
		})
		state(el, "error", err.Error())
	}()
	for {
		var err error
		select {
		case c := <-changes:
			if c.Missed > 0 {
				err = view.sync(p.ctx, r) // the watch fell behind
			} else {
				err = view.apply(p.ctx, c.Record)
			}
		case <-resync:
			err = view.sync(p.ctx, r)
		}
		if err != nil {
			state(el, "error", "keeping the notes: "+err.Error())
			return
		}
		p.render(view)
	}
}

// refuse lists a record the page refused.
func (p *page) refuse(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused++
	list := byID("refused")
	li := create("li")
	setText(li, err.Error())
	list.Call("appendChild", li)
	list.Get("dataset").Set("count", p.refused)
}

// render shows the notes of the view, newest first.
func (p *page) render(view *notes) {
	notes, err := view.newest(p.ctx)
	if err != nil {
		state(byID("sync"), "error", err.Error())
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	list := byID("notes")
	list.Set("textContent", "")
	for _, n := range notes {
		li := create("li")
		d := li.Get("dataset")
		d.Set("key", n.Key)
		d.Set("writer", n.Writer)
		k := create("b")
		setText(k, n.Key)
		li.Call("appendChild", k)
		text := create("span")
		text.Set("className", "text")
		setText(text, n.Text)
		li.Call("appendChild", text)
		by := create("small")
		setText(by, "signed by "+n.Writer+", "+n.Written.Format(time.RFC3339))
		li.Call("appendChild", by)
		list.Call("appendChild", li)
	}
	list.Get("dataset").Set("count", len(notes))
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
