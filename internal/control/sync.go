package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

// The handlers of synced collections.

func (s *server) syncJoin(w http.ResponseWriter, r *http.Request) {
	var req SyncJoinRequest
	if !decode(w, r, &req) {
		return
	}
	settings, err := req.Settings.Normalize()
	if err != nil {
		if !errors.Is(err, core.ErrInvalidKey) {
			err = invalid("%v", err)
		}
		fail(w, err)
		return
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	_, err = s.n.SyncedCollection(settings.Name)
	joinedBefore := err == nil
	syn, err := s.n.JoinSync(r.Context(), settings)
	if err != nil {
		fail(w, err)
		return
	}
	if s.syncConfig != "" {
		// The settings as the request gave them, so that a bound left to
		// its default stays so, with the writers as the node took them:
		// sorted, each once.
		entry := config.Sync{Settings: req.Settings}
		entry.Writers = settings.Writers
		err := config.Update(s.syncConfig, func(c *config.Config) error {
			c.SetSync(entry)
			return nil
		})
		if err != nil {
			if !joinedBefore {
				_ = s.n.LeaveSync(settings.Name)
			}
			fail(w, fmt.Errorf("collection %s was not joined, since recording it in the configuration failed: %w", settings.Name, err))
			return
		}
	}
	st, err := s.syncStatusOf(syn)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, st)
}

func (s *server) syncLeave(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	recorded := false
	if s.syncConfig != "" {
		err := config.Update(s.syncConfig, func(c *config.Config) error {
			recorded = c.RemoveSync(name)
			return nil
		})
		if err != nil {
			fail(w, fmt.Errorf("collection %s was not left, since removing it from the configuration failed: %w", name, err))
			return
		}
	}
	// A collection recorded but not joined (joining it at start failed)
	// is left by removing it from the configuration.
	if err := s.n.LeaveSync(name); err != nil && !(recorded && errors.Is(err, node.ErrNotJoined)) {
		fail(w, err)
		return
	}
	reply(w, struct{}{})
}

// synced returns the joined collection the request's path names.
func (s *server) synced(w http.ResponseWriter, r *http.Request) (*node.Synced, bool) {
	syn, err := s.n.SyncedCollection(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return nil, false
	}
	return syn, true
}

func (s *server) syncStatus(w http.ResponseWriter, r *http.Request) {
	syn, ok := s.synced(w, r)
	if !ok {
		return
	}
	st, err := s.syncStatusOf(syn)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, st)
}

func (s *server) syncStatusAll(w http.ResponseWriter, _ *http.Request) {
	out := []SyncStatus{}
	for _, syn := range s.n.SyncedCollections() {
		// A faulted collection is listed with its error, the others as
		// usual.
		st, _ := s.syncStatusOf(syn)
		out = append(out, st)
	}
	reply(w, out)
}

func (s *server) syncPut(w http.ResponseWriter, r *http.Request) {
	syn, ok := s.synced(w, r)
	if !ok {
		return
	}
	var req SyncPutRequest
	if !decode(w, r, &req) {
		return
	}
	// The record's name is the collection's and the key (SYNC.md §3).
	if err := envelope.CheckName(syn.Name() + "/" + req.Key); err != nil {
		fail(w, err)
		return
	}
	sentTo := len(syn.TopicPeers())
	rec, err := syn.Put(r.Context(), req.Key, req.Value)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, SyncPutReply{SyncRecord: syncRecordOf(rec), SentTo: sentTo})
}

func (s *server) syncDelete(w http.ResponseWriter, r *http.Request) {
	syn, ok := s.synced(w, r)
	if !ok {
		return
	}
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	if err := syn.Delete(r.Context(), key); err != nil {
		fail(w, err)
		return
	}
	reply(w, struct{}{})
}

func (s *server) syncRecords(w http.ResponseWriter, r *http.Request) {
	syn, ok := s.synced(w, r)
	if !ok {
		return
	}
	out := []SyncRecord{}
	for rec, err := range syn.Records(r.Context()) {
		if err != nil {
			fail(w, err)
			return
		}
		out = append(out, syncRecordOf(rec))
	}
	reply(w, out)
}

// syncFollow streams the collection as JSON lines (see SyncChange) until
// the client goes, the server stops or the node leaves the collection:
// what the replica holds, then every change. The watch starts before the
// replica is read, so no change falls between them; a record the stream
// has sent already, read with the snapshot or again, is not sent twice. When
// the watch misses changes (the client reads slower than the replica
// changes), the stream says so, reads the replica again and sends what
// differs from what it sent, so that a reader never loses a change
// without a word. Its memory is bounded by the collection's: the clock of
// each record it sent.
func (s *server) syncFollow(w http.ResponseWriter, r *http.Request) {
	syn, ok := s.synced(w, r)
	if !ok {
		return
	}
	// A collection left (and maybe joined again) takes no more changes
	// in this replica: the stream ends, saying so.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-syn.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	changes := syn.Watch(ctx)
	f := follower{enc: json.NewEncoder(w), sent: make(map[followKey]sentRecord)}
	f.flusher, _ = w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if !f.reread(ctx, syn, true) || !f.send(SyncChange{Type: FollowReady}) {
		return
	}
	for c := range changes {
		if c.Missed > 0 {
			if !f.send(SyncChange{Type: FollowMissed, Count: c.Missed}) || !f.reread(ctx, syn, false) {
				return
			}
			continue
		}
		k := followKey{c.Writer, c.Key}
		if had, ok := f.sent[k]; ok && c.Clock.Compare(had.clock) <= 0 {
			continue
		}
		from := ""
		if c.From != "" {
			from = c.From.String()
		}
		if !f.record(c.Record, from) {
			return
		}
	}
	if r.Context().Err() == nil {
		f.send(SyncChange{Type: FollowError, Error: fmt.Sprintf("the node left collection %s, or is stopping; nothing more follows", syn.Name())})
	}
}

