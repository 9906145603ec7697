package page

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/gateway/wsync"
	"github.com/netabase/netabase/core/replica"
)

// SyncOptions configure a collection the page joins.
type SyncOptions struct {
	// Daemons are the sync endpoints (SYNC.md §6) of the daemons the page
	// syncs the collection through, such as
	// ws://127.0.0.1:4180/v1/sync/chat/ws or wss://… behind a TLS proxy.
	// None: the page keeps its writes and waits; it syncs nothing.
	Daemons []string
	// Interval is how often a reconciliation session runs with each
	// daemon besides on connecting; 0: one minute, as between nodes.
	Interval time.Duration
	// Refused is told of what a daemon refuses: each of the page's records
	// it does not take (Refusal.Key names it), and each refusal of the
	// connection (Refusal.Err is then a *wsync.RefusedError): a daemon
	// with other settings refuses for good, and the page no longer syncs
	// through it; one that has not joined the collection
	// (wsync.CodeNotJoined) is tried again after a long pause (NotJoined),
	// so that the page gets in once its operator joins. It is called from the
	// connection's goroutine, and must not block for long. Status keeps
	// the refusals either way; with Refused nil they are logged.
	Refused func(Refusal)
	// NotJoined is the first pause before the page tries again a daemon
	// that has not joined the collection, doubling after each such
	// refusal up to wsync.NotJoinedMax; 0: wsync.DefaultNotJoined (a
	// minute).
	NotJoined time.Duration
	// Versions are the reconciliation protocol versions the page offers
	// its daemons, the newest first (SYNC.md §6, subprotocols); nil: every
	// version this build speaks (replica.Versions).
	Versions []replica.Version
}

// check refuses options that cannot work.
func (o SyncOptions) check() error {
	for _, d := range o.Daemons {
		u, err := url.Parse(d)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return core.Errorf(core.ErrInvalidKey, "page: daemon %q is not a ws:// or wss:// URL with a host, such as ws://127.0.0.1:4180/v1/sync/chat/ws", d)
		}
	}
	return nil
}

// Refusal is what a daemon refused, and why.
type Refusal struct {
	// Daemon is the daemon's sync endpoint, as SyncOptions named it.
	Daemon string
	// Key is the record key of the page's record the daemon did not
	// take; empty when the daemon refused the connection, or a record
	// whose envelope did not open.
	Key string
	// Reason is the daemon's sentence.
	Reason string
	// Err is the *wsync.RefusedError of a refused connection; nil for a
	// record.
	Err error
}

func (r Refusal) String() string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("daemon %s refused the collection: %s", r.Daemon, r.Reason)
	case r.Key == "":
		return fmt.Sprintf("daemon %s refused a record that does not open as an envelope: %s", r.Daemon, r.Reason)
	}
	return fmt.Sprintf("daemon %s refused record %s: %s", r.Daemon, r.Key, r.Reason)
}

// Synced is a synced collection the page replicates, and a
// model.Replica: model.OpenSynced opens it as a typed collection. The
// page's writes are signed with its key and stored in its replica at once,
// connected or not; they reach its daemons live while connected, and by
// the reconciliation session each connection starts otherwise. Its
// methods are safe for concurrent use.
type Synced struct {
	p *Page
	r *replica.Replica
	o SyncOptions

	ctx    context.Context // ends at Leave or the page's Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	joined time.Time

	mu      sync.Mutex
	daemons map[string]*daemonState
	changed chan struct{} // closed, and replaced, when a daemon's state changes
}

// daemonState is what the page knows of one daemon since it joined.
type daemonState struct {
	connected bool      // a connection is up
	sessions  int       // sessions that ended
	good      int       // of those, the ones that ended well
	peer      peer.ID   // the daemon's peer ID, as its last session named it
	last      time.Time // when the last one ended
	lastErr   error     // why the last one failed
	refused   *Refusal  // the daemon's last refusal of the connection, until it takes it
	records   []Refusal // the last records it refused, at most maxRefusals
}

// maxRefusals is how many record refusals Status keeps per daemon.
const maxRefusals = 16

