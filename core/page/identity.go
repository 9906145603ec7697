package page

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
)

// Namespace is the key prefix the page keeps its own state under in its
// backend: its identity, at IdentityKey. Nothing else writes there.
const Namespace = "/page"

// IdentityKey is where the page's identity is kept in its backend: the
// private key as libp2p marshals it (crypto.MarshalPrivateKey).
var IdentityKey = ds.NewKey(Namespace + "/identity")

// ExportPrefix begins an identity's exported text (Identity.Export).
const ExportPrefix = "netabase-identity-v1:"

// Identity is a page's libp2p identity: an Ed25519 key and its peer ID,
// the writer its records are signed by. Whoever holds the key is that
// writer; see the package doc for who can read it.
type Identity struct {
	priv crypto.PrivKey
	id   peer.ID
}

// newIdentity checks priv and makes the identity of it.
func newIdentity(priv crypto.PrivKey) (Identity, error) {
	if priv.Type() != crypto.Ed25519 {
		return Identity{}, core.Errorf(core.ErrInvalidKey, "the identity key is of type %s; a page's identity is an Ed25519 key", priv.Type())
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return Identity{}, core.Errorf(core.ErrInvalidKey, "the identity key names no peer: %v", err)
	}
	return Identity{priv: priv, id: id}, nil
}

// ID is the identity's peer ID.
func (i Identity) ID() peer.ID { return i.id }

// PrivateKey is the identity's private key.
func (i Identity) PrivateKey() crypto.PrivKey { return i.priv }

// Export returns the identity as text a person can move to another
// browser and give to Import there: ExportPrefix, then the private key as
// libp2p marshals it (crypto.MarshalPrivateKey), in standard base64 with
// padding. The text is the key itself: whoever reads it can sign as this
// writer.
func (i Identity) Export() (string, error) {
	if i.priv == nil {
		return "", errors.New("page: the zero Identity has no key to export")
	}
	b, err := crypto.MarshalPrivateKey(i.priv)
	if err != nil {
		return "", fmt.Errorf("page: marshalling the identity key: %w", err)
	}
	return ExportPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// ParseIdentity reads text that Identity.Export wrote (surrounding
// white space is ignored). The error wraps core.ErrInvalidKey and says
// what is wrong.
func ParseIdentity(text string) (Identity, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(text), ExportPrefix)
	if !ok {
		return Identity{}, core.Errorf(core.ErrInvalidKey, "an exported identity begins with %q; this text does not: give the whole text Export wrote", ExportPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return Identity{}, core.Errorf(core.ErrInvalidKey, "the exported identity is not valid base64 after %q (%v): it may have been cut or changed", ExportPrefix, err)
	}
	priv, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return Identity{}, core.Errorf(core.ErrInvalidKey, "the exported identity holds no private key libp2p reads: %v", err)
	}
	return newIdentity(priv)
}

// LoadIdentity returns the identity kept in b at IdentityKey. When there
// is none it generates an Ed25519 key and keeps it there (created is
// then true), so that every later load, in this or a later session of
// the page, returns the same identity. A key kept there that does not
// read is an error, never replaced: the page would lose its writer.
func LoadIdentity(ctx context.Context, b ds.Datastore) (id Identity, created bool, err error) {
	data, err := b.Get(ctx, IdentityKey)
	switch {
	case err == nil:
		priv, err := crypto.UnmarshalPrivateKey(data)
		if err != nil {
			return Identity{}, false, fmt.Errorf("page: the identity kept at %s is damaged (%v); import one with Import, or delete the key to start as a new writer", IdentityKey, err)
		}
		id, err := newIdentity(priv)
		return id, false, err
	case !errors.Is(err, ds.ErrNotFound):
		return Identity{}, false, fmt.Errorf("page: reading the identity: %w", err)
	}
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return Identity{}, false, fmt.Errorf("page: generating an identity: %w", err)
	}
	id, err = newIdentity(priv)
	if err != nil {
		return Identity{}, false, err
	}
	if err := store(ctx, b, id); err != nil {
		return Identity{}, false, err
	}
	return id, true, nil
}

// Import keeps the identity text (Identity.Export's) in b, in place of
// the one there, and returns it. Records the former identity signed stay
// that writer's: they keep their owner, and only its key can replace or
// delete them. A Page open on b goes on with the identity it opened
// with; open it again to write as the imported one.
func Import(ctx context.Context, b ds.Datastore, text string) (Identity, error) {
	id, err := ParseIdentity(text)
	if err != nil {
		return Identity{}, err
	}
	if err := store(ctx, b, id); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// store writes id's key at IdentityKey, durably.
func store(ctx context.Context, b ds.Datastore, id Identity) error {
	data, err := crypto.MarshalPrivateKey(id.priv)
	if err != nil {
		return fmt.Errorf("page: marshalling the identity key: %w", err)
	}
	if err := b.Put(ctx, IdentityKey, data); err != nil {
		return fmt.Errorf("page: keeping the identity: %w", err)
	}
	if err := b.Sync(ctx, IdentityKey); err != nil {
		return fmt.Errorf("page: keeping the identity: %w", err)
	}
	return nil
}
