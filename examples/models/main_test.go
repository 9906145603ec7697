package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRun runs the example, two nodes and all, and checks what it prints.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := `alice: books by Kernighan:
  1988  Kernighan  The C Programming Language
  2015  Kernighan  The Go Programming Language
alice: books from 1990 to 2010, newest first:
  2009  Cormen     Introduction to Algorithms
  1994  Gamma      Design Patterns
alice: published "Designing Data-Intensive Applications"
bob: fetched "Designing Data-Intensive Applications" by Kleppmann (2017) from alice
bob: change feed: received "Designing Data-Intensive Applications" from alice
`
	if got := out.String(); got != want {
		t.Fatalf("the example printed\n%s\nwant\n%s", got, want)
	}
}
