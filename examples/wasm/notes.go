//go:build js && wasm

package main

import (
	"context"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/replica"
)

// Note is a note of the synced collection as the page keeps it: one
// writer's value for one key, in a typed collection (core/model) of the
// page's store, with indexes on its writer and on when it was written. The
// page writes a Note only from a record it verified.
type Note struct {
	// ID is the writer's peer ID and the key: a key belongs to its writer.
	ID      string    `netabase:"key"`
	Writer  string    `netabase:"index"`
	Key     string    // the writer's key in the collection
	Text    string    // the record's value
	Written time.Time `netabase:"index"` // the record's clock
}

// notes is the typed view of a replica: it holds a Note for each live
// record of the replica, kept equal to it by apply and sync.
type notes struct {
	c         *model.Collection[string, Note]
	byWritten *model.Index[time.Time, Note]
}

// openNotes opens the typed collection called name in store.
func openNotes(ctx context.Context, store ds.Batching, name string) (*notes, error) {
	c, err := model.Open[string, Note](ctx, model.NewLocal(store), name)
	if err != nil {
		return nil, err
	}
	byWritten, err := model.IndexOf[time.Time](c, "Written")
	if err != nil {
		return nil, err
	}
	return &notes{c: c, byWritten: byWritten}, nil
}

func noteOf(r replica.Record) Note {
	return Note{ID: r.Writer.String() + "/" + r.Key, Writer: r.Writer.String(), Key: r.Key, Text: string(r.Value), Written: r.Clock.Time().UTC()}
}

// apply makes the view hold what the replica holds for r's writer and key:
// r's note, or none for a tombstone.
func (n *notes) apply(ctx context.Context, r replica.Record) error {
	if r.Deleted {
		return n.c.Delete(ctx, r.Writer.String()+"/"+r.Key)
	}
	return n.c.Put(ctx, noteOf(r))
}

// sync makes the view equal to the replica: it puts what differs and
// deletes the notes the replica has no live record for (such as after the
// page stopped between storing a record and its note).
func (n *notes) sync(ctx context.Context, r *replica.Replica) error {
	live := map[string]bool{}
	for rec, err := range r.Records(ctx) {
		if err != nil {
			return err
		}
		want := noteOf(rec)
		if rec.Deleted {
			continue
		}
		live[want.ID] = true
		if got, err := n.c.Get(ctx, want.ID); err == nil && same(got, want) {
			continue
		}
		if err := n.c.Put(ctx, want); err != nil {
			return err
		}
	}
	var stale []string
	for note, err := range n.c.Scan(ctx) {
		if err != nil {
			return err
		}
		if !live[note.ID] {
			stale = append(stale, note.ID)
		}
	}
	for _, id := range stale {
		if err := n.c.Delete(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// newest yields the notes, newest first, through the index.
func (n *notes) newest(ctx context.Context) ([]Note, error) {
	var out []Note
	for note, err := range n.byWritten.Range(ctx, model.Range[time.Time]{Reverse: true}) {
		if err != nil {
			return nil, err
		}
		out = append(out, note)
	}
	return out, nil
}

func same(a, b Note) bool {
	return a.ID == b.ID && a.Writer == b.Writer && a.Key == b.Key && a.Text == b.Text && a.Written.Equal(b.Written)
}
