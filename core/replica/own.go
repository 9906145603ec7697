package replica

import (
	"context"
	"errors"

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
