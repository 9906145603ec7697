package node

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-base32"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

// The reasons a write from a peer is refused, the keys of [Node.Refused],
// each with the option of [Config.Quota] it is about (and its key in the
// daemon's [quota] table).
const (
	RefusedPutRate        = "put_rate"        // PutRate (put_rate): PUT_VALUE too fast
	RefusedProvideRate    = "provide_rate"    // ProvideRate (provide_rate): ADD_PROVIDER too fast
	RefusedNamespace      = "namespace"       // a record namespace the node has no validator for
	RefusedProviderKey    = "provider_key"    // a provider key that is not a multihash
	RefusedTotalRecords   = "total_records"   // MaxRecords (max_records)
	RefusedTotalBytes     = "total_bytes"     // MaxBytes (max_mib)
	RefusedPeerRecords    = "peer_records"    // MaxRecordsPerPeer (max_records_per_peer)
	RefusedPeerBytes      = "peer_bytes"      // MaxBytesPerPeer (max_mib_per_peer)
	RefusedOwnerRecords   = "owner_records"   // MaxRecordsPerOwner (max_records_per_owner)
	RefusedOwnerBytes     = "owner_bytes"     // MaxBytesPerOwner (max_mib_per_owner)
	RefusedTotalProviders = "total_providers" // MaxProviders (max_providers)
	RefusedPeerProviders  = "peer_providers"  // MaxProvidersPerPeer (max_providers_per_peer)
)

const (
	refusalLogInterval = time.Minute      // a peer's refusals are logged at most this often
	pendingExpiry      = 10 * time.Second // a PUT_VALUE not written by then never will be
	trackedPeers       = 4096             // past this many peers (or pending puts), idle ones are forgotten
	providersPrefix    = "/providers/"    // where kad-dht keeps provider records
	unattributed       = peer.ID("")      // a write whose sending peer is not known
)

// ErrQuota is the error of a write refused by the node's quota. It matches
// core.ErrRejected.
var ErrQuota = fmt.Errorf("%w: over the node's quota", core.ErrRejected)

// usage is what a set of stored records takes.
type usage struct{ records, bytes int64 }

func (u usage) plus(records, bytes int64) usage { return usage{u.records + records, u.bytes + bytes} }

// quota keeps what the node stores in the DHT's namespace, and by whom, and
// decides whether a write from the network fits. The guard asks it before
// every write and tells it after every write and delete, so its counts are
// the store's: built by a scan at start, kept in memory since.
//
// Value records are counted in all and by owner (netabase records) from
// the store itself. By sending peer they are counted from what the node
// accepted since it started: the store does not say who sent a record, so
// records stored before a restart count in all and by owner only. The
// sender of a PUT_VALUE reaches the guard through expect, which onRequest
// calls before kad-dht handles the request.
type quota struct {
	limits Quota
	self   peer.ID
	log    *slog.Logger

	mu        sync.Mutex
	values    usage                 // every value record
	owners    map[peer.ID]usage     // netabase records, by owner
	peers     map[peer.ID]usage     // value records accepted from each peer since start
	sentBy    map[string]peer.ID    // datastore key → the peer whose PUT_VALUE stored it
	providers int64                 // provider records of other peers
	provOf    map[peer.ID]int64     // provider records, by provider
	pending   map[string]pendingPut // record key → the sender of a PUT_VALUE being handled
	putRate   map[peer.ID]*rate.Limiter
	provRate  map[peer.ID]*rate.Limiter
	refused   map[string]uint64      // by reason
	accepted  Accepted               // writes from peers accepted
	logged    map[peer.ID]refusalLog // when each peer's refusals were last logged
}

type pendingPut struct {
	from peer.ID
	at   time.Time
}

type refusalLog struct {
	at     time.Time
	unsaid map[string]uint64 // refused since, by reason
}

