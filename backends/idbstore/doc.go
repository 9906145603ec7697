// Package idbstore is the browser's backend: a store in an IndexedDB
// database, for Go programs built with GOOS=js GOARCH=wasm that run in a web
// page. It is built only for js/wasm; a native program has no IndexedDB.
//
// # URLs
//
//	idb://<database name>[?sync=true]
//
// The name is that of the IndexedDB database in the page's origin, such as
// idb://notes. The database holds two object stores: "data", the entries,
// each under its datastore key's bytes as a binary key, and "meta", which
// Sync writes to.
//
// # What it promises
//
// Persistent: the data outlives the store's Close and a reload of the page
// (the browser test reloads the page and reads what it wrote before).
//
// Durable: once Sync returns nil (or, with sync=true, once a write is
// acknowledged), the data survives a crash of the browser: the browser test
// stops and kills every Chromium process of a profile at once after a Sync,
// and a new Chromium on that profile finds every synced record. Against a
// crash of the machine (power loss), Sync relies on the browser: it commits
// a transaction with durability "strict", which the IndexedDB standard lets
// a browser report complete only once its changes, and so those committed
// before, are on persistent storage; no test here cuts the power. (In
// Chromium 156, writes made without Sync survived the kill as well, so the
// kill shows that an acknowledged write has left the page, not what
// "strict" adds; only Sync is promised.)
//
// What the browser may still do: evict an origin's storage under storage
// pressure unless the page asked for persistent storage
// (navigator.storage.persist), and a private window forgets everything when
// it closes.
//
// # Admission in a page
//
// A page opens its store through [core.Gate], as a node does, and the
// conformance suite runs in the browser on scratch databases. A page has no
// directory for the gate's certificates: [CertificateCache] keeps them in
// the origin's localStorage, so the suite runs on the first load of a build
// and later loads are admitted from the certificate. Info.Build names that
// build: the browser's user agent (the engine) and the program (the
// adapter's code is in it) by the SHA-256 of its WebAssembly binary, which
// the page's loader sets as the global [ProgramDigest] before it runs the
// program; without it, a clean checkout's revision and build information,
// or else a name for this load only (the suite runs at every load).
//
// # How it maps onto IndexedDB
//
// Keys sort as IndexedDB sorts binary keys, byte by byte, which is the order
// of go-datastore's string keys, so a prefix query is a key range
// (IDBKeyRange) read in either direction, and the store is a [core.Seeker].
// Each Put, Delete and batch Commit is complete (committed) before the call
// returns; a batch is atomic because it is one transaction of its own. A Put
// or Delete joins the readwrite transaction of the single writes made while
// it is still active (writes that goroutines make while none of them waits
// on anything but IndexedDB) and commits with them: one commit for many
// concurrent writes, each acknowledged only once it is committed. A page of
// a scan comes into Go in one copy, through a function made from source
// (new Function); where the page's Content-Security-Policy forbids that
// ('unsafe-eval'), each entry is copied by itself. A query reads its range in pages, each page in a
// transaction of its own, continuing after the last key it returned: it sees
// every entry once, in key order, and may see writes made while it runs.
//
// # Options
//
//	sync=true  commit every write with durability "strict" before
//	           acknowledging it (default false: "relaxed", and Sync makes
//	           the writes before it durable)
package idbstore
