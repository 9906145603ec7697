package replica

import (
	"context"
	"encoding/hex"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
)

// Namespace is the key prefix under which a program (a node, a page)
// keeps the replicas of the synced collections it joins in its backend:
// one namespace below it per collection definition, named by its settings'
// digest in hex, so that other settings under one name keep a replica of
// their own.
const Namespace = "/sync"

// OpenIn opens the replica of settings, which Normalize returned, kept in
// d under Namespace, in the namespace of their digest.
func OpenIn(ctx context.Context, d ds.Datastore, settings Settings) (*Replica, error) {
	digest := settings.Digest()
	return Open(ctx, namespace.Wrap(d, ds.NewKey(Namespace).ChildString(hex.EncodeToString(digest[:]))), settings)
}
