package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
)

// Node is a prometheus.Collector of a node's figures, read from the node
// at each scrape.
type Node struct{ n *node.Node }

var _ prometheus.Collector = Node{}

// NewNode returns the collector of n's figures.
func NewNode(n *node.Node) Node { return Node{n} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

var (
	descPeers        = desc("peers", "Peers the node is connected to.")
	descRoutingTable = desc("dht_routing_table_peers", "Peers in the DHT's routing table.")
	descAccepted     = desc("dht_accepted_total", "Writes from peers the node accepted and stored, by kind: record (PUT_VALUE) or provider (a provider record of another peer).", "kind")
	descRefused      = desc("dht_refused_total", "Writes and requests from peers the node refused, by reason (see [quota] in config.toml).", "reason")
	descHeldRecords  = desc("held_records", "Value records the node stores for other peers (what quota.max_records bounds).")
	descHeldBytes    = desc("held_bytes", "Bytes of the value records the node stores for other peers (what quota.max_mib bounds).")
	descHeldProvs    = desc("held_provider_records", "Provider records of other peers the node stores (what quota.max_providers bounds).")
	descBackendState = desc("backend_state", "1 for the storage backend's current state (up, down, restarting or failed), 0 for the others.", "state")
	descSubscribers  = desc("event_subscribers", "Open subscriptions to the node's events (netabase events, watches).")
	descEventsLost   = desc("events_lost_total", "Events subscribers lost because they did not keep up.")
	descSyncRecords  = desc("sync_records", "Records held in a synced collection's replica, by collection.", "collection")
	descSyncDead     = desc("sync_tombstones", "Tombstones (deleted records) held in a synced collection's replica, by collection.", "collection")
	descSyncBytes    = desc("sync_bytes", "Bytes of the records held in a synced collection's replica, by collection.", "collection")
	descSyncPeers    = desc("sync_topic_peers", "Peers known to share a synced collection's gossip topic, by collection.", "collection")
	descSessions     = desc("sync_sessions_total", "Reconciliation sessions with the collection's peers, by collection.", "collection")
	descSessionBytes = desc("sync_session_bytes_total", "Bytes of reconciliation sessions, by collection and direction (sent, received).", "collection", "direction")
	descSessionRecs  = desc("sync_session_records_total", "Records carried by reconciliation sessions, by collection and direction (sent, received, stored: received and kept).", "collection", "direction")
	descSyncRefused  = desc("sync_refused_total", "Records from peers a synced collection's replica refused, whatever carried them (gossip, reconciliation, a gateway's sync connection), by collection and reason (malformed, bounds, signature, schema, writer, clock, rate).", "collection", "reason")
)

// backendStates are the values of the state label of backend_state.
var backendStates = []core.State{core.StateUp, core.StateDown, core.StateRestarting, core.StateFailed}

// Describe sends the descriptions of every metric of the collector.
func (Node) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descPeers, descRoutingTable, descAccepted, descRefused, descHeldRecords, descHeldBytes, descHeldProvs,
		descBackendState, descSubscribers, descEventsLost,
		descSyncRecords, descSyncDead, descSyncBytes, descSyncPeers, descSessions, descSessionBytes, descSessionRecs, descSyncRefused,
	} {
		ch <- d
	}
}

// Collect reads the node's figures.
func (c Node) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descPeers, float64(len(n.Host().Network().Peers())))
	gauge(descRoutingTable, float64(len(n.RoutingTable())))
	acc := n.Accepted()
	counter(descAccepted, float64(acc.Records), "record")
	counter(descAccepted, float64(acc.Providers), "provider")
	for reason, count := range n.Refused() {
		counter(descRefused, float64(count), reason)
	}
	held := n.Held()
	gauge(descHeldRecords, float64(held.Records))
	gauge(descHeldBytes, float64(held.Bytes))
	gauge(descHeldProvs, float64(held.Providers))
	state := n.BackendState().State
	for _, s := range backendStates {
		v := 0.0
		if s == state {
			v = 1
		}
		gauge(descBackendState, v, s.String())
	}
	ev := n.EventStats()
	gauge(descSubscribers, float64(ev.Subscribers))
	counter(descEventsLost, float64(ev.Lost))
	for _, s := range n.SyncedCollections() {
		st := s.Status()
		name := st.Name
		for reason, n := range st.Refused {
			counter(descSyncRefused, float64(n), name, string(reason))
		}
		if st.Error != "" {
			// Its figures are not known: none is reported.
			continue
		}
		gauge(descSyncRecords, float64(st.Records), name)
		gauge(descSyncDead, float64(st.Tombstones), name)
		gauge(descSyncBytes, float64(st.Bytes), name)
		gauge(descSyncPeers, float64(len(st.TopicPeers)), name)
		var sessions int
		var total struct{ sent, received, recSent, recReceived, recStored float64 }
		for _, p := range st.Peers {
			sessions += p.Sessions
			total.sent += float64(p.Total.BytesSent)
			total.received += float64(p.Total.BytesReceived)
			total.recSent += float64(p.Total.RecordsSent)
			total.recReceived += float64(p.Total.RecordsReceived)
			total.recStored += float64(p.Total.RecordsStored)
		}
		counter(descSessions, float64(sessions), name)
		counter(descSessionBytes, total.sent, name, "sent")
		counter(descSessionBytes, total.received, name, "received")
		counter(descSessionRecs, total.recSent, name, "sent")
		counter(descSessionRecs, total.recReceived, name, "received")
		counter(descSessionRecs, total.recStored, name, "stored")
	}
}

// Plugin is a prometheus.Collector of the calls to a storage plugin, read
// at each scrape.
type Plugin struct{ calls func() core.CallStats }

var _ prometheus.Collector = Plugin{}

// NewPlugin returns the collector of the figures calls returns.
func NewPlugin(calls func() core.CallStats) Plugin { return Plugin{calls} }

var (
	descPluginCall     = desc("plugin_call_duration_seconds", "Round-trip time of the storage plugin's calls, from the call to its answer (the plugin's work included).")
	descPluginInFlight = desc("plugin_calls_in_flight", "Calls and query streams to the storage plugin under way.")
	descPluginRestarts = desc("plugin_restarts_total", "Storage plugin processes started again after one died.")
)

// pluginBucketStep: the exported histogram has every pluginBucketStep-th
// bound of host's finer one, doubling from 5µs to 5.2s.
const pluginBucketStep = 4

// Describe sends the descriptions of the collector's metrics.
func (Plugin) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPluginCall
	ch <- descPluginInFlight
	ch <- descPluginRestarts
}

// Collect reads the plugin's figures.
func (p Plugin) Collect(ch chan<- prometheus.Metric) {
	st := p.calls()
	buckets := map[float64]uint64{}
	var cum uint64
	for i, b := range st.Bounds {
		cum += st.Buckets[i]
		if i%pluginBucketStep == 0 {
			buckets[b] = cum
		}
	}
	ch <- prometheus.MustNewConstHistogram(descPluginCall, st.Calls, st.Seconds, buckets)
	ch <- prometheus.MustNewConstMetric(descPluginInFlight, prometheus.GaugeValue, float64(st.InFlight))
	ch <- prometheus.MustNewConstMetric(descPluginRestarts, prometheus.CounterValue, float64(st.Restarts))
}
