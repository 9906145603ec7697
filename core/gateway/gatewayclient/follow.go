package gatewayclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core/replica"
)

// insertBatch is how many records of a catch-up go into one insert.
const insertBatch = 256

// Reconnection delays of Follow.
const (
	minRetry = time.Second
	maxRetry = 15 * time.Second
)

// Progress is what Follow reports as it goes; one field is set.
type Progress struct {
	// Ready: a stream caught up, having sent Records records.
	Ready   bool
	Records int
	// Stored records entered the replica.
	Stored int
	// Refused is a record that did not verify or that the collection
	// does not admit; it is not stored.
	Refused error
	// Err ended a stream; Follow reconnects after a delay.
	Err error
}

// Follow keeps r, a replica of a synced collection (in any datastore: an
// IndexedDB store in a browser), fed from the gateway's event stream of the
// collection of the same name, until ctx ends; it returns ctx's error.
//
// Every record is verified before it is stored, by r.Verify: its envelope
// (strict CBOR, signed by the owner its key names, for that key, as Verify
// checks a record) and its place in the collection (its name and writers,
// by the replica's own settings, not the gateway's).
// r.Insert keeps the newest version of each record as everywhere else.
// After each insert Follow keeps the stream's cursor in cursors (any
// datastore but r's; one cursor per gateway and collection), so that a
// later Follow over the same replica and gateway — after a page reload —
// asks only for what it has not seen. It reconnects after
// an error, from the cursor.
//
// Before each stream, Follow asks the gateway for the collection's
// settings (Client.Collection). When the daemon replicates the collection
// with other settings than r's (writers, bounds or horizon), so that the
// two would keep and evict different records, Follow stores nothing and
// returns an error, replica.ErrOtherSettings, naming the fields that
// differ.
func Follow(ctx context.Context, c *Client, r *replica.Replica, cursors ds.Datastore, report func(Progress)) error {
	if report == nil {
		report = func(Progress) {}
	}
	key := c.CursorKey(r)
	retry := minRetry
	for {
		since := ""
		if b, err := cursors.Get(ctx, key); err == nil {
			since = string(b)
		} else if !errors.Is(err, ds.ErrNotFound) {
			return fmt.Errorf("reading the stream cursor of %s: %w", r.Settings().Name, err)
		}
		caughtUp, err := follow(ctx, c, r, since, cursors, key, report)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, replica.ErrOtherSettings) {
			return err
		}
		report(Progress{Err: err})
		if caughtUp {
			retry = minRetry
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		retry = min(2*retry, maxRetry)
	}
}

// CursorKey is where Follow keeps the cursor of r's stream from this
// client's gateway. A cursor is the gateway's own clock reading, which
// means nothing to another gateway, so each gateway has its own.
func (c *Client) CursorKey(r *replica.Replica) ds.Key {
	d := r.Digest()
	g := sha256.Sum256([]byte(c.base.String()))
	return ds.NewKey("/gateway/cursor/" + hex.EncodeToString(d[:]) + "/" + hex.EncodeToString(g[:16]))
}

// follow reads one stream into r, keeping its cursor under key in cursors,
// and reports whether it caught up.
func follow(ctx context.Context, c *Client, r *replica.Replica, since string, cursors ds.Datastore, key ds.Key, report func(Progress)) (bool, error) {
	col, err := c.Collection(ctx, r.Settings().Name)
	if err != nil {
		return false, err
	}
	if err := r.Settings().Agree("the gateway's daemon", col.Settings, col.Digest); err != nil {
		return false, err
	}
	var batch []replica.Verified
	flush := func(cursor string) error {
		if len(batch) > 0 {
			n, err := r.Insert(ctx, "", batch)
			batch = batch[:0]
			if err != nil {
				return err
			}
			if n > 0 {
				report(Progress{Stored: n})
			}
		}
		if cursor != "" {
			if err := cursors.Put(ctx, key, []byte(cursor)); err != nil {
				return fmt.Errorf("keeping the stream cursor of %s: %w", r.Settings().Name, err)
			}
		}
		return nil
	}
	caughtUp := false
	// r.Verify opens each envelope as Events would, and checks it
	// against the collection's settings too.
	for ev, err := range c.events(ctx, r.Settings().Name, since, false) {
		if err != nil {
			if IsRefused(err) {
				report(Progress{Refused: err})
				continue
			}
			// What arrived before the stream broke was verified: keep it.
			return caughtUp, errors.Join(err, flush(""))
		}
		if ev.Ready {
			if err := flush(ev.ID); err != nil {
				return caughtUp, err
			}
			caughtUp = true
			report(Progress{Ready: true, Records: ev.Records})
			continue
		}
		v, err := r.Verify(ev.Data)
		if err != nil {
			report(Progress{Refused: fmt.Errorf("refused a record the gateway served: %w", err)})
			continue
		}
		batch = append(batch, v)
		if ev.ID != "" || len(batch) >= insertBatch {
			if err := flush(ev.ID); err != nil {
				return caughtUp, err
			}
		}
	}
	return caughtUp, flush("")
}