func newQuota(limits Quota, self peer.ID, log *slog.Logger) *quota {
	return &quota{
		limits:   limits,
		self:     self,
		log:      log,
		owners:   map[peer.ID]usage{},
		peers:    map[peer.ID]usage{},
		sentBy:   map[string]peer.ID{},
		provOf:   map[peer.ID]int64{},
		pending:  map[string]pendingPut{},
		putRate:  map[peer.ID]*rate.Limiter{},
		provRate: map[peer.ID]*rate.Limiter{},
		refused:  map[string]uint64{},
		logged:   map[peer.ID]refusalLog{},
	}
}

// scan counts what the store holds for other peers.
func (q *quota) scan(ctx context.Context, store ds.Datastore) error {
	res, err := store.Query(ctx, dsq.Query{})
	if err != nil {
		return fmt.Errorf("cannot count the DHT's records in the store for the quota: %w", err)
	}
	defer res.Close()
	q.mu.Lock()
	defer q.mu.Unlock()
	for e := range res.Next() {
		if e.Error != nil {
			return fmt.Errorf("cannot count the DHT's records in the store for the quota: %w", e.Error)
		}
		if p, ok := providerOf(e.Key); ok {
			q.addProvider(p, 1)
			continue
		}
		if key, ok := recordKeyOf(e.Value); ok {
			q.addValue(e.Key, ownerOf(key), unattributed, 1, int64(len(e.Value)))
		}
	}
	return nil
}

// providerOf returns the provider of a provider record's datastore key.
func providerOf(dsKey string) (peer.ID, bool) {
	rest, ok := strings.CutPrefix(dsKey, providersPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "", false
	}
	b, err := base32.RawStdEncoding.DecodeString(rest[i+1:])
	if err != nil {
		return "", false
	}
	p, err := peer.IDFromBytes(b)
	return p, err == nil
}

// recordKeyOf returns the key of a stored value record.
func recordKeyOf(stored []byte) (string, bool) {
	rec := new(recpb.Record)
	if proto.Unmarshal(stored, rec) != nil || len(rec.GetKey()) == 0 {
		return "", false
	}
	return string(rec.GetKey()), true
}

// ownerOf is the owner of a netabase record key, "" for other keys.
func ownerOf(key string) peer.ID {
	owner, _, err := envelope.ParseKey(key)
	if err != nil {
		return ""
	}
	return owner
}

// expect notes that from sent a PUT_VALUE of key, which kad-dht is about to
// handle. Entries the guard never takes (kad-dht refused the record) expire.
// Past trackedPeers entries none expired, a write goes unattributed: the
// total and per-owner limits still hold it.
func (q *quota) expect(key string, from peer.ID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	if len(q.pending) >= trackedPeers {
		maps.DeleteFunc(q.pending, func(_ string, p pendingPut) bool { return now.Sub(p.at) > pendingExpiry })
		if len(q.pending) >= trackedPeers {
			return
		}
	}
	q.pending[key] = pendingPut{from: from, at: now}
}

// sender takes the sender of the PUT_VALUE of key being written.
func (q *quota) sender(key string) peer.ID {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.pending[key]
	if !ok || time.Since(p.at) > pendingExpiry {
		return unattributed
	}
	delete(q.pending, key)
	return p.from
}

// valueWrite is a value record write: the record at dsKey of owner, of
// newSize bytes, replacing one of oldSize (had says whether there was one).
type valueWrite struct {
	dsKey            string
	owner            peer.ID
	had              bool
	oldSize, newSize int64
}

