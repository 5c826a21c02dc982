package node

import (
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	lsync "github.com/leviathan-gossip/leviathan/sync"
)

// PhiPeersReported is how many peers get their own leviathan_peer_phi
// series: the ones with the highest phi at scrape time. Bounding it keeps
// a large or churning cluster from producing a series per peer for ever;
// leviathan_peer_phi_max and leviathan_peers cover the rest.
const PhiPeersReported = 10

// WithMetrics registers the node's Prometheus collectors into reg as well
// as into the node's private registry, which Gatherer returns (and the
// admin API serves at GET /metrics). Without this option (or with a nil
// reg) metrics are still collected and gathered, but nothing is
// registered anywhere else — never into prometheus.DefaultRegisterer
// unless you pass it.
//
// If reg is also a prometheus.Gatherer (a *prometheus.Registry is),
// Gatherer returns reg, so your own metrics appear at GET /metrics too. To run
// several nodes against one registry, give each a labelled view:
// prometheus.WrapRegistererWith(prometheus.Labels{"node": id}, reg).
// Close unregisters the node's collectors from reg.
func WithMetrics(reg prometheus.Registerer) Option { return func(o *options) { o.registerer = reg } }

// metrics holds the collectors a node updates on its hot paths; the rest
// are read from the node at scrape time (see collector).
type metrics struct {
	own      *prometheus.Registry
	user     prometheus.Registerer
	gatherer prometheus.Gatherer

	batchRecords    prometheus.Histogram
	storeWrite      *prometheus.HistogramVec
	eventsPublished *prometheus.CounterVec
	eventsDropped   prometheus.Counter

	collectors []prometheus.Collector
}

const ns = "leviathan"

func newMetrics(n *Node, user prometheus.Registerer) (*metrics, error) {
	m := &metrics{own: prometheus.NewRegistry(), user: user}
	m.gatherer = m.own
	if g, ok := user.(prometheus.Gatherer); ok && user != nil {
		m.gatherer = g
	}
	byType := []string{"type"}
	m.batchRecords = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_records",
		Help:    "Records per batch of peers' deltas persisted from one message.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 9)}) // 1 … 65536
	m.storeWrite = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "store_write_seconds",
		Help:    "Latency of one batch write to the store (Badger), by origin: local (Set/Delete) or remote (deltas).",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14)}, []string{"origin"}) // 50 µs … 0.4 s
	m.eventsPublished = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_published_total",
		Help: "Events published to subscribers, by type."}, byType)
	m.eventsDropped = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "subscriber_dropped_events_total",
		Help: "Events dropped because a subscriber's buffer was full (summed over subscribers)."})
	// Pre-create the label values, so that dashboards see zeros.
	m.storeWrite.WithLabelValues("local")
	m.storeWrite.WithLabelValues("remote")
	for _, t := range []EventType{EventUpdates, EventDelete, EventDiscover, EventSuspend, EventRecover, EventDead} {
		m.eventsPublished.WithLabelValues(t.String())
	}
	m.collectors = []prometheus.Collector{m.batchRecords, m.storeWrite, m.eventsPublished, m.eventsDropped, &collector{n: n}}
	for _, c := range m.collectors {
		m.own.MustRegister(c)
	}
	// The runtime's and the process's own series, as a default Prometheus
	// registry has them: memory, goroutines and file descriptors are the
	// first things an operator looks at. Only in the node's own registry:
	// a registry passed in likely has them already.
	m.own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if user != nil {
		for i, c := range m.collectors {
			if err := user.Register(c); err != nil {
				for _, done := range m.collectors[:i] {
					user.Unregister(done)
				}
				return nil, err
			}
		}
	}
	return m, nil
}

// unregister removes the collectors from the user's registry.
func (m *metrics) unregister() {
	if m.user == nil {
		return
	}
	for _, c := range m.collectors {
		m.user.Unregister(c)
	}
}

// Gatherer is the registry GET /metrics of the admin API serves: reg of
// WithMetrics when it is a Gatherer, else the node's own, which holds its
// collectors and the Go runtime's.
func (n *Node) Gatherer() prometheus.Gatherer { return n.metrics.gatherer }

