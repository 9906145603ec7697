// Package netabase is a peer-to-peer node framework with pluggable storage.
// The code lives in its subpackages: core (storage contracts), backends
// (the in-tree engines), conformance (the suite every backend passes), and
// cmd/netabase (the command-line tool). This package only names the release.
package netabase

// Version is the netabase release, reported by `netabase version` and in the
// node's libp2p agent string.
const Version = "0.1.0-dev"
