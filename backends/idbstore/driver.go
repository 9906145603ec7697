//go:build js && wasm

package idbstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"syscall/js"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
)

// Scheme is the URL scheme of the IndexedDB backend.
const Scheme = "idb"

// engineVersion names the engine: the browser's IndexedDB, through this
// adapter's layout version. Info.Build adds the program's and the
// browser's identity.
const engineVersion = "IndexedDB (layout 1)"

// Driver returns the driver for idb:// URLs.
func Driver() core.Driver { return driver{} }

type driver struct{}

func (driver) About() core.About {
	return core.About{
		Scheme:       Scheme,
		Name:         "indexeddb",
		Version:      engineVersion,
		Capabilities: core.Capabilities{Persistent: true, Durable: true},
		Form:         "idb://name",
		Params: []core.Param{
			{Name: "sync", Doc: `true: commit every write with durability "strict" before acknowledging it (default false; Sync always does)`},
		},
	}
}

// Describe says what the store is. Its build names the program (see
// [ProgramDigest]), whose code the adapter is, and the browser, whose
// IndexedDB is the engine: a certificate of the conformance suite holds for
// that program in that browser build only.
func (d driver) Describe(_ context.Context, u *url.URL) (core.Info, error) {
	if _, err := ParseURL(u); err != nil {
		return core.Info{}, err
	}
	info := d.About().Info()
	info.Build = engineVersion + ", " + program()
	if nav := js.Global().Get("navigator"); !nav.IsUndefined() && nav.Get("userAgent").Type() == js.TypeString {
		info.Build += ", in " + nav.Get("userAgent").String()
	}
	return info, nil
}

func (driver) Open(ctx context.Context, u *url.URL) (ds.Batching, error) {
	opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return Open(ctx, opts)
}

// Scratch returns the URL of a fresh database with u's options, and a
// function that deletes it. A browser has no file system: it makes no
// directory, and ignores root.
func (driver) Scratch(_ context.Context, u *url.URL, _ string) (*url.URL, func() error, error) {
	var id [8]byte
	_, _ = rand.Read(id[:])
	s, err := scratchURL(u, id[:])
	if err != nil {
		return nil, nil, err
	}
	return s, func() error { return Delete(s.Host) }, nil
}

// scratchURL is u, checked, naming the database u names followed by
// ".scratch-" and id in hex.
func scratchURL(u *url.URL, id []byte) (*url.URL, error) {
	if _, err := ParseURL(u); err != nil {
		return nil, err
	}
	s := *u
	s.Host = u.Host + ".scratch-" + hex.EncodeToString(id)
	return &s, nil
}

// Delete deletes the database called name and everything in it. Every
// store open on it must be closed first.
func Delete(name string) error {
	factory := js.Global().Get("indexedDB")
	if factory.IsUndefined() || factory.IsNull() {
		return fmt.Errorf("idbstore: IndexedDB is not available here")
	}
	req, err := call(factory, "deleteDatabase", name)
	if err != nil {
		return fmt.Errorf("idbstore: deleting the database %q: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := wait(ctx, req, "success", "error", "blocked")
	if err == nil && e.name == "blocked" {
		// A connection is still open. One whose Close was called ends once
		// its last transactions finish, and then the deletion goes on.
		e, err = wait(ctx, req, "success", "error")
		if err != nil {
			return fmt.Errorf("idbstore: the database %q is still open, so it cannot be deleted; close its stores first", name)
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("idbstore: deleting the database %q: %w", name, err)
	case e.name == "error":
		return fmt.Errorf("idbstore: deleting the database %q: %w", name, domError(req.Get("error")))
	}
	return nil
}

// ParseURL parses an idb:// URL into Options.
func ParseURL(u *url.URL) (*Options, error) {
	p := core.NewParams(u)
	opts := &Options{Name: u.Host, Sync: p.Bool("sync", false)}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, core.InvalidURL(u, "no database name; write idb://<name>, as in idb://notes")
	}
	if u.Path != "" && u.Path != "/" || u.User != nil || u.Port() != "" {
		return nil, core.InvalidURL(u, "the database name is everything an idb:// URL names; write idb://<name>, as in idb://notes")
	}
	return opts, nil
}
