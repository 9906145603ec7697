// Package node is a netabase node: a libp2p host (TCP and QUIC, Noise and
// TLS, yamux, Identify, mDNS, the resource and connection managers) running
// go-libp2p-kad-dht over the storage backend its [Config] names.
//
// [New] starts a node and [Node.Close] stops it. Between the two, every
// operation of the node is a method taking a context and returning Go
// values: records ([Node.Publish], [Node.PutRecord], [Node.GetRecord],
// [Node.RemoveRecord], [Node.LocalRecords]), providers
// ([Node.StartProviding], [Node.StopProviding], [Node.FindProviders]), peers
// ([Node.Bootstrap], [Node.Connect], [Node.AddAddress], [Node.RemoveAddress],
// [Node.RemovePeer], [Node.KeptPeers]), the DHT mode ([Node.Mode],
// [Node.SetMode]) and [Node.Protocols]. [Node.Subscribe] delivers typed
// events.
//
// [New] refuses a listen address whose port another process (or node)
// listens on, TCP or QUIC, saying so: go-libp2p listens on TCP with
// SO_REUSEPORT, so that its dials leave from the listen port for NAT
// traversal, and without the check a second node would listen on the same
// port and take part of the first one's connections. Port 0 takes a free
// port.
//
// # Options
//
// A [Config] holds typed options (multiaddrs, durations, byte sizes), and
// every option's zero value means its default: [DefaultStorage] in the data
// directory, [DefaultListen], [PrefixNetabase], [ModeAuto], [DefaultLimits],
// [DefaultQuota], [DefaultRepublishInterval]; mDNS is off unless asked for.
// New refuses an option it cannot take, naming it. The daemon's
// configuration file is not this package's business: core/config converts
// it into a Config once (config.Config.NodeConfig), and the daemon reads
// the file's own tables (metrics, tracing, the gateway, synced collections)
// itself.
//
// # Storage
//
// The backend passes the admission gate (core.Gate with the conformance
// suite, certificates cached in the data directory, or in Config.CertDir,
// which `netabase daemon` points at the user's cache directory) before
// anything else starts. The DHT gets the backend, under the [DHTNamespace] prefix, as its
// ValueDatastore and ProviderDatastore, so its records live in the chosen
// backend, in the layout core.RecordStore and core.ProviderStore read:
// [Node.Records] and [Node.Providers] are those views.
//
// When the backend is persistent, unless Config.NoSyncWrites (the daemon's
// sync_writes = false), the node turns on core.SyncWrites before anything
// writes: every write it acknowledges (a record or provider record it stores or accepts from a
// peer, a write through [Node.Datastore] such as a typed collection's) has
// been synced to disk first, writes that arrive together sharing one Sync.
//
// Between the DHT and the backend sits a guard that keeps every value
// record monotonic (a write the namespace's selector ranks below the stored
// record is refused, whoever makes it), applies the quota, and reports
// writes, which become RecordStored and RecordReceived events.
//
// # Quota
//
// What the node stores for other peers is bounded by [Config.Quota]
// ([DefaultQuota] unless given): value records and bytes in all, per
// sending peer and per owner, provider records in all and per provider,
// and the rates of PUT_VALUE and ADD_PROVIDER per peer. The guard counts every write and delete of the
// DHT's namespace (the counts are built by a scan at start) and refuses a
// write from the network past a limit before it is written; the node's own
// writes are counted and never refused. kad-dht hands the store no sending
// peer, so the DHT's request hook, which sees each request first, tells the
// guard who sent a PUT_VALUE; per-peer counts of value records therefore
// cover what the node accepted since it started. The hook also refuses
// requests over a peer's rate, records of namespaces the node has no
// validator for (pk and ipns unless Config.IPFSRecords) and provider keys
// that are not multihashes, and trims a provider's addresses. kad-dht gives
// the hook no way to refuse, so it empties the request as kad-dht would
// refuse it; the peer gets a failure, and a stock client sends a failed
// request once more, so each refused write counts twice. [Node.Refused]
// counts refusals by reason; a peer's are logged at most once a minute.
//
// kad-dht buffers provider writes in memory and commits them 256 at a time
// or when it closes. So that the store, and not that buffer, is the truth:
// the node writes its own provider records straight to the store and
// announces them itself (the same GetClosestPeers and ADD_PROVIDER calls
// kad-dht's Provide makes), it writes each ADD_PROVIDER it accepts from a
// peer through to the store as the request arrives, and it turns off
// kad-dht's provider read cache so the DHT sees these writes at once. The
// buffered copies kad-dht flushes later are the same records.
//
// # Records
//
// Netabase records live in the "netabase" namespace, under keys
// /netabase/<owner peer ID>/<name>, as envelopes (core/envelope) signed by
// the owner and stamped by the node's hybrid logical clock, which observes
// every envelope the node stores or gets: its own in full, so each new
// record outranks the node's earlier ones, another owner's only up to
// envelope.MaxObservedSkew past the wall clock, so no peer can date the
// node's records ahead (core/envelope's package doc has the rule). The DHT
// validates them with envelope.Validator, so nobody but the owner can
// replace a record, an old version never replaces a newer one, and a
// record dated more than envelope.MaxClockSkew ahead of the node's clock
// is refused (it would outrank its owner's updates). Applications may
// register validators for namespaces of their own.
//
// With the protocol prefix /ipfs the node is a peer of the public IPFS DHT,
// whose peers accept only pk and ipns records: providers and peer routing
// work, and a netabase record is refused with [ErrNetabaseOnIPFS].
//
// # Peers
//
// The node keeps some peers connected ([Node.KeptPeers]): its bootstrap
// peers and up to [KeptPerCollection] peers of each synced collection. The
// connection manager never closes their connections (they are protected),
// and when one closes the node dials the peer again, with a backoff. It
// remembers the last [RememberedPeers] netabase peers it was connected to,
// with their addresses and the collections they shared, in the backend
// under [NodeNamespace] (go-libp2p's peerstore lives in memory), and after
// a restart dials them until it reaches each once, and keeps those of the
// collections it joins again.
//
// # Modes
//
// kad-dht fixes a DHT's mode when it is created; [Node.SetMode] replaces
// the DHT with one in the new mode over the same host and store.
package node
