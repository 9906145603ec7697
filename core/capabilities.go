package core

import (
	"slices"
	"strings"
)

// Capabilities are the optional abilities a backend declares. The zero value
// is a non-persistent store with no optional features. The conformance suite
// checks every declared capability, and core exposes the matching optional
// go-datastore interface exactly when it is declared.
type Capabilities struct {
	// Persistent: data survives Close and a reopen of the same store.
	Persistent bool `json:"persistent"`
	// Durable: once Sync returns nil (or, with sync=true, once a write is
	// acknowledged), the data survives a crash of the process.
	Durable bool `json:"durable"`
	// TTL: the store implements go-datastore's TTL interface.
	TTL bool `json:"ttl"`
	// Transactions: the store implements go-datastore's TxnDatastore, and a
	// committed transaction is applied atomically.
	Transactions bool `json:"transactions"`
}

// Names lists the declared capabilities, in a fixed order.
func (c Capabilities) Names() []string {
	var names []string
	for _, f := range []struct {
		on   bool
		name string
	}{
		{c.Persistent, "persistent"},
		{c.Durable, "durable"},
		{c.TTL, "ttl"},
		{c.Transactions, "transactions"},
	} {
		if f.on {
			names = append(names, f.name)
		}
	}
	return names
}

// Missing names the capabilities that need declares and c does not.
func (c Capabilities) Missing(need Capabilities) []string {
	have := c.Names()
	var out []string
	for _, n := range need.Names() {
		if !slices.Contains(have, n) {
			out = append(out, n)
		}
	}
	return out
}

func (c Capabilities) String() string {
	names := c.Names()
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Info says what a backend is.
type Info struct {
	// Name of the engine, such as "pebble".
	Name string `json:"name"`
	// Version of the engine build, such as "go-ds-pebble v0.5.13".
	Version string `json:"version"`
	// Build identifies this exact build for the admission gate: the engine
	// module version and the program's build ([ProgramBuild]) for an
	// in-tree backend, the binary's checksum for a plugin.
	Build string `json:"build"`
	// Capabilities the backend declares.
	Capabilities Capabilities `json:"capabilities"`
}
