package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/ironraft/ironraft/kv"
	"github.com/ironraft/ironraft/node"
)

// Server is one ironkv member: the etcd v3 gRPC services on the client
// URLs, the Raft transport on the peer URL, HTTP health and metrics on the
// metrics URLs. New prepares it (and binds its listeners), Start joins or
// creates the cluster and serves, Stop stops it. Its goroutines are listed
// in the package doc.
type Server struct {
	cfg  Config // with defaults
	comp compaction
	log  *slog.Logger
	reg  *prometheus.Registry
	met  *serverMetrics

	store  *kv.Store
	sm     *stateMachine
	lessor *lessor
	fwd    *forwarder

	clientLns  []net.Listener
	peerLn     net.Listener
	metricsLns []net.Listener
	// peerMux serves peerLn from Start on (discovery; the transport's
	// connections once it runs). The transport closes it, or Stop if the
	// node never started.
	peerMux *peerMux
	// TLS: the client listeners', the https metrics listeners' (from
	// ClientTLS), the peer transport's two sides, and the client side used
	// to reach other members' client URLs (forwarding).
	clientTLS                    *tls.Config
	metricsTLS                   *tls.Config
	peerServerTLS, peerClientTLS *tls.Config
	fwdTLS                       *tls.Config

	grpc        *grpc.Server
	health      *health.Server
	httpServers []*http.Server

	// Set by Start before anything is served, then read-only.
	id, clusterID uint64
	node          *node.Node
	peerMetrics   *node.PeerMetrics
	// nodeReady is set once node is: the peer listener's discovery
	// service, which runs while the node starts, reads node only after it.
	nodeReady atomic.Bool

	randMu sync.Mutex
	rand   *rand.Rand

	watchStreams atomic.Int64

	// stopCtx ends when Stop begins: loops and streams watch it.
	stopCtx    context.Context
	stopCancel context.CancelFunc

	mu       sync.Mutex
	started  bool
	stopping bool
	wg       sync.WaitGroup // every goroutine the server starts
	stopOnce sync.Once
	stopErr  error
	done     chan struct{} // closed when the server stopped, or its node did
	doneOnce sync.Once
}

// New validates cfg, binds the listeners (unless cfg gives them) and
// prepares the services. Nothing is served until Start.
func New(cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		closeListeners(cfg.ClientListeners, cfg.PeerListener, cfg.MetricsListeners)
		return nil, err
	}
	cfg = cfg.withDefaults()
	comp, _ := parseCompaction(cfg.AutoCompactionMode, cfg.AutoCompactionRetention)
	s := &Server{
		cfg: cfg, comp: comp, log: cfg.Logger.With("name", cfg.Name),
		rand: rand.New(rand.NewPCG(rand.Uint64(), uint64(time.Now().UnixNano()))),
		done: make(chan struct{}),
	}
	s.stopCtx, s.stopCancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			closeListeners(s.clientLns, s.peerLn, s.metricsLns)
		}
	}()
	if err := s.openListeners(); err != nil {
		return nil, err
	}
	if err := s.loadTLS(); err != nil {
		return nil, err
	}
	if s.store, err = kv.New(kv.Config{}); err != nil {
		return nil, err
	}
	s.sm = newStateMachine(s.store)
	s.lessor = newLessor(s.minLeaseTTL(), cfg.ElectionTimeout)
	s.fwd = newForwarder(s)
	s.reg = cfg.Registry
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.met, err = newServerMetrics(s); err != nil {
		return nil, err
	}
	s.grpc = s.newGRPCServer()
	s.httpServers = s.newHTTPServers()
	return s, nil
}

func closeListeners(client []net.Listener, peer net.Listener, metrics []net.Listener) {
	for _, l := range append(append(client, peer), metrics...) {
		if l != nil {
			l.Close()
		}
	}
}

// openListeners binds the URLs for which no listener was given.
func (s *Server) openListeners() error {
	listen := func(given []net.Listener, urls []string) ([]net.Listener, error) {
		if len(given) > 0 {
			return given, nil
		}
		var out []net.Listener
		for _, u := range urls {
			l, err := net.Listen("tcp", hostOf(u))
			if err != nil {
				closeListeners(out, nil, nil)
				return nil, fmt.Errorf("server: listen on %s: %w", u, err)
			}
			out = append(out, l)
		}
		return out, nil
	}
	var err error
	if s.clientLns, err = listen(s.cfg.ClientListeners, s.cfg.ListenClientURLs); err != nil {
		return err
	}
	var given []net.Listener
	if s.cfg.PeerListener != nil {
		given = []net.Listener{s.cfg.PeerListener}
	}
	peer, err := listen(given, s.cfg.ListenPeerURLs)
	if err != nil {
		return err
	}
	s.peerLn = peer[0]
	s.metricsLns, err = listen(s.cfg.MetricsListeners, s.cfg.ListenMetricsURLs)
	return err
}

// newGRPCServer builds the client-facing gRPC server with etcd's limits and
// keepalive settings, and registers the services.
func (s *Server) newGRPCServer() *grpc.Server {
	c := s.cfg
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.MaxRequestBytes + grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(c.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: c.GRPCKeepAliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time: c.GRPCKeepAliveInterval, Timeout: c.GRPCKeepAliveTimeout}),
		grpc.ChainUnaryInterceptor(s.met.unaryInterceptor, s.requireLeaderUnary),
		grpc.ChainStreamInterceptor(s.met.streamInterceptor, s.requireLeaderStream),
	}
	if s.clientTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.clientTLS)))
	}
	g := grpc.NewServer(opts...)
	pb.RegisterKVServer(g, &kvService{s: s})
	pb.RegisterWatchServer(g, &watchService{s: s})
	pb.RegisterLeaseServer(g, &leaseService{s: s})
	pb.RegisterClusterServer(g, &clusterService{s: s})
	pb.RegisterMaintenanceServer(g, &maintenanceService{s: s})
	pb.RegisterAuthServer(g, pb.UnimplementedAuthServer{})
	s.health = health.NewServer()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(g, s.health)
	return g
}

