package core

import (
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
)

// Sentinel errors. Compare with errors.Is: they survive wrapping, and the
// plugin host maps them across the gRPC hop.
var (
	// ErrNotFound is go-datastore's ErrNotFound itself, so that the DHT and
	// any other go-datastore user recognise it.
	ErrNotFound = ds.ErrNotFound
	// ErrClosed is returned by every operation on a closed store.
	ErrClosed = errors.New("store is closed")
	// ErrInvalidKey is returned for a key that is empty, not rooted, not
	// clean, or longer than MaxKeySize.
	ErrInvalidKey = errors.New("invalid key")
	// ErrTooLarge is returned for a value longer than MaxValueSize.
	ErrTooLarge = errors.New("value too large")
	// ErrUnsupported is returned for an operation the backend did not
	// declare among its capabilities.
	ErrUnsupported = errors.New("operation not supported by this backend")
	// ErrRejected is returned when a backend, a record validator or the
	// admission gate refuses something it was given.
	ErrRejected = errors.New("rejected")
	// ErrConflict is returned when a write conflicts with existing data,
	// such as a second value for a unique index.
	ErrConflict = errors.New("conflict")
	// ErrFailed is returned by every operation on a store whose engine hit
	// a fault it cannot recover from (a full disk, corrupt data); the
	// error says what happened and what to do. See [StateFailed].
	ErrFailed = errors.New("store has failed")
)

// Errorf returns an error of the kind of the sentinel kind whose message is
// the format's alone: errors.Is(err, kind) holds, and the user reads one
// plain sentence without the sentinel's text in front. A %w in format
// wraps as with fmt.Errorf.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// Error is a backend error annotated with what was being done. Core wraps an
// engine's error in an Error exactly once.
type Error struct {
	Backend string // the backend's name, such as "pebble"
	Op      string // the operation, such as "put" or "query"
	Key     string // the datastore key, or the query prefix; may be empty
	Err     error  // the underlying error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s: %s: %v", e.Backend, e.Op, e.Err)
	}
	return fmt.Sprintf("%s: %s %s: %v", e.Backend, e.Op, e.Key, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// wrapErr wraps err for the operation op on key, unless it is nil, the bare
// ErrNotFound that go-datastore users compare with ==, or already an *Error.
func wrapErr(backend, op, key string, err error) error {
	if err == nil || err == ds.ErrNotFound {
		return err
	}
	if errors.Is(err, ds.ErrNotFound) {
		// A backend that wrapped not-found itself still reports the
		// canonical value: go-datastore users compare with ==.
		return ds.ErrNotFound
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	return &Error{Backend: backend, Op: op, Key: key, Err: err}
}
