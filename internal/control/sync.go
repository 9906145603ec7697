package control

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

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
	st, err := syncStatusOf(syn)
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
	st, err := syncStatusOf(syn)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, st)
}

func (s *server) syncStatusAll(w http.ResponseWriter, _ *http.Request) {
	out := []SyncStatus{}
	for _, syn := range s.n.SyncedCollections() {
		st, err := syncStatusOf(syn)
		if err != nil {
			fail(w, err)
			return
		}
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

// syncStatusOf describes syn; it fails while its replica does not hold
// its set (replica.Replica.Err).
func syncStatusOf(syn *node.Synced) (SyncStatus, error) {
	st := syn.Status()
	if st.Error != "" {
		return SyncStatus{}, errors.New(st.Error)
	}
	out := SyncStatus{
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
		Refused:     refusedOf(st.Refused),
	}
	slices.Sort(out.TopicPeers)
	for p, ps := range st.Peers {
		out.Peers = append(out.Peers, SyncPeer{ID: p.String(), PeerStats: ps})
	}
	slices.SortFunc(out.Peers, func(a, b SyncPeer) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
