package node

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironraft/ironraft/transport"
)

// PeerMetrics exports a transport's per-peer traffic as Prometheus metrics
// (docs/metrics.md): pass it as the transport's observer, for example
// grpctransport.Config.Observer.
type PeerMetrics struct {
	reg                         prometheus.Registerer
	sentMsgs, sentBytes         *prometheus.CounterVec
	receivedMsgs, receivedBytes *prometheus.CounterVec
	dropped                     *prometheus.CounterVec
	rtt                         *prometheus.HistogramVec
	collectors                  []prometheus.Collector
}

var _ transport.Observer = (*PeerMetrics)(nil)

// NewPeerMetrics creates the per-peer metrics and registers them on reg
// (nil: not registered).
func NewPeerMetrics(reg prometheus.Registerer) (*PeerMetrics, error) {
	const ns = "ironraft"
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, []string{"peer", "lane"})
	}
	p := &PeerMetrics{
		reg:           reg,
		sentMsgs:      counter("peer_sent_messages_total", "Messages sent to a peer, by lane."),
		sentBytes:     counter("peer_sent_bytes_total", "Encoded bytes sent to a peer, by lane."),
		receivedMsgs:  counter("peer_received_messages_total", "Messages received from a peer and accepted, by lane."),
		receivedBytes: counter("peer_received_bytes_total", "Bytes received from a peer, by lane."),
		dropped:       counter("peer_dropped_messages_total", "Messages to a peer dropped before they were written, by lane."),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "peer_round_trip_seconds",
			Help: "Round-trip time to a peer.", Buckets: latencyBuckets}, []string{"peer"}),
	}
	p.collectors = []prometheus.Collector{p.sentMsgs, p.sentBytes, p.receivedMsgs, p.receivedBytes, p.dropped, p.rtt}
	if reg == nil {
		return p, nil
	}
	for i, c := range p.collectors {
		if err := reg.Register(c); err != nil {
			for _, d := range p.collectors[:i] {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("node: register peer metrics: %w", err)
		}
	}
	return p, nil
}

// Unregister removes the metrics from the registerer they were registered
// on.
func (p *PeerMetrics) Unregister() {
	if p.reg == nil {
		return
	}
	for _, c := range p.collectors {
		p.reg.Unregister(c)
	}
}

func peerLabel(peer uint64) string { return strconv.FormatUint(peer, 10) }

// OnSent implements transport.Observer.
func (p *PeerMetrics) OnSent(peer uint64, lane transport.Lane, msgs, bytes int) {
	pl, ll := peerLabel(peer), lane.String()
	p.sentMsgs.WithLabelValues(pl, ll).Add(float64(msgs))
	p.sentBytes.WithLabelValues(pl, ll).Add(float64(bytes))
}

// OnReceived implements transport.Observer.
func (p *PeerMetrics) OnReceived(peer uint64, lane transport.Lane, msgs, bytes int) {
	pl, ll := peerLabel(peer), lane.String()
	p.receivedMsgs.WithLabelValues(pl, ll).Add(float64(msgs))
	p.receivedBytes.WithLabelValues(pl, ll).Add(float64(bytes))
}

// OnDropped implements transport.Observer.
func (p *PeerMetrics) OnDropped(peer uint64, lane transport.Lane, msgs int) {
	p.dropped.WithLabelValues(peerLabel(peer), lane.String()).Add(float64(msgs))
}

// OnRTT implements transport.Observer.
func (p *PeerMetrics) OnRTT(peer uint64, d time.Duration) {
	p.rtt.WithLabelValues(peerLabel(peer)).Observe(d.Seconds())
}
