// Package apijson is the JSON vocabulary netabase's two HTTP APIs share:
// the daemon's control API (internal/control) and its read-only gateway
// (core/gateway, read by core/gateway/gatewayclient). A record envelope's
// fields and a key's providers are declared here once, with the one
// conversion from what a node returns, so that both APIs name them alike.
//
// Each API gives an envelope's logical clock under its own name (the
// control API's "clock_logical", left out when 0; the gateway's "logical",
// always given, and the payload beside it), so each declares its envelope
// as [Envelope] with those fields added.
//
// The package builds for js/wasm, as gatewayclient does; of this module it
// imports core/envelope and core only.
package apijson

import (
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/envelope"
)

// Envelope is what a netabase record's envelope says, in both APIs'
// forms: its owner and name (read from its key), its schema and version,
// and its clock, in UTC.
type Envelope struct {
	Owner   string    `json:"owner"`
	Name    string    `json:"name"`
	Schema  string    `json:"schema"`
	Version uint32    `json:"version"`
	Clock   time.Time `json:"clock"`
}

// EnvelopeOf returns e's fields. The owner and name are empty when e's key
// is not a netabase record key.
func EnvelopeOf(e *envelope.Envelope) Envelope {
	out := Envelope{Schema: e.Schema, Version: e.Version, Clock: e.Clock.Time().UTC()}
	if owner, name, err := envelope.ParseKey(e.Key); err == nil {
		out.Owner, out.Name = owner.String(), name
	}
	return out
}

// Providers are the providers found for a key: the CID its provider
// records are filed under, and the peers.
type Providers struct {
	CID       string     `json:"cid"`
	Providers []Provider `json:"providers"`
}

// Provider is a peer that provides a key, with the addresses known for it.
type Provider struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// ProvidersOf returns the providers found for the key filed under c.
// Their lists are never nil, so that JSON gives none as [].
func ProvidersOf(c cid.Cid, found []peer.AddrInfo) Providers {
	out := Providers{CID: c.String(), Providers: []Provider{}}
	for _, ai := range found {
		p := Provider{ID: ai.ID.String(), Addrs: []string{}}
		for _, a := range ai.Addrs {
			p.Addrs = append(p.Addrs, a.String())
		}
		out.Providers = append(out.Providers, p)
	}
	return out
}
