package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// SealOwn signs the record for key of the writer whose key is priv, a
// value of the given schema version (0 with no value: a tombstone), dated
// by clock after the version of it the replica holds (even one written
// before a restart by a wall clock that ran ahead, or the new one would
// lose) and after every record the replica holds (within
// envelope.MaxObservedSkew), so that a write is dated after the records
// its writer could have seen: the order a chat needs. It returns the
// record, ready for Insert. A tombstone of a key the writer holds no live
// value of (none, or its tombstone) is not sealed: the error wraps
// core.ErrNotFound. A node and a page write their own records so.
func (r *Replica) SealOwn(ctx context.Context, priv crypto.PrivKey, clock *envelope.Clock, key string, version uint32, value []byte) (Verified, error) {
	writer, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return Verified{}, err
	}
	rk := r.RecordKey(writer, key)
	var held *envelope.Envelope
	switch data, err := r.Envelope(ctx, rk); {
	case err == nil:
		if e, err := envelope.Decode(rk, data); err == nil {
			held = e
			clock.Advance(e.Clock)
		}
	case !errors.Is(err, core.ErrNotFound):
		return Verified{}, err
	}
	if version == 0 {
		switch {
		case held == nil:
			return Verified{}, core.Errorf(core.ErrNotFound, "collection %s holds no record of %s for key %q", r.settings.Name, writer, key)
		case held.Version == 0:
			return Verified{}, core.Errorf(core.ErrNotFound, "collection %s: %s deleted key %q", r.settings.Name, writer, key)
		}
	}
	clock.Observe(r.Latest())
	e, err := envelope.Seal(priv, r.settings.Name+"/"+key, r.settings.Name, version, clock.Now(), value)
	if err != nil {
		return Verified{}, err
	}
	data, err := e.Marshal()
	if err != nil {
		return Verified{}, err
	}
	return Verified{Env: e, Data: data}, nil
}

// TooLarge is the error for a writer's own record of size bytes that the
// replica left out of its Insert: the one reason it does, a record larger
// than the largest the bounds take (what Insert drops by).
func (r *Replica) TooLarge(size int) error {
	st := r.settings
	how := "the smaller of MaxBytesPerWriter and MaxBytes"
	if st.BoundsRule == BoundsSameSet {
		how = "under bounds rule 2, the smaller of MaxBytesPerWriter / MaxRecordsPerWriter and MaxBytes / MaxRecords"
	}
	return core.Errorf(core.ErrTooLarge, "collection %s: a record of %d bytes does not fit the collection's bound of %d bytes (%s)", st.Name, size, st.recordCap(), how)
}

// Put is one of a writer's own records for PutOwn: a value of the given
// schema version (1 or more) for key.
type Put struct {
	Key     string
	Version uint32
	Value   []byte
}

// PutOwn seals the records of puts as SealOwn does, in order, each dated
// after the one before, and stores them all or none, in one write: when
// one of them would be left out (too large for the bounds, replaced
// meanwhile by a newer version of its key, or dropped at once by the
// bounds together with the others, as a call of more records than
// MaxRecordsPerWriter is), or the write fails, it stores none and the
// error says why. Of records for one key, the last is the one stored.
// Watchers see each record as a change of its own, and peers receive each
// as a record of its own. It returns the records stored, for the writer
// to publish. A node's and a page's PutMany write so.
func (r *Replica) PutOwn(ctx context.Context, priv crypto.PrivKey, clock *envelope.Clock, puts []Put) ([]Verified, error) {
	vs := make([]Verified, len(puts))
	for i, p := range puts {
		switch {
		case p.Key == "":
			return nil, core.Errorf(core.ErrInvalidKey, "collection %s: a synced record needs a key", r.settings.Name)
		case p.Version == 0:
			return nil, core.Errorf(core.ErrInvalidKey, "collection %s: record %q: schema version 0 marks a tombstone; use Delete", r.settings.Name, p.Key)
		}
		v, err := r.SealOwn(ctx, priv, clock, p.Key, p.Version, p.Value)
		if err != nil {
			return nil, err
		}
		vs[i] = v
	}
	if _, err := r.insert(ctx, "", vs, true); err != nil {
		return nil, err
	}
	return vs, nil
}

// leftOut is PutOwn's error for its record v that Insert would leave
// out; n is how many records the call holds.
func (r *Replica) leftOut(v Verified, tooLarge bool, n int) error {
	_, name, _ := envelope.ParseKey(v.Env.Key)
	what := fmt.Sprintf("record %q", name[len(r.settings.Name)+1:])
	if n > 1 {
		what = fmt.Sprintf("%s (one of %d, none of which is stored)", what, n)
	}
	switch {
	case tooLarge:
		return fmt.Errorf("%s: %w", what, r.TooLarge(len(v.Data)))
	case v.Env.CheckClock(r.now()) != nil:
		return fmt.Errorf("collection %s: %s: %w", r.settings.Name, what, v.Env.CheckClock(r.now()))
	case v.Env.Version == 0:
		return core.Errorf(core.ErrRejected, "collection %s: %s is a tombstone past the tombstone horizon", r.settings.Name, what)
	}
	return core.Errorf(core.ErrConflict, "collection %s: %s: a newer version of the key was stored meanwhile; write it again", r.settings.Name, what)
}

// overBounds is PutOwn's error for n records that the bounds would drop
// some of at once.
func (r *Replica) overBounds(n int) error {
	st := r.settings
	return core.Errorf(core.ErrTooLarge, "collection %s: the bounds (MaxRecordsPerWriter %d, MaxBytesPerWriter %d, MaxRecords %d, MaxBytes %d) would drop some of the %d records of the write as soon as they are stored, so none is stored: write fewer at once, or raise the bounds", st.Name, st.MaxRecordsPerWriter, st.MaxBytesPerWriter, st.MaxRecords, st.MaxBytes, n)
}
