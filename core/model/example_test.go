package model_test

import (
	"context"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/core/model"
)

// Book is a typed record: the struct tags name its primary key and its
// secondary indexes.
type Book struct {
	ISBN   string `netabase:"key"`
	Author string `netabase:"index"`
	Year   int    `netabase:"index"`
	Title  string
}

// A collection of books in a local store, queried through its indexes. On
// a node, model.New(n) gives the same collections over the node's admitted
// backend.
func ExampleOpen() {
	ctx := context.Background()
	store := model.NewLocal(dssync.MutexWrap(ds.NewMapDatastore()))
	books, err := model.Open[string, Book](ctx, store, "books")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, b := range []Book{
		{"978-1-4493-7332-0", "Kleppmann", 2017, "Designing Data-Intensive Applications"},
		{"978-0-13-468599-1", "Kernighan", 2015, "The Go Programming Language"},
		{"978-0-201-63361-0", "Gamma", 1994, "Design Patterns"},
	} {
		if err := books.Put(ctx, b); err != nil {
			fmt.Println(err)
			return
		}
	}

	byYear, err := model.IndexOf[int](books, "Year")
	if err != nil {
		fmt.Println(err)
		return
	}
	for b, err := range byYear.Range(ctx, model.Range[int]{}.From(2000).To(2020)) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(b.Year, b.Title)
	}

	byAuthor, err := model.IndexOf[string](books, "Author")
	if err != nil {
		fmt.Println(err)
		return
	}
	for b, err := range byAuthor.Find(ctx, "Gamma") {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("by Gamma:", b.Title)
	}
	// Output:
	// 2015 The Go Programming Language
	// 2017 Designing Data-Intensive Applications
	// by Gamma: Design Patterns
}