// ClientAddrs returns the addresses the client listeners are bound to, in
// the order of ListenClientURLs.
func (s *Server) ClientAddrs() []string { return addrs(s.clientLns) }

// PeerAddr returns the address the peer listener is bound to.
func (s *Server) PeerAddr() string { return s.peerLn.Addr().String() }

// MetricsAddrs returns the addresses the metrics listeners are bound to.
func (s *Server) MetricsAddrs() []string { return addrs(s.metricsLns) }

func addrs(ls []net.Listener) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Addr().String()
	}
	return out
}

// ID returns this member's ID (known once Start returned).
func (s *Server) ID() uint64 { return s.id }

// ClusterID returns the cluster's ID (known once Start returned).
func (s *Server) ClusterID() uint64 { return s.clusterID }

// Registry returns the registry the metrics are on.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Done is closed when the member stopped serving: Stop returned, or its
// node stopped on its own (it was removed from the cluster, or a storage
// fault stopped it; Err says which). Call Stop then to release the rest.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns why the node stopped on its own (node.ErrRemoved, a storage
// fault), or nil.
func (s *Server) Err() error {
	if s.node == nil {
		return nil
	}
	return s.node.Err()
}

func (s *Server) closeDone() { s.doneOnce.Do(func() { close(s.done) }) }

// goLoop starts one of the server's goroutines; Stop joins it. It reports
// false (and starts nothing) once Stop has begun.
func (s *Server) goLoop(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.wg.Go(f)
	return true
}

// Stop stops the member gracefully: if it leads, it hands leadership to
// another voter; then it stops accepting requests, lets those in flight
// finish until ctx ends (watch streams are ended at once, so clients move
// to another member), stops the node and closes every listener. Stop is
// idempotent and returns the node's error, if any.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.stopping = true
	s.mu.Unlock()
	s.health.Shutdown()
	if started && ctx.Err() == nil {
		s.handOffLeadership(ctx)
	}
	s.stopCancel()
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
	}
	var errs []error
	for _, h := range s.httpServers {
		if err := h.Shutdown(ctx); err != nil {
			h.Close()
		}
	}
	if started {
		if err := s.node.Stop(); err != nil && !errors.Is(err, node.ErrRemoved) {
			errs = append(errs, err)
		}
		s.peerMetrics.Unregister()
	} else if s.peerMux != nil {
		s.peerMux.Close() // closes peerLn; the transport may have done so
	} else {
		closeListeners(nil, s.peerLn, nil)
	}
	closeListeners(s.clientLns, nil, s.metricsLns) // grpc closed them; Serve was maybe never called
	s.wg.Wait()
	s.fwd.close()
	s.met.unregister()
	s.closeDone()
	s.log.Info("server stopped")
	return errors.Join(errs...)
}

// handOffLeadership transfers leadership to the most caught-up other voter
// the leader heard from recently, if this member leads, waiting at most two
// election timeouts.
func (s *Server) handOffLeadership(ctx context.Context) {
	if lead, _ := s.node.Leader(); lead != s.id {
		return
	}
	st, err := s.node.Status(ctx)
	if err != nil {
		return
	}
	var target, best uint64
	for _, m := range s.node.Members() {
		pr, ok := st.Progress[m.ID]
		if ok && pr.RecentActive && m.ID != s.id && !m.Learner && (target == 0 || pr.Match > best) {
			target, best = m.ID, pr.Match
		}
	}
	if target == 0 {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, 2*s.cfg.ElectionTimeout)
	defer cancel()
	if err := s.node.TransferLeadership(tctx, target); err != nil {
		s.log.Warn("could not hand leadership over before stopping", "to", fmt.Sprintf("%x", target), "err", err)
		return
	}
	s.log.Info("handed leadership over before stopping", "to", fmt.Sprintf("%x", target))
}

// header returns a response header: this cluster and member, the current
// term, and revision rev.
func (s *Server) header(rev int64) *pb.ResponseHeader {
	_, term := s.node.Leader()
	return &pb.ResponseHeader{ClusterId: s.clusterID, MemberId: s.id, Revision: rev, RaftTerm: term}
}

// fillHeader completes a header kv returned (it carries the revision).
func (s *Server) fillHeader(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h == nil {
		return s.header(s.store.Revision())
	}
	_, term := s.node.Leader()
	h.ClusterId, h.MemberId, h.RaftTerm = s.clusterID, s.id, term
	return h
}

// isLeader reports whether this member's node leads.
func (s *Server) isLeader() bool {
	lead, _ := s.node.Leader()
	return lead == s.id
}

// minLeaseTTL is etcd's: one and a half election timeouts, in whole seconds
// rounded up.
func (s *Server) minLeaseTTL() int64 {
	electionTicks := int64(s.cfg.ElectionTimeout / s.cfg.HeartbeatInterval)
	minTTL := time.Duration((3*electionTicks)/2) * s.cfg.HeartbeatInterval
	return int64(math.Ceil(minTTL.Seconds()))
}

// randInt63 returns a random positive int64 (lease IDs).
func (s *Server) randInt63() int64 {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	for {
		if v := s.rand.Int64(); v > 0 {
			return v
		}
	}
}