func newSynced(p *Page, r *replica.Replica, o SyncOptions) *Synced {
	s := &Synced{p: p, r: r, o: o, joined: time.Now(), daemons: make(map[string]*daemonState), changed: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(p.ctx)
	for _, d := range slices.Compact(slices.Sorted(slices.Values(o.Daemons))) {
		s.daemons[d] = &daemonState{}
		s.wg.Go(func() { s.run(d) })
	}
	return s
}

// run keeps the replica synced with daemon d until the collection is
// left, or d refuses it for good.
func (s *Synced) run(d string) {
	_ = wsync.Sync(s.ctx, d, s.r, wsync.Options{
		Peer:      s.p.ID(),
		Interval:  s.o.Interval,
		NotJoined: s.o.NotJoined,
		Versions:  s.o.Versions,
		Logger:    s.p.log.With("daemon", d, "collection", s.Name()),
		Refused:   func(key, reason string) { s.refused(Refusal{Daemon: d, Key: key, Reason: reason}) },
		Rejected:  func(re *wsync.RefusedError) { s.refused(Refusal{Daemon: d, Reason: re.Reason, Err: re}) },
		Session:   func(q peer.ID, _ replica.Stats, err error) { s.session(d, q, err) },
		Connected: func(up bool) {
			s.mu.Lock()
			defer s.mu.Unlock()
			st := s.daemons[d]
			st.connected = up
			if up {
				st.refused = nil // it joined the collection since
			}
			s.notify()
		},
	})
}

// notify wakes the waiters for a change of a daemon's state (CaughtUp);
// call it with s.mu held.
func (s *Synced) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Synced) session(d string, q peer.ID, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.daemons[d]
	st.sessions++
	st.last = time.Now()
	st.lastErr = err
	st.peer = q
	if err == nil {
		st.good++
	}
	s.notify()
}

func (s *Synced) refused(r Refusal) {
	s.mu.Lock()
	st := s.daemons[r.Daemon]
	if r.Err != nil {
		st.refused = &r
		s.notify()
	} else {
		st.records = append(st.records, r)
		if len(st.records) > maxRefusals {
			st.records = slices.Delete(st.records, 0, len(st.records)-maxRefusals)
		}
	}
	s.mu.Unlock()
	if s.o.Refused != nil {
		s.o.Refused(r)
		return
	}
	s.p.log.Warn("a daemon refused", "collection", s.Name(), "daemon", r.Daemon, "key", r.Key, "reason", r.Reason)
}

// Name is the collection's name.
func (s *Synced) Name() string { return s.r.Settings().Name }

// Settings are the collection's settings.
func (s *Synced) Settings() replica.Settings { return s.r.Settings() }

// Replica is the page's replica of the collection.
func (s *Synced) Replica() *replica.Replica { return s.r }

// Done is closed when the page leaves the collection or closes.
func (s *Synced) Done() <-chan struct{} { return s.ctx.Done() }

// Leave stops syncing the collection and forgets it; its replica stays in
// the page's backend, and joining again with the same settings resumes it.
func (s *Synced) Leave() error {
	s.p.leave(s)
	s.close()
	return nil
}

func (s *Synced) close() {
	s.cancel()
	s.wg.Wait()
}

// Put writes the page's value for key (schema version 1); see PutVersion.
func (s *Synced) Put(ctx context.Context, key string, value []byte) (replica.Record, error) {
	return s.PutVersion(ctx, key, 1, value)
}

// PutVersion writes the page's value for key, of the given schema version
// (1 or more; 0 marks tombstones): it signs the record with the page's key,
// dated by the page's clock after the version it replaces and the records
// the replica holds, and stores it in the replica, in the page's backend,
// before it returns, connected or not. A daemon connected to gets it at
// once; the others, at the session on connecting. A page whose identity is
// not on the collection's writer list writes nothing: the error wraps
// core.ErrRejected and says so, as every daemon would refuse the record.
func (s *Synced) PutVersion(ctx context.Context, key string, version uint32, value []byte) (replica.Record, error) {
	if version == 0 {
		return replica.Record{}, core.Errorf(core.ErrInvalidKey, "schema version 0 marks a tombstone; use Delete")
	}
	return s.write(ctx, key, version, value)
}