// admitValue decides whether a PUT_VALUE from from fits, and if it does
// counts it; undo uncounts it, for a write that then fails.
func (q *quota) admitValue(w valueWrite, from peer.ID) (undo func(), err error) {
	if w.owner == q.self {
		return func() {}, nil // the node's own record, from whoever
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	records, bytes := int64(1), w.newSize
	if w.had {
		records, bytes = 0, w.newSize-w.oldSize
	}
	prev := q.sentBy[w.dsKey]
	peerRecords, peerBytes := int64(1), w.newSize
	if w.had && prev == from {
		peerRecords, peerBytes = 0, w.newSize-w.oldSize
	}
	l := q.limits
	reason := ""
	switch {
	case over(q.values.records, records, int64(l.MaxRecords)):
		reason = RefusedTotalRecords
	case over(q.values.bytes, bytes, l.MaxBytes):
		reason = RefusedTotalBytes
	case from != unattributed && over(q.peers[from].records, peerRecords, int64(l.MaxRecordsPerPeer)):
		reason = RefusedPeerRecords
	case from != unattributed && over(q.peers[from].bytes, peerBytes, l.MaxBytesPerPeer):
		reason = RefusedPeerBytes
	case w.owner != "" && over(q.owners[w.owner].records, records, int64(l.MaxRecordsPerOwner)):
		reason = RefusedOwnerRecords
	case w.owner != "" && over(q.owners[w.owner].bytes, bytes, l.MaxBytesPerOwner):
		reason = RefusedOwnerBytes
	}
	if reason != "" {
		q.refuseLocked(from, reason)
		return nil, fmt.Errorf("%w: %s", ErrQuota, reason)
	}
	q.storedLocked(w, from)
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.removedLocked(valueWrite{dsKey: w.dsKey, owner: w.owner, had: true, oldSize: w.newSize})
		if w.had {
			q.storedLocked(valueWrite{dsKey: w.dsKey, owner: w.owner, newSize: w.oldSize}, prev)
		}
	}, nil
}

// over says whether adding add to used passes limit (0: no limit). Only
// growth is refused: a write that shrinks what is stored always fits.
func over(used, add, limit int64) bool {
	return limit > 0 && add > 0 && used+add > limit
}

// storedValue counts a value record write that needed no admission.
func (q *quota) storedValue(w valueWrite) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.storedLocked(w, unattributed)
}

func (q *quota) storedLocked(w valueWrite, from peer.ID) {
	if w.had {
		q.removedLocked(valueWrite{dsKey: w.dsKey, owner: w.owner, had: true, oldSize: w.oldSize})
	}
	q.addValue(w.dsKey, w.owner, from, 1, w.newSize)
}

// removedValue counts a value record deleted.
func (q *quota) removedValue(w valueWrite) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.removedLocked(w)
}

func (q *quota) removedLocked(w valueWrite) {
	if !w.had {
		return
	}
	prev, ok := q.sentBy[w.dsKey]
	if !ok {
		prev = unattributed
	}
	delete(q.sentBy, w.dsKey)
	q.addValue(w.dsKey, w.owner, prev, -1, -w.oldSize)
}

// addValue adds records and bytes to the counts of the record at dsKey.
// The node's own records are not counted: the quota bounds what it stores
// for others.
func (q *quota) addValue(dsKey string, owner, from peer.ID, records, bytes int64) {
	if owner == q.self {
		return
	}
	q.values = q.values.plus(records, bytes)
	if owner != "" {
		if u := q.owners[owner].plus(records, bytes); u.records > 0 {
			q.owners[owner] = u
		} else {
			delete(q.owners, owner)
		}
	}
	if from == unattributed {
		return
	}
	if records > 0 {
		q.sentBy[dsKey] = from
	}
	if u := q.peers[from].plus(records, bytes); u.records > 0 {
		q.peers[from] = u
	} else {
		delete(q.peers, from)
	}
}

// admitProvider decides whether a new provider record of p fits, and if it
// does counts it. The node's own provider records always fit.
func (q *quota) admitProvider(p peer.ID) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p != q.self {
		reason := ""
		switch {
		case over(q.providers, 1, int64(q.limits.MaxProviders)):
			reason = RefusedTotalProviders
		case over(q.provOf[p], 1, int64(q.limits.MaxProvidersPerPeer)):
			reason = RefusedPeerProviders
		}
		if reason != "" {
			q.refuseLocked(p, reason)
			return fmt.Errorf("%w: %s", ErrQuota, reason)
		}
	}
	q.addProvider(p, 1)
	return nil
}

// addProviderUnchecked counts a new provider record of p that needed no
// admission.
func (q *quota) addProviderUnchecked(p peer.ID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addProvider(p, 1)
}

