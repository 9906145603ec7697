// Command models shows netabase's typed collections on two nodes talking
// over loopback: it declares a struct with two indexes, stores and queries
// values on the first node, publishes one, and fetches it on the second,
// which also sees it arrive in its change feed.
//
//	go run ./examples/models
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/node"
)

// Book is the model: keyed by ISBN, indexed by author and by year.
type Book struct {
	ISBN   string `netabase:"key"`
	Author string `netabase:"index"`
	Year   int    `netabase:"index"`
	Title  string
}

var books = []Book{
	{"978-0-13-468599-1", "Kernighan", 2015, "The Go Programming Language"},
	{"978-0-13-110362-7", "Kernighan", 1988, "The C Programming Language"},
	{"978-0-201-63361-0", "Gamma", 1994, "Design Patterns"},
	{"978-0-262-03384-8", "Cormen", 2009, "Introduction to Algorithms"},
	{"978-1-4493-7332-0", "Kleppmann", 2017, "Designing Data-Intensive Applications"},
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "models:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "netabase-models-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Two nodes on loopback, each with its own in-memory store; they share
	// the admission gate's certificates, so the conformance suite runs once.
	alice, err := startNode(ctx, dir, "alice")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, alice.Close()) }()
	bob, err := startNode(ctx, dir, "bob")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, bob.Close()) }()
	if err := bob.Connect(ctx, peer.AddrInfo{ID: alice.ID(), Addrs: alice.Addrs()}); err != nil {
		return err
	}
	for _, n := range []*node.Node{alice, bob} {
		if _, err := n.Bootstrap(ctx); err != nil {
			return err
		}
	}

	// Alice's collection: store, then query through both indexes.
	aliceStore := model.New(alice)
	defer aliceStore.Close()
	onAlice, err := model.Open[string, Book](ctx, aliceStore, "books")
	if err != nil {
		return err
	}
	if err := onAlice.PutMany(ctx, books); err != nil {
		return err
	}
	if err := query(ctx, out, onAlice); err != nil {
		return err
	}

	// Bob watches the collection, then fetches what Alice publishes.
	bobStore := model.New(bob)
	defer bobStore.Close()
	onBob, err := model.Open[string, Book](ctx, bobStore, "books")
	if err != nil {
		return err
	}
	return publishAndFetch(ctx, out, alice.ID(), onAlice, onBob)
}

// query lists alice's books through both indexes.
func query(ctx context.Context, out io.Writer, onAlice *model.Collection[string, Book]) error {
	byAuthor, err := model.IndexOf[string](onAlice, "Author")
	if err != nil {
		return err
	}
	byYear, err := model.IndexOf[int](onAlice, "Year")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "alice: books by Kernighan:")
	if err := list(out, byAuthor.Find(ctx, "Kernighan")); err != nil {
		return err
	}
	fmt.Fprintln(out, "alice: books from 1990 to 2010, newest first:")
	return list(out, byYear.Range(ctx, model.Range[int]{Reverse: true}.From(1990).To(2010)))
}

// publishAndFetch has alice publish a book, bob fetch it from the network,
// and bob's change feed show it arriving.
func publishAndFetch(ctx context.Context, out io.Writer, alice peer.ID, onAlice, onBob *model.Collection[string, Book]) error {
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	next, stop := iter.Pull2(onBob.Watch(watchCtx))
	defer stop()

	ddia, err := onAlice.Get(ctx, "978-1-4493-7332-0")
	if err != nil {
		return err
	}
	if _, err := onAlice.Publish(ctx, ddia); err != nil {
		return err
	}
	fmt.Fprintf(out, "alice: published %q\n", ddia.Title)

	fetched, err := onBob.Fetch(ctx, alice, ddia.ISBN)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "bob: fetched %q by %s (%d) from alice\n", fetched.Title, fetched.Author, fetched.Year)

	ev, err, ok := next()
	if !ok {
		return errors.New("bob's change feed ended")
	}
	if err != nil {
		return err
	}
	if ev.Owner != alice {
		return fmt.Errorf("bob's feed shows a record of %s, not alice", ev.Owner)
	}
	fmt.Fprintf(out, "bob: change feed: %s %q from alice\n", ev.Kind, ev.New.Title)
	return nil
}

// startNode starts a node called name, with its data directory under dir,
// listening on loopback only.
func startNode(ctx context.Context, dir, name string) (*node.Node, error) {
	return node.New(ctx, node.Config{
		DataDir:  filepath.Join(dir, name),
		CertDir:  filepath.Join(dir, "certs"),
		Registry: all.Registry(),
		Suite:    conformance.Suite(""),
		Storage:  "memory://",
		Listen:   []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Mode:     node.ModeServer,
	})
}

// list prints the books seq yields.
func list(out io.Writer, seq iter.Seq2[Book, error]) error {
	for b, err := range seq {
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %d  %-10s %s\n", b.Year, b.Author, b.Title)
	}
	return nil
}