// PutMany writes the page's values for puts' keys, as PutVersion does,
// and enters them into the replica in one write (one batch of the page's
// backend), all of them or none: when one of them cannot be stored
// (larger than the bounds take, or more records at once than the bounds
// keep) or the write fails, none is stored and the error says why. Its
// daemons receive them as records of their own. Records for one key: the
// last is the one stored.
func (s *Synced) PutMany(ctx context.Context, puts []replica.Put) ([]replica.Record, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	vs, err := s.r.PutOwn(ctx, s.p.id.priv, s.p.clock, puts)
	if err != nil {
		return nil, err
	}
	recs := make([]replica.Record, len(vs))
	for i, v := range vs {
		recs[i] = s.r.RecordOf(v.Env)
	}
	return recs, nil
}

// writable says why the page cannot write to the collection, if it
// cannot.
func (s *Synced) writable() error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("collection %s: %w", s.Name(), core.ErrClosed)
	}
	st := s.r.Settings()
	id := s.p.ID()
	if len(st.Writers) > 0 && !slices.Contains(st.Writers, id) {
		return core.Errorf(core.ErrRejected, "collection %s: this page's identity %s is not on the collection's writer list, so every replica refuses its records: ask whoever defines the collection to add it, or import an identity that is on it", s.Name(), id)
	}
	return nil
}

// Delete writes the page's tombstone for key: a signed record that
// replaces every older version on every replica, and is forgotten after
// the collection's tombstone horizon. A key the page holds no live value
// of (none, or its tombstone) has nothing to remove: Delete writes nothing
// and returns an error wrapping core.ErrNotFound, even when other
// writers' values for the key are there, which only their writers can
// remove.
func (s *Synced) Delete(ctx context.Context, key string) error {
	_, err := s.write(ctx, key, 0, nil)
	return err
}

func (s *Synced) write(ctx context.Context, key string, version uint32, value []byte) (replica.Record, error) {
	if err := s.writable(); err != nil {
		return replica.Record{}, err
	}
	if key == "" {
		return replica.Record{}, core.Errorf(core.ErrInvalidKey, "a synced record needs a key")
	}
	v, err := s.r.SealOwn(ctx, s.p.id.priv, s.p.clock, key, version, value)
	if err != nil {
		return replica.Record{}, err
	}
	stored, err := s.r.Insert(ctx, "", []replica.Verified{v})
	if err != nil {
		return replica.Record{}, err
	}
	if stored == 0 {
		// A record larger than a byte bound is the one the replica leaves
		// out of the page's own write.
		return replica.Record{}, s.r.TooLarge(len(v.Data))
	}
	return s.r.RecordOf(v.Env), nil
}

// Get returns writer's record for key; a tombstone is reported as
// core.ErrNotFound.
func (s *Synced) Get(ctx context.Context, writer peer.ID, key string) (replica.Record, error) {
	rec, err := s.r.Get(ctx, writer, key)
	if err == nil && rec.Deleted {
		return replica.Record{}, core.Errorf(core.ErrNotFound, "collection %s: %s deleted key %q", s.Name(), writer, key)
	}
	return rec, err
}

