package sdk

import "github.com/netabase/netabase/core"

// The errors a store returns, or wraps, where they fit. Each crosses the
// wire as a stable code, and the node's errors.Is matches the same sentinel
// in core: these are core's errors themselves, here so that a plugin need
// not import core.
var (
	// ErrNotFound is go-datastore's ErrNotFound itself: return it for a
	// missing key (the DHT compares it with ==).
	ErrNotFound = core.ErrNotFound
	// ErrClosed is for every operation on a closed store.
	ErrClosed = core.ErrClosed
	// ErrInvalidKey is for a key the store cannot hold.
	ErrInvalidKey = core.ErrInvalidKey
	// ErrTooLarge is for a value the store cannot hold.
	ErrTooLarge = core.ErrTooLarge
	// ErrUnsupported is for an operation the store does not offer.
	ErrUnsupported = core.ErrUnsupported
	// ErrRejected is for something the store refuses.
	ErrRejected = core.ErrRejected
	// ErrConflict is for a write that conflicts with the stored data.
	ErrConflict = core.ErrConflict
)
