package control

import (
	"context"
	"net/http"
	"time"

	"github.com/netabase/netabase/core"
)

// Stats is a summary of a running node: netabase stats.
type Stats struct {
	ID string `json:"id"`
	// Peers are the connected peers, RoutingTable those in the DHT's
	// routing table.
	Peers        int       `json:"peers"`
	RoutingTable int       `json:"routing_table"`
	Backend      core.Info `json:"backend"`
	// BackendState is "up", "down", "restarting" or "failed";
	// BackendDetail says why, for any state but up.
	BackendState  string     `json:"backend_state"`
	BackendDetail string     `json:"backend_detail,omitempty"`
	Admission     *Admission `json:"admission,omitempty"`
	// Held is what the node stores for other peers.
	Held Held `json:"held"`
	// Accepted and Refused count the writes from peers since the node
	// started; Refused by reason.
	Accepted Accepted          `json:"accepted"`
	Refused  map[string]uint64 `json:"refused"`
	// Subscribers are the open event subscriptions; EventsLost the events
	// they lost since the node started.
	Subscribers int    `json:"event_subscribers"`
	EventsLost  uint64 `json:"events_lost"`
	// Synced are the synced collections the node replicates.
	Synced []SyncStats `json:"synced"`
	// Plugin sums up the calls to the storage plugin since the node
	// started; nil when the backend is no plugin.
	Plugin *PluginStats `json:"plugin,omitempty"`
}

// PluginStats sums up the calls to a storage plugin.
type PluginStats struct {
	// Calls counts the calls answered (or failed); P50MS and P95MS are
	// the median and 95th percentile of their round-trip times, in
	// milliseconds.
	Calls uint64  `json:"calls"`
	P50MS float64 `json:"rtt_p50_ms"`
	P95MS float64 `json:"rtt_p95_ms"`
	// InFlight are the calls and query streams under way.
	InFlight int64 `json:"in_flight"`
	// Restarts counts the plugin processes started again after one died.
	Restarts uint64 `json:"restarts"`
}

// Held is what a node stores for other peers.
type Held struct {
	Records   int64 `json:"records"`
	Bytes     int64 `json:"bytes"`
	Providers int64 `json:"provider_records"`
}

// Accepted counts the writes from peers a node accepted.
type Accepted struct {
	Records   uint64 `json:"records"`
	Providers uint64 `json:"provider_records"`
}

// SyncStats sums up one synced collection.
type SyncStats struct {
	Name       string `json:"name"`
	Records    int    `json:"records"`
	Tombstones int    `json:"tombstones"`
	Bytes      int64  `json:"bytes"`
	TopicPeers int    `json:"topic_peers"`
	// Sessions counts reconciliation sessions with every peer, and
	// BytesSent and BytesReceived their frames.
	Sessions      int   `json:"sessions"`
	BytesSent     int64 `json:"bytes_sent"`
	BytesReceived int64 `json:"bytes_received"`
	// Refused counts the records from peers the replica refused, by
	// reason, as in SyncStatus.
	Refused map[string]uint64 `json:"refused"`
	// Error says why the replica does not hold its set, when it does not
	// (its records and bytes are then zero).
	Error string `json:"error,omitempty"`
}

// Stats returns the node's summary.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var out Stats
	err := c.do(ctx, http.MethodGet, "/v1/stats", nil, nil, &out)
	return out, err
}

func (s *server) stats(w http.ResponseWriter, _ *http.Request) {
	n := s.n
	info := n.Info()
	held, acc, ev := n.Held(), n.Accepted(), n.EventStats()
	out := Stats{
		ID:            info.ID.String(),
		Peers:         len(n.Peers()),
		RoutingTable:  len(n.RoutingTable()),
		Backend:       info.Backend,
		BackendState:  info.BackendState.State.String(),
		BackendDetail: info.BackendState.Detail,
		Admission:     admissionOf(info.Admission),
		Held:          Held{Records: held.Records, Bytes: held.Bytes, Providers: held.Providers},
		Accepted:      Accepted{Records: acc.Records, Providers: acc.Providers},
		Refused:       info.Refused,
		Subscribers:   ev.Subscribers,
		EventsLost:    ev.Lost,
		Synced:        []SyncStats{},
	}
	for _, syn := range n.SyncedCollections() {
		rs := syn.Status()
		ss := SyncStats{Name: rs.Name, Records: rs.Records, Tombstones: rs.Tombstones, Bytes: rs.Bytes, TopicPeers: len(rs.TopicPeers), Refused: refusedOf(rs.Refused), Error: rs.Error}
		for _, p := range rs.Peers {
			ss.Sessions += p.Sessions
			ss.BytesSent += p.Total.BytesSent
			ss.BytesReceived += p.Total.BytesReceived
		}
		out.Synced = append(out.Synced, ss)
	}
	if s.plugin != nil {
		c := s.plugin()
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		out.Plugin = &PluginStats{Calls: c.Calls, P50MS: ms(c.Quantile(0.5)), P95MS: ms(c.Quantile(0.95)), InFlight: c.InFlight, Restarts: c.Restarts}
	}
	reply(w, out)
}
