package page_test

import (
	"context"
	"fmt"
	"log"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/page"
	"github.com/netabase/netabase/core/replica"
)

// Message is a chat message, keyed by its ID.
type Message struct {
	ID   string `netabase:"key"`
	Text string
}

// A page opens its store, joins a synced collection through a daemon and
// writes to it as a typed collection. Here there is no daemon: the write
// is kept in the page's store, and would reach the daemon when it
// answers.
func Example() {
	ctx := context.Background()
	// In a browser: the IndexedDB store the admission gate admitted.
	b, err := all.Registry().Open(ctx, "memory://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	p, err := page.Open(ctx, b, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	rep, err := p.JoinSync(ctx, replica.Settings{Name: "chat"}, page.SyncOptions{
		// Daemons: []string{"ws://127.0.0.1:4180/v1/sync/chat/ws"},
		Refused: func(r page.Refusal) { log.Print(r) },
	})
	if err != nil {
		log.Fatal(err)
	}
	s := model.New(p)
	defer s.Close()
	chat, err := model.OpenSynced[string, Message](ctx, s, rep)
	if err != nil {
		log.Fatal(err)
	}
	if err := chat.Put(ctx, Message{ID: "m1", Text: "hello from the page"}); err != nil {
		log.Fatal(err)
	}
	m, err := chat.GetFrom(ctx, p.ID(), "m1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Text)
	// Output: hello from the page
}

// An identity moves between browsers as text.
func ExampleIdentity_Export() {
	ctx := context.Background()
	here, _ := all.Registry().Open(ctx, "memory://")
	there, _ := all.Registry().Open(ctx, "memory://")
	defer here.Close()
	defer there.Close()
	id, _, err := page.LoadIdentity(ctx, here)
	if err != nil {
		log.Fatal(err)
	}
	text, err := id.Export()
	if err != nil {
		log.Fatal(err)
	}
	moved, err := page.Import(ctx, there, text)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(moved.ID() == id.ID())
	// Output: true
}