// Records yields every writer's live records (tombstones left out), by
// writer and key.
func (s *Synced) Records(ctx context.Context) iter.Seq2[replica.Record, error] {
	return func(yield func(replica.Record, error) bool) {
		for rec, err := range s.r.Records(ctx) {
			if err == nil && rec.Deleted {
				continue
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// Watch yields every record that enters the replica (tombstones
// included), the page's own and its daemons', until ctx ends, or the word
// that the watcher missed some (see replica.Replica.Watch).
func (s *Synced) Watch(ctx context.Context) iter.Seq[replica.Change] { return s.r.Watch(ctx) }

// DaemonStatus is what the page knows of one of its daemons since it
// joined the collection.
type DaemonStatus struct {
	// Daemon is the sync endpoint.
	Daemon string
	// Connected says whether a connection to it is up: it took the
	// page's hello, and the connection has not ended since.
	Connected bool
	// Sessions counts the reconciliation sessions that ended, and Good
	// those of them that ended well.
	Sessions, Good int
	// Last is when the last session ended; LastError why it failed, if
	// it did.
	Last      time.Time
	LastError error
	// Refused is the daemon's last refusal of the connection: for good
	// (other settings), or until it joins the collection (then cleared
	// when the page gets in); nil while it has not refused it.
	Refused *Refusal
	// Records are the last records of the page the daemon refused.
	Records []Refusal
}

// Status is the collection's figures on the page.
type Status struct {
	replica.Status
	// Daemons are the page's daemons, by endpoint.
	Daemons []DaemonStatus
}

// Status returns the collection's figures.
func (s *Synced) Status() Status {
	out := Status{Status: s.r.Status()}
	s.mu.Lock()
	defer s.mu.Unlock()
	out.Daemons = s.daemonStatus()
	return out
}

// daemonStatus is what the page knows of its daemons; call it with s.mu
// held.
func (s *Synced) daemonStatus() []DaemonStatus {
	var out []DaemonStatus
	for _, d := range slices.Sorted(maps.Keys(s.daemons)) {
		st := s.daemons[d]
		ds := DaemonStatus{Daemon: d, Connected: st.connected, Sessions: st.sessions, Good: st.good, Last: st.last, LastError: st.lastErr, Records: slices.Clone(st.records)}
		if st.refused != nil {
			r := *st.refused
			ds.Refused = &r
		}
		out = append(out, ds)
	}
	return out
}

// aloneAfter is the default wait of Synced.CaughtUp.
const aloneAfter = 5 * time.Second

// CaughtUp waits until the page has caught up with its daemons, and
// returns their peer IDs, sorted: until a reconciliation session with
// each daemon it reached since joining the collection has ended well, and
// with one at least. A page with no daemons returns at once; one that
// reached no daemon within alone of joining
// (5 s when alone is 0 or less) is alone, as when offline or with no
// daemon: CaughtUp then returns no peers and no error, and the page works
// on its own replica. A daemon that refused the collection is an error
// naming it and why. When ctx ends first, the error wraps ctx's and names
// the daemons not caught up with.
func (s *Synced) CaughtUp(ctx context.Context, alone time.Duration) ([]peer.ID, error) {
	if alone <= 0 {
		alone = aloneAfter
	}
	// Woken by each change of a daemon's state, and once alone has passed.
	t := time.NewTimer(time.Until(s.joined.Add(alone)))
	defer t.Stop()
	for {
		s.mu.Lock()
		daemons, changed := s.daemonStatus(), s.changed
		peers := s.caughtUpPeers()
		s.mu.Unlock()
		var waiting, unreached, refused []string
		good := 0
		for _, d := range daemons {
			switch {
			case d.Refused != nil:
				refused = append(refused, d.Refused.String())
			case d.Sessions == 0 && d.Connected:
				waiting = append(waiting, d.Daemon+" (connected, its first session under way)")
			case d.Sessions == 0:
				unreached = append(unreached, d.Daemon+" (not reached since joining)")
			case d.LastError != nil:
				waiting = append(waiting, fmt.Sprintf("%s (its last session failed: %v)", d.Daemon, d.LastError))
			default:
				good++
			}
		}
		// Daemons not reached within alone count as offline; one whose
		// last session failed, or whose first is under way, is waited
		// for, until one ends well.
		late := time.Since(s.joined) >= alone
		settled := len(waiting) == 0 && (len(unreached) == 0 || late)
		switch {
		case len(refused) > 0:
			return nil, fmt.Errorf("collection %s: %s", s.Name(), strings.Join(refused, "; "))
		case len(daemons) == 0:
			return nil, nil // no daemon to wait for
		case settled && good > 0:
			return peers, nil
		case settled && late:
			return nil, nil
		case s.ctx.Err() != nil:
			return nil, fmt.Errorf("collection %s: %w", s.Name(), core.ErrClosed)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("collection %s: not caught up with %s: %w", s.Name(), strings.Join(append(waiting, unreached...), ", "), ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		case <-changed:
		case <-t.C:
		}
	}
}

// caughtUpPeers are the peer IDs of the daemons whose last session since
// the page joined ended well, sorted; call it with s.mu held.
func (s *Synced) caughtUpPeers() []peer.ID {
	var out []peer.ID
	for _, st := range s.daemons {
		if st.good > 0 && st.lastErr == nil {
			out = append(out, st.peer)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
