package server

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// serverMetrics are the server's own metrics (the node's and the peers'
// are registered by the node package). All names start with ironkv_.
type serverMetrics struct {
	reg        prometheus.Registerer
	handled    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	collectors []prometheus.Collector
}

func newServerMetrics(s *Server) (*serverMetrics, error) {
	const ns = "ironkv"
	m := &serverMetrics{reg: s.reg}
	m.handled = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "grpc_requests_total",
		Help: "gRPC calls finished on the client URLs, by method and status code."}, []string{"method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "grpc_request_duration_seconds",
		Help: "Duration of unary gRPC calls on the client URLs, by method.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
		[]string{"method"})
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, f)
	}
	started := func() bool { return s.nodeReady.Load() }
	m.collectors = []prometheus.Collector{m.handled, m.duration,
		gauge("has_leader", "1 if this member knows a leader.", func() float64 {
			if !started() {
				return 0
			}
			lead, _ := s.node.Leader()
			return b2f(lead != 0)
		}),
		gauge("is_leader", "1 if this member leads.", func() float64 { return b2f(started() && s.isLeader()) }),
		gauge("db_size_bytes", "Database size as Maintenance Status reports it: approximate bytes the kv store holds, history included, plus a fixed base.", func() float64 { return float64(s.dbSize()) }),
		gauge("revision", "The kv store's current revision.", func() float64 { return float64(s.store.Revision()) }),
		gauge("compact_revision", "The revision of the last compaction (-1: none).", func() float64 { return float64(s.store.CompactRevision()) }),
		gauge("leases", "Leases in the kv store.", func() float64 { return float64(len(s.store.Leases())) }),
		gauge("watch_streams", "Watch streams open on this member.", func() float64 { return float64(s.watchStreams.Load()) }),
	}
	for i, c := range m.collectors {
		if err := m.reg.Register(c); err != nil {
			for _, r := range m.collectors[:i] {
				m.reg.Unregister(r)
			}
			return nil, err
		}
	}
	return m, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *serverMetrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

func (m *serverMetrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	m.duration.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
	m.handled.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return resp, err
}

func (m *serverMetrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, ss)
	m.handled.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return err
}

// requiresLeader reports whether the client asked, as clientv3's
// WithRequireLeader does, that the call fail when there is no leader.
func requiresLeader(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	ks := md.Get(rpctypes.MetadataRequireLeaderKey)
	return len(ks) > 0 && ks[0] == rpctypes.MetadataHasLeader
}

func (s *Server) hasLeader() bool {
	lead, _ := s.node.Leader()
	return lead != 0
}

func (s *Server) requireLeaderUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if requiresLeader(ctx) && !s.hasLeader() {
		return nil, rpctypes.ErrGRPCNoLeader
	}
	return h(ctx, req)
}

// requireLeaderStream refuses a stream that requires a leader when there is
// none, and ends one (watch, lease keep-alive) with ErrGRPCNoLeader once the
// member has had no leader for noLeaderChecks election timeouts in a row,
// as etcd's monitorLeader does: a client whose member is cut off from the
// leader moves to another member instead of waiting on a stale stream.
func (s *Server) requireLeaderStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if !requiresLeader(ss.Context()) {
		return h(srv, ss)
	}
	if !s.hasLeader() {
		return rpctypes.ErrGRPCNoLeader
	}
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	var lost atomic.Bool
	if !s.goLoop(func() {
		if s.leaderLost(ctx) {
			lost.Store(true)
			cancel()
		}
	}) {
		return rpctypes.ErrGRPCStopped
	}
	err := h(srv, leaderStream{ServerStream: ss, ctx: ctx})
	if lost.Load() {
		return rpctypes.ErrGRPCNoLeader
	}
	return err
}

// noLeaderChecks is how many election timeouts in a row a member must see
// no leader before it ends the streams that require one (etcd's
// maxNoLeaderCnt).
const noLeaderChecks = 3

// leaderLost checks once per election timeout whether the member knows a
// leader, and returns true after noLeaderChecks checks in a row find none,
// or false when ctx ends.
func (s *Server) leaderLost(ctx context.Context) bool {
	t := time.NewTicker(s.cfg.ElectionTimeout)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if s.hasLeader() {
			missed = 0
			continue
		}
		if missed++; missed >= noLeaderChecks {
			return true
		}
	}
}

// leaderStream is a server stream whose context leaderLost may end.
type leaderStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (l leaderStream) Context() context.Context { return l.ctx }
