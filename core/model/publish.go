package model

import (
	"context"
	"errors"
	"reflect"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// RecordName is the name under which a value with key key is published:
// "<collection>/<key segment>", where the key segment is the key's
// order-preserving encoding in base32hex ("-" for an empty key). The record
// key is envelope.Key(owner, RecordName(key)).
func (c *Collection[K, T]) RecordName(key K) string {
	return c.name + "/" + segment(c.keyBinary(key))
}

// Publish signs v as this node's record for v's key in this collection and
// puts it to the network; it returns the record key. It does not change
// the local collection: Put v as well to keep it here, indexed.
func (c *Collection[K, T]) Publish(ctx context.Context, v T) (string, error) {
	if c.s.net == nil {
		return "", c.errorf("publish: %w: the store has no network", core.ErrUnsupported)
	}
	rv := reflect.ValueOf(&v).Elem().Field(c.l.key.index)
	data, err := c.encode(reflect.ValueOf(&v).Elem(), func() ([]byte, error) { return valueEnc.Marshal(&v) })
	if err != nil {
		return "", c.errorf("publish %s: %w", formatValue(rv), err)
	}
	name := c.name + "/" + segment(c.l.key.kind.appendBinary(nil, rv))
	key, err := c.s.net.PublishRecord(ctx, name, c.name, c.opts.version, data)
	if err != nil {
		return "", c.errorf("publish %s: %w", formatValue(rv), err)
	}
	return key, nil
}

// Fetch returns owner's published value for key, from the network (or the
// local record store), verified and decoded. The error wraps
// core.ErrNotFound when owner published none, core.ErrRejected when the
// record is not a valid value of this collection, and core.ErrUnsupported
// when it was written with a schema version this program cannot read.
func (c *Collection[K, T]) Fetch(ctx context.Context, owner peer.ID, key K) (T, error) {
	var zero T
	if c.s.net == nil {
		return zero, c.errorf("fetch: %w: the store has no network", core.ErrUnsupported)
	}
	kseg := segment(c.keyBinary(key))
	rk := envelope.Key(owner, c.name+"/"+kseg)
	env, err := c.s.net.FetchRecord(ctx, rk)
	if err != nil {
		return zero, c.errorf("fetch %s: %w", rk, err)
	}
	return c.openEnvelope(rk, kseg, env)
}

// openEnvelope checks that env is a valid record filed under rk, holding a
// value of this collection whose key segment is kseg, and decodes it.
func (c *Collection[K, T]) openEnvelope(rk, kseg string, env *envelope.Envelope) (T, error) {
	var zero T
	// The network verified env already; verifying again here keeps this
	// package's guarantee whatever implements Network.
	data, err := env.Marshal()
	if err != nil {
		return zero, c.errorf("record %s: %w: %v", rk, core.ErrRejected, err)
	}
	if _, err := envelope.Open(rk, data); err != nil {
		return zero, c.errorf("record %s: %w", rk, err)
	}
	if env.Schema != c.name {
		return zero, c.errorf("record %s: %w: it holds schema %q, not this collection", rk, core.ErrRejected, env.Schema)
	}
	v, err := c.decodeVersion(env.Version, env.Value)
	if err != nil {
		if !errors.Is(err, core.ErrUnsupported) {
			err = core.Errorf(core.ErrRejected, "%w", err)
		}
		return zero, c.errorf("record %s: %w", rk, err)
	}
	if got := segment(c.l.key.kind.appendBinary(nil, reflect.ValueOf(&v).Elem().Field(c.l.key.index))); got != kseg {
		return zero, c.errorf("record %s: %w: it holds the value of key %s", rk, core.ErrRejected, c.describeKey(got))
	}
	return v, nil
}
