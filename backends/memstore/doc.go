// Package memstore is the in-memory backend: go-datastore's map datastore,
// made safe for concurrent use and for callers that reuse their slices.
//
// # URLs
//
//	memory://
//
// Every Open returns a new, empty store; nothing is shared between opens.
//
// # Capabilities
//
// None: data lives only as long as the store is open.
//
// # Options
//
// The memory backend takes no options; any URL parameter is an error.
package memstore
