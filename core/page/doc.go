// Package page makes a program with no libp2p host, such as a Go program
// compiled with GOOS=js GOARCH=wasm and running in a browser page, a full
// writer of synced collections, with one or more daemons as its relays.
// It imports neither core/node nor libp2p's host: it builds for js/wasm.
//
// A [Page] is opened on the page's admitted store (a core.Backend; in a
// browser, the IndexedDB store the conformance suite admitted) and is the
// program's model.Network. [Page.JoinSync] returns a [Synced], the page's
// side of a synced collection, which implements model.Replica as
// core/node's Synced does for a node, so that model.OpenSynced opens it
// as a typed collection with the API a native program uses:
//
//	p, err := page.Open(ctx, backend, nil)
//	rep, err := p.JoinSync(ctx, replica.Settings{Name: "chat", Writers: writers},
//		page.SyncOptions{Daemons: []string{"ws://127.0.0.1:4180/v1/sync/chat/ws"}})
//	chat, err := model.OpenSynced[string, Message](ctx, model.New(p), rep)
//
// # Writing, offline and online
//
// A write (Put, Delete) is signed with the page's key, dated by the page's
// hybrid logical clock past the version it replaces and every record the
// replica holds, and stored in the replica, in the page's backend, before
// it returns: connected or not, a reload shows it. The replica is kept
// under [SyncNamespace], one namespace per collection definition, as a
// node keeps its own. Each daemon is reached through wsync.Sync (SYNC.md
// §6): on connecting, on reconnecting after the connection ends (with a
// growing pause) and every interval, a reconciliation session brings each
// side what the other holds, the writes made offline included; while
// connected, the page's new records go to the daemon at once, and every
// record the daemon stores reaches the page, verified as any record from a
// peer is. A daemon admits the page's records as gossiped ones (signature,
// owner, schema, writer list, bounds, clock bound) and gossips them on to
// its libp2p peers.
//
// In a tab in the background, the browser runs the page's timers as
// seldom as once a minute; the connection needs none of them. The daemon
// keeps it alive by pinging it, which the browser answers by itself, and
// records each way travel on the WebSocket's events, not on timers: only
// the session each interval and a reconnection's pause come late, as late
// as the browser's next wake-up.
//
// A record a daemon refuses, and a connection a daemon refuses (it has
// other settings, for good; or it has not joined the collection, and the
// page tries it again after a long, growing pause, SyncOptions.NotJoined,
// so that it gets in once the daemon joins), reach the program through
// SyncOptions.Refused and [Synced.Status]; a page not
// on the collection's writer list is told at once, by Put's error, since
// every replica would refuse its records. A record from a daemon that
// does not verify as one of the collection's (tampered, of another
// collection) is refused, the connection closed and opened again: the
// page keeps nothing of it and stays usable.
//
// # The page's identity, and what it is worth
//
// On first use [Open] creates an Ed25519 libp2p identity ([LoadIdentity])
// and keeps its private key in the page's backend at [IdentityKey], under
// the reserved [Namespace]: in a browser, in the origin's IndexedDB, so
// every reload of the page finds the same peer ID. [Identity.Export]
// writes it as text (ExportPrefix and the libp2p-marshalled key in
// base64) and [Import] keeps such text in a page's backend, so that a
// person moves an identity between browsers.
//
// What that is worth: the key is as safe as the origin's storage. Any
// script that runs in the origin (the page's own, a library it loads, an
// injected one) can read it and sign as the page, and whoever clears the
// site's data loses it unless it was exported. Records an identity signed
// stay that writer's, whatever key a page holds later: importing another
// identity neither moves nor removes them, and only the old key can
// replace or delete them. Two browsers holding one identity are one writer
// on two devices: when both write the same key, the later clock wins, as
// for any owner's versions (SYNC.md §2). A collection's writer list names
// identities, so admitting a page to a closed collection means adding its
// peer ID. Open the page in one tab first: two tabs of a new origin that
// open at the same moment may each create an identity, the last one kept.
//
// # The page's network
//
// A page reaches no DHT: [Page.PublishRecord] is unsupported (its error
// wraps core.ErrUnsupported), and [Page.FetchRecord] reads a record
// through a daemon's gateway (Options.Gateway, its GET /v1/record route),
// verified as a node verifies a record from a peer, or is unsupported with
// no gateway.
package page
