// Package crdt benchmarks netabase's synced collections side by side with
// go-ds-crdt, the Merkle-CRDT datastore IPFS Cluster replicates its state
// with, on loopback libp2p hosts in one process: catch-up of two replicas
// that differ, live propagation on a network of nodes, and a cold join.
// It is a module of its own so that go-ds-crdt and bitswap stay out of
// netabase's own dependencies; see BENCHMARKS.md for the command and the
// figures.
package crdt