type followKey struct {
	writer peer.ID
	key    string
}

type sentRecord struct {
	clock   envelope.Timestamp
	deleted bool
}

// follower writes a follow stream and remembers what it sent.
type follower struct {
	enc     *json.Encoder
	flusher http.Flusher
	sent    map[followKey]sentRecord
}

// send writes one line; it reports false when the client is gone.
func (f *follower) send(c SyncChange) bool {
	if err := f.enc.Encode(c); err != nil {
		return false
	}
	if f.flusher != nil {
		f.flusher.Flush()
	}
	return true
}

// record sends rec, which from sent (empty for none), and remembers it.
func (f *follower) record(rec replica.Record, from string) bool {
	f.sent[followKey{rec.Writer, rec.Key}] = sentRecord{rec.Clock, rec.Deleted}
	sr := syncRecordOf(rec)
	return f.send(SyncChange{Type: FollowRecord, SyncRecord: &sr, From: from})
}

// reread sends what the replica holds that differs from what f sent: the
// records it has not sent, or has sent an older version of, and, after
// the snapshot (first false), a removal for each live record it sent that
// the replica no longer holds. A tombstone of a record never sent is left
// out, as the snapshot leaves tombstones out. An error reading the
// replica ends the stream with an error line the client reports, as the
// collection's leaving does.
func (f *follower) reread(ctx context.Context, syn *node.Synced, first bool) bool {
	held := make(map[followKey]bool, len(f.sent))
	for rec, err := range syn.Replica().Records(ctx) {
		if err != nil {
			_ = f.enc.Encode(SyncChange{Type: FollowError, Error: err.Error()})
			return false
		}
		k := followKey{rec.Writer, rec.Key}
		held[k] = true
		had, ok := f.sent[k]
		if (!ok && rec.Deleted) || (ok && rec.Clock.Compare(had.clock) <= 0) {
			continue
		}
		if !f.record(rec, "") {
			return false
		}
	}
	if first {
		return true
	}
	for k, had := range f.sent {
		if held[k] || had.deleted {
			continue
		}
		f.sent[k] = sentRecord{deleted: true}
		if !f.send(SyncChange{Type: FollowRecord, SyncRecord: &SyncRecord{Writer: k.writer.String(), Key: k.key, Deleted: true}}) {
			return false
		}
	}
	return true
}

func syncRecordOf(rec replica.Record) SyncRecord {
	return SyncRecord{
		Writer:  rec.Writer.String(),
		Key:     rec.Key,
		Version: rec.Version,
		Clock:   rec.Clock.Time().UTC(),
		Value:   rec.Value,
		Deleted: rec.Deleted,
	}
}

// refusedOf is a replica's count of refused records, for the wire.
func refusedOf(refused map[replica.Reason]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(refused))
	for reason, n := range refused {
		out[string(reason)] = n
	}
	return out
}

// syncStatusOf describes syn; while its replica does not hold its set
// (replica.Replica.Err), it fails with that error, and describes syn by
// its settings, its refusals and the error alone.
func (s *server) syncStatusOf(syn *node.Synced) (SyncStatus, error) {
	st := syn.Status()
	out := SyncStatus{
		Name:       st.Name,
		Settings:   syn.Settings(),
		Digest:     st.Digest,
		Open:       len(syn.Settings().Writers) == 0,
		TopicPeers: []string{},
		Peers:      []SyncPeer{},
		Pages:      []SyncPage{},
		Refused:    refusedOf(st.Refused),
	}
	if st.Error != "" {
		out.Error = st.Error
		return out, errors.New(st.Error)
	}
	out = SyncStatus{
		Name:        st.Name,
		Settings:    syn.Settings(),
		Digest:      st.Digest,
		Open:        len(syn.Settings().Writers) == 0,
		Records:     st.Records,
		Tombstones:  st.Tombstones,
		Bytes:       st.Bytes,
		WritersSeen: st.Writers,
		Fingerprint: st.Fingerprint,
		TopicPeers:  strs(st.TopicPeers),
		Peers:       []SyncPeer{},
		Pages:       []SyncPage{},
		Refused:     refusedOf(st.Refused),
	}
	slices.Sort(out.TopicPeers)
	connected := make(map[peer.ID]bool)
	for _, p := range s.n.Peers() {
		connected[p.ID] = true
	}
	for p, ps := range st.Peers {
		out.Peers = append(out.Peers, SyncPeer{ID: p.String(), Connected: connected[p], PeerStats: ps})
	}
	slices.SortFunc(out.Peers, func(a, b SyncPeer) int { return strings.Compare(a.ID, b.ID) })
	for _, p := range st.Relayed {
		out.Pages = append(out.Pages, SyncPage{ID: p.Peer.String(), Remote: p.Remote, Since: p.Since, Sessions: p.Sessions,
			RecordsIn: p.RecordsIn, RecordsOut: p.RecordsOut, BytesIn: p.BytesIn, BytesOut: p.BytesOut, Pongs: p.Pongs})
	}
	return out, nil
}