// remoteBatch records a persisted batch of peers' deltas.
func (m *metrics) remoteBatch(records int, took time.Duration) {
	m.batchRecords.Observe(float64(records))
	m.storeWrite.WithLabelValues("remote").Observe(took.Seconds())
}

// localWrite records a Set or Delete's store write.
func (m *metrics) localWrite(took time.Duration) {
	m.storeWrite.WithLabelValues("local").Observe(took.Seconds())
}

// collector reads what the node already keeps at scrape time: its
// counters (traffic by type included), the sync core's rejection counts, peers by state and phi,
// subscribers, and the store's size.
type collector struct{ n *Node }

var (
	descRounds      = prometheus.NewDesc(ns+"_gossip_rounds_total", "Gossip rounds run.", nil, nil)
	descMsgsIn      = prometheus.NewDesc(ns+"_messages_received_total", "Gossip messages received, by type (syn, synack, ack, badcluster; invalid = undecodable).", []string{"type"}, nil)
	descMsgsOut     = prometheus.NewDesc(ns+"_messages_sent_total", "Gossip messages handed to the transport, by type.", []string{"type"}, nil)
	descBytesIn     = prometheus.NewDesc(ns+"_received_bytes_total", "Bytes of gossip messages received, by type.", []string{"type"}, nil)
	descBytesOut    = prometheus.NewDesc(ns+"_sent_bytes_total", "Bytes of gossip messages handed to the transport, by type.", []string{"type"}, nil)
	descDeltas      = prometheus.NewDesc(ns+"_deltas_applied_total", "Peers' delta records persisted and applied.", nil, nil)
	descBatches     = prometheus.NewDesc(ns+"_batches_applied_total", "Batches of peers' deltas persisted and applied.", nil, nil)
	descRejected    = prometheus.NewDesc(ns+"_rejected_total", "Messages or deltas rejected, by reason: decode (undecodable message), bad_cluster (message from another cluster), own_id (claims to be this node), gap (would leave a version gap), invalid (unordered or out-of-range records), stale_generation (older generation than known), unproven_generation, ghost_limit, peer_limit (max_peers held), unknown_node (data of an id never listed), implausible_claim (a heartbeat or watermark beyond what its node's own word allows), implausible_vote; with signed = true, bad_signature (a node record forged, altered or malformed), untrusted_key (a node record by a key not trusted for its id), record_ahead (a node record's seq over 10 minutes ahead), unsigned_claim (a generation or leave its node's signed record does not state), bad_beat_proof (a heartbeat above the one held without its node's heartbeat chain proof), bad_record_proof (records without their origin's proof, or with one that does not verify against its key), bad_vote_signature (a vote or refutation not signed by its voter), vote_not_monitor (a vote by a node that is not its victim's monitor here), stale_vote (a vote replayed, or below its voter's newer one), vote_checks_spent (a vote beyond the signature checks allowed per sender and per second).", []string{"reason"}, nil)
	descErrors      = prometheus.NewDesc(ns+"_errors_total", "Local failures, by kind: send (transport refused a message), store (a batch could not be persisted), data_lane_full (a data message dropped while the data lane was full), data_lane_stale (an exchange's message dropped after waiting half a gossip interval in the lane).", []string{"kind"}, nil)
	descResets      = prometheus.NewDesc(ns+"_generation_resets_total", "Peers whose data was dropped because they came back with a new generation.", nil, nil)
	descPeers       = prometheus.NewDesc(ns+"_peers", "Known peers by state (joining, alive, suspended, dead, left).", []string{"state"}, nil)
	descPhi         = prometheus.NewDesc(ns+"_peer_phi", "Phi of the peers with the highest phi (at most 10 series, see PhiPeersReported).", []string{"peer"}, nil)
	descPhiMax      = prometheus.NewDesc(ns+"_peer_phi_max", "Highest phi over all peers.", nil, nil)
	descSubs        = prometheus.NewDesc(ns+"_subscribers", "Open event subscriptions.", nil, nil)
	descLag         = prometheus.NewDesc(ns+"_subscriber_lag_events", "Events waiting in the fullest subscriber's buffer.", nil, nil)
	descSelfVersion = prometheus.NewDesc(ns+"_max_version", "This node's highest version.", nil, nil)
	descKeys        = prometheus.NewDesc(ns+"_keys", "This node's own live keys: each key whose current value is not a deletion, once.", nil, nil)
	descGen         = prometheus.NewDesc(ns+"_generation", "This node's generation (milliseconds since the epoch when its data directory was created).", nil, nil)
	descFailed      = prometheus.NewDesc(ns+"_store_failed", "1 once a store write failed: the node stopped beating, gossiping and taking writes until restarted.", nil, nil)
	descRefuted     = prometheus.NewDesc(ns+"_claims_refuted_total", "Claims about this node that it did not make (a heartbeat, leave, address or watermark), refuted.", nil, nil)
	descLagVersions = prometheus.NewDesc(ns+"_replication_lag_versions", "Versions this node's copies of peers' data trail the newest watermarks digests claim, summed over peers: the replication backlog.", nil, nil)
	descLagSeconds  = prometheus.NewDesc(ns+"_replication_lag_seconds", "How long the copy of the peer furthest behind has trailed; 0 when every copy is in step.", nil, nil)
	descWriteLag    = prometheus.NewDesc(ns+"_write_lag_records", "Records of this node's own its live peers lack, at the 0.75 quantile, by their last digests: the signal of write flow control.", nil, nil)
	descWriteLimit  = prometheus.NewDesc(ns+"_write_rate_limit", "Records per second local writes are held to by flow control while peers are not keeping up; 0 when not limited.", nil, nil)
	descDelayed     = prometheus.NewDesc(ns+"_writes_delayed_total", "Local writes (Set, Delete, SetMany chunks) that waited for flow control's admission.", nil, nil)
	descStore       = prometheus.NewDesc(ns+"_store_size_bytes", "Store size on disk by part (lsm, vlog), when the store reports it.", []string{"part"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRounds, descMsgsIn, descMsgsOut, descBytesIn, descBytesOut, descDeltas, descBatches, descRejected, descErrors, descResets,
		descPeers, descPhi, descPhiMax, descSubs, descLag, descSelfVersion, descKeys, descGen, descStore,
		descFailed, descRefuted, descLagVersions, descLagSeconds, descWriteLag, descWriteLimit, descDelayed} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descRounds, n.counters.rounds.Load())
	trafficByType(&n.counters.in, listedIn, descMsgsIn, descBytesIn, counter)
	trafficByType(&n.counters.out, listedOut, descMsgsOut, descBytesOut, counter)
	counter(descDeltas, n.counters.deltasApplied.Load())
	counter(descBatches, n.counters.batches.Load())
	counter(descErrors, n.counters.sendErrors.Load(), "send")
	counter(descErrors, n.counters.storeErrors.Load(), "store")
	counter(descErrors, n.counters.dataDropped.Load(), "data_lane_full")
	counter(descErrors, n.counters.dataStale.Load(), "data_lane_stale")

	n.mu.Lock()
	cs := n.eng.Stats()
	self := n.eng.Self()
	info, _ := n.eng.Peer(self.ID)
	fl := n.eng.Flow()
	rs := n.eng.RecordStats()
	failed := 0.0
	if n.failed != nil {
		failed = 1
	}
	n.mu.Unlock()
	gauge(descFailed, failed)
	gauge(descWriteLag, float64(fl.Lag))
	gauge(descWriteLimit, fl.Rate)
	counter(descDelayed, n.admission.delayed.Load())
	counter(descRefuted, cs.ClaimsRefuted)
	unsignedMarks := rs.UnsignedWatermarks + cs.UnsignedWatermarks // the engine's entries, the core's deltas and own claims
	for _, r := range []struct {
		reason string
		v      uint64
	}{
		{"decode", n.counters.in.msgs[undecodable].Load()},
		{"bad_cluster", cs.BadCluster},
		{"own_id", cs.OwnIDDeltas},
		{"gap", cs.GapDeltas},
		{"invalid", cs.InvalidDeltas},
		{"stale_generation", cs.StaleGenDeltas},
		{"unproven_generation", cs.UnprovenGen}, // not (yet) from the peer itself
		{"ghost_limit", cs.GhostsRefused},       // too many ids only ever listed
		{"peer_limit", cs.PeersRefused},         // max_peers nodes held
		{"unknown_node", cs.UnknownDeltas},      // data of an id never listed
		{"implausible_claim", cs.ImplausibleClaims},
		{"implausible_vote", n.eng.ImplausibleVotes()},
		{"bad_signature", rs.BadSignature},           // a node record forged, altered or malformed
		{"untrusted_key", rs.UntrustedKey},           // a node record by a key not trusted for its id
		{"record_ahead", rs.Ahead},                   // a node record's seq too far ahead
		{"unsigned_claim", rs.UnsignedClaims},        // a generation or leave its node's record does not state
		{"bad_beat_proof", rs.BadBeatProofs},         // a heartbeat raised without its node's proof
		{"bad_record_proof", rs.BadRecordProofs},     // records without their origin's proof
		{"unsigned_watermark", unsignedMarks},        // a horizon or watermark its node never signed or proved
		{"bad_vote_signature", rs.BadVoteSignatures}, // a vote not signed by its voter
		{"vote_not_monitor", rs.VotesNotMonitor},     // a vote by a node not monitoring its victim
		{"stale_vote", rs.StaleVotes},                // a vote below its voter's newest against that node
		{"vote_checks_spent", rs.VoteChecksDeferred}, // a vote beyond the signature checks allowed
	} {
		counter(descRejected, r.v, r.reason)
	}
	counter(descResets, cs.Resets)
	gauge(descSelfVersion, float64(self.MaxVersion))
	gauge(descKeys, float64(info.Keys))
	gauge(descGen, float64(self.Generation))

	peers := n.Peers()
	byState := map[PeerState]int{StateJoining: 0, StateAlive: 0, StateSuspended: 0, StateDead: 0, StateLeft: 0}
	for _, p := range peers {
		byState[p.State]++
	}
	for s, k := range byState {
		gauge(descPeers, float64(k), string(s))
	}
	sort.SliceStable(peers, func(i, j int) bool { return peers[i].Phi > peers[j].Phi })
	maxPhi := 0.0
	for i, p := range peers {
		if i == 0 {
			maxPhi = p.Phi
		}
		if i < PhiPeersReported {
			gauge(descPhi, p.Phi, p.ID)
		}
	}
	gauge(descPhiMax, maxPhi)
	var behind uint64
	var longest time.Duration
	for _, p := range peers {
		behind += p.LagVersions
		longest = max(longest, p.Lag)
	}
	gauge(descLagVersions, float64(behind))
	gauge(descLagSeconds, longest.Seconds())

	subs, lag := n.hub.stats()
	gauge(descSubs, float64(subs))
	gauge(descLag, float64(lag))

	if s, ok := n.storeSize(); ok { // disk use, as du counts it
		gauge(descStore, float64(s.LSMBytes), "lsm")
		gauge(descStore, float64(s.VLogBytes), "vlog")
	}
}

// listedOut and listedIn are the type labels listed even at zero, so
// that dashboards see zeros; other types appear once counted.
var (
	listedOut = []string{"syn", "synack", "ack", "badcluster"}
	listedIn  = append(slices.Clone(listedOut), "invalid")
)

// trafficByType emits t's counts by type label, undecodable messages as
// "invalid". Counts are summed by label, so that types sharing one
// ("unknown") make one series, as they did in a CounterVec.
func trafficByType(t *traffic, listed []string, msgs, bytes *prometheus.Desc, counter func(*prometheus.Desc, uint64, ...string)) {
	type count struct{ msgs, bytes uint64 }
	by := make(map[string]count, len(listed))
	for _, label := range listed {
		by[label] = count{}
	}
	for i := range t.msgs {
		k := t.msgs[i].Load()
		if k == 0 {
			continue
		}
		label := lsync.MsgType(i).String()
		if lsync.MsgType(i) == undecodable {
			label = "invalid"
		}
		c := by[label]
		c.msgs += k
		c.bytes += t.bytes[i].Load()
		by[label] = c
	}
	for label, c := range by {
		counter(msgs, c.msgs, label)
		counter(bytes, c.bytes, label)
	}
}
