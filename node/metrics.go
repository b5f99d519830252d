package node

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus metrics (docs/metrics.md). With a nil
// Registerer they are created but not registered, so the code never checks.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	term, commit, applied, leader, isLeader prometheus.Gauge
	leaderChanges                           prometheus.Counter
	proposalsCommitted, proposalsFailed     prometheus.Counter
	proposalsPending                        prometheus.GaugeFunc
	proposeToCommit, commitToApply          prometheus.Histogram
	fsyncSeconds                            prometheus.Histogram
	snapshotSeconds                         prometheus.Histogram
	snapshotBytes                           prometheus.Gauge
	inboxDropped                            prometheus.Counter
}

// latencyBuckets span 100µs to about 13s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 18)

func newMetrics(reg prometheus.Registerer, n *Node) (*metrics, error) {
	const ns = "ironraft"
	m := &metrics{reg: reg}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help})
		m.collectors = append(m.collectors, g)
		return g
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help})
		m.collectors = append(m.collectors, c)
		return c
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets})
		m.collectors = append(m.collectors, h)
		return h
	}
	m.term = gauge("term", "The current Raft term of this member.")
	m.commit = gauge("commit_index", "The commit index this member knows.")
	m.applied = gauge("applied_index", "The last log index applied to the state machine.")
	m.leader = gauge("leader_id", "The ID of the leader this member knows (0: none).")
	m.isLeader = gauge("is_leader", "1 if this member is the leader, else 0.")
	m.leaderChanges = counter("leader_changes_total", "Changes of the leader seen by this member.")
	m.proposalsCommitted = counter("proposals_committed_total", "Proposals made on this member that were applied.")
	m.proposalsFailed = counter("proposals_failed_total", "Proposals made on this member that failed or whose outcome is unknown.")
	m.proposalsPending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "proposals_pending",
		Help: "Proposals waiting on this member for their result."},
		func() float64 { c, _ := n.waits.pending(); return float64(c) })
	m.collectors = append(m.collectors, m.proposalsPending)
	m.proposeToCommit = histogram("propose_to_commit_seconds", "From Propose to this member learning the entry is committed.", latencyBuckets)
	m.commitToApply = histogram("commit_to_apply_seconds", "From this member learning entries are committed to their being applied.", latencyBuckets)
	m.fsyncSeconds = histogram("wal_fsync_seconds", "Duration of a synced write of a Ready to the WAL.", latencyBuckets)
	m.snapshotSeconds = histogram("snapshot_seconds", "Duration of writing and storing a state-machine snapshot.",
		prometheus.ExponentialBuckets(0.001, 2, 18))
	m.snapshotBytes = gauge("snapshot_bytes", "Size of the last snapshot this member stored.")
	m.inboxDropped = counter("inbox_dropped_total", "Inbound messages dropped because the inbox was full.")
	n.waits.observer = func(p *proposal, r proposalResult) {
		if r.err != nil {
			return
		}
		m.proposalsCommitted.Inc()
		if !r.committedAt.IsZero() && !p.proposedAt.IsZero() {
			m.proposeToCommit.Observe(r.committedAt.Sub(p.proposedAt).Seconds())
		}
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, d := range m.collectors[:i] {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("node: register metrics: %w", err)
		}
	}
	return m, nil
}

// unregister removes the metrics from the registerer, so a node can be
// restarted in the same process.
func (m *metrics) unregister() error {
	if m == nil || m.reg == nil {
		return nil
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
	return nil
}