// removedProvider counts a provider record of p deleted.
func (q *quota) removedProvider(p peer.ID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addProvider(p, -1)
}

func (q *quota) addProvider(p peer.ID, n int64) {
	if p == q.self {
		return
	}
	q.providers += n
	if c := q.provOf[p] + n; c > 0 {
		q.provOf[p] = c
	} else {
		delete(q.provOf, p)
	}
}

// allowPut says whether from may send a PUT_VALUE now.
func (q *quota) allowPut(from peer.ID) bool {
	return q.allow(q.putRate, from, q.limits.PutRate, q.limits.PutBurst, RefusedPutRate)
}

// allowProvide says whether from may send an ADD_PROVIDER now.
func (q *quota) allowProvide(from peer.ID) bool {
	return q.allow(q.provRate, from, q.limits.ProvideRate, q.limits.ProvideBurst, RefusedProvideRate)
}

func (q *quota) allow(limiters map[peer.ID]*rate.Limiter, from peer.ID, perSecond, burst int, reason string) bool {
	if perSecond <= 0 {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	l, ok := limiters[from]
	if !ok {
		if len(limiters) >= trackedPeers {
			// A peer whose bucket is full again has lost nothing by
			// being forgotten.
			maps.DeleteFunc(limiters, func(_ peer.ID, l *rate.Limiter) bool { return l.Tokens() >= float64(burst) })
		}
		l = rate.NewLimiter(rate.Limit(perSecond), burst)
		limiters[from] = l
	}
	if l.Allow() {
		return true
	}
	q.refuseLocked(from, reason)
	return false
}

// refuse counts a refused write from a peer.
func (q *quota) refuse(from peer.ID, reason string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refuseLocked(from, reason)
}

// refuseLocked counts a refusal, and logs a peer's refusals at most once
// every refusalLogInterval, with how many of each reason there were.
func (q *quota) refuseLocked(from peer.ID, reason string) {
	q.refused[reason]++
	now := time.Now()
	l, ok := q.logged[from]
	if !ok && len(q.logged) >= trackedPeers {
		maps.DeleteFunc(q.logged, func(_ peer.ID, l refusalLog) bool { return now.Sub(l.at) > refusalLogInterval })
	}
	if l.unsaid == nil {
		l.unsaid = map[string]uint64{}
	}
	l.unsaid[reason]++
	if ok && now.Sub(l.at) < refusalLogInterval {
		q.logged[from] = l
		return
	}
	args := []any{"peer", from}
	for _, r := range slices.Sorted(maps.Keys(l.unsaid)) {
		args = append(args, r, l.unsaid[r])
	}
	q.log.Warn("refused writes from a peer over the node's quota or rates, by reason, since they were last logged (at most once a minute per peer; see [quota] in config.toml)", args...)
	q.logged[from] = refusalLog{at: now}
}

// refusedCounts returns the refusals so far, by reason.
func (q *quota) refusedCounts() map[string]uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return maps.Clone(q.refused)
}

// Accepted counts the writes from peers that the node accepted and stored
// since it started.
type Accepted struct {
	Records   uint64 // PUT_VALUE: value records
	Providers uint64 // ADD_PROVIDER: provider records
}

// acceptedRecord counts a value record from a peer stored.
func (q *quota) acceptedRecord() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.accepted.Records++
}

// acceptedProvider counts a provider record of another peer stored.
func (q *quota) acceptedProvider() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.accepted.Providers++
}

// acceptedCounts returns the writes from peers accepted so far.
func (q *quota) acceptedCounts() Accepted {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.accepted
}

// Held is what the node stores for other peers, as its quota counts it.
type Held struct {
	Records   int64 // value records whose owner is another peer
	Bytes     int64 // their size
	Providers int64 // provider records of other peers
}

// heldCounts returns what the node stores for other peers.
func (q *quota) heldCounts() Held {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Held{Records: q.values.records, Bytes: q.values.bytes, Providers: q.providers}
}
