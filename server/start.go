package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/transport/grpctransport"
)

// startMode is how the node starts.
type startMode int

const (
	modeBootstrap startMode = iota
	modeJoin
	modeRestart
)

func (m startMode) String() string { return [...]string{"bootstrap", "join", "restart"}[m] }

// identity is who this member is and how it starts.
type identity struct {
	mode          startMode
	id, clusterID uint64
	// peers are the other members' transport addresses (bootstrap: the
	// initial members; join: the current ones).
	peers []node.Member
}

// Start starts the member: from its data directory if that holds state
// (whatever InitialClusterState says), else by bootstrapping the members of
// InitialCluster ("new") or by joining the running cluster it was added to
// ("existing": it asks the members of InitialCluster, on their peer URLs,
// for the cluster ID and its own member ID, retrying until ctx ends). Then
// it serves. With an empty data directory, Start refuses to come back as a
// member that already ran (see "Amnesia" in the package doc). Start is
// called once; after a failure, call Stop.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.stopping {
		s.mu.Unlock()
		return errors.New("server: Start called twice or after Stop")
	}
	s.mu.Unlock()
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("server: create the data directory: %w", err)
	}
	// The peer listener answers discovery ("not started yet") from now on,
	// so that initial members starting together answer each other's
	// bootstrap check at once.
	s.peerMux = newPeerMux(s.peerLn, s.peerServerTLS, s.discoveryInfo, s.log)
	who, err := s.resolveIdentity(ctx)
	if err != nil {
		return err
	}
	s.id, s.clusterID = who.id, who.clusterID
	if err := s.startNode(who); err != nil {
		return err
	}
	if who.mode != modeRestart {
		if err := writeMemberFile(s.cfg.DataDir, s.cfg.Name, s.id, s.clusterID); err != nil {
			s.node.Stop()
			s.peerMetrics.Unregister()
			return err
		}
	}
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	s.log = s.log.With("member_id", fmt.Sprintf("%x", s.id))
	s.serve()
	s.log.Info("server started", "mode", who.mode.String(), "cluster", fmt.Sprintf("%x", s.clusterID),
		"client", s.ClientAddrs(), "peer", s.PeerAddr(), "metrics", s.MetricsAddrs())
	return nil
}

// resolveIdentity decides the start mode and finds the member and cluster
// IDs: from the member file, computed from InitialCluster, or asked of the
// running cluster.
func (s *Server) resolveIdentity(ctx context.Context) (identity, error) {
	id, cid, ok, err := readMemberFile(s.cfg.DataDir)
	if err != nil {
		return identity{}, err
	}
	if ok {
		return identity{mode: modeRestart, id: id, clusterID: cid}, nil
	}
	ic, err := parseInitialCluster(s.cfg.InitialCluster)
	if err != nil {
		return identity{}, err
	}
	if s.cfg.InitialClusterState == ClusterStateExisting {
		return s.discover(ctx, ic)
	}
	ms, cid, err := bootstrapIDs(ic, s.cfg.InitialClusterToken)
	if err != nil {
		return identity{}, err
	}
	who := identity{mode: modeBootstrap, clusterID: cid}
	for _, m := range ms {
		if m.name == s.cfg.Name {
			who.id = m.id
		}
		who.peers = append(who.peers, node.Member{ID: m.id, Addr: hostOf(m.peerURLs[0])})
	}
	if err := s.checkNotBootstrapped(ctx, ic, who.id, cid); err != nil {
		return identity{}, err
	}
	return who, nil
}

// bootstrapCheckTimeout bounds the bootstrap check's one round of questions
// (etcd waits one second). Members that refuse connections or answer "not
// started" answer at once; only an unreachable one costs the whole wait.
const bootstrapCheckTimeout = 2 * time.Second

// checkNotBootstrapped is etcd's "member ... has already been bootstrapped"
// check, made before an initial member with an empty data directory
// bootstraps: it asks the other initial members once, in parallel, for
// their cluster, and refuses if one runs cluster cid and lists member id as
// started. When none answers (they are all new too), the member bootstraps.
func (s *Server) checkNotBootstrapped(ctx context.Context, ic initialCluster, id, cid uint64) error {
	var targets []string
	for _, m := range ic {
		if m.name != s.cfg.Name {
			targets = append(targets, m.peerURLs...)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, bootstrapCheckTimeout)
	defer cancel()
	infos := make([]clusterInfo, len(targets))
	var wg sync.WaitGroup // one goroutine per other initial peer URL
	for i, u := range targets {
		wg.Go(func() { infos[i], _ = fetchOne(ctx, u, s.peerClientTLS) })
	}
	wg.Wait()
	for _, info := range infos {
		if info.ClusterID == cid && slices.ContainsFunc(info.Members, func(m discoveryInfo) bool { return m.ID == id && m.started() }) {
			return s.alreadyBootstrapped(id, cid)
		}
	}
	return nil
}

// alreadyBootstrapped is the refusal to start, with an empty data
// directory, as member id of cluster cid, which already ran: a voter that
// forgot its votes and its log could elect a second leader in a term, or
// help commit a conflicting entry.
func (s *Server) alreadyBootstrapped(id, cid uint64) error {
	return fmt.Errorf("server: member %x has already been bootstrapped in cluster %x, but data directory %s holds no state: "+
		"a member that lost its data must not come back under its old ID (it forgot its votes and its log). "+
		"Remove it (etcdctl member remove %x), add it again (etcdctl member add %s --peer-urls=%s), "+
		"then start it with --initial-cluster-state=existing and an empty data directory",
		id, cid, s.cfg.DataDir, id, s.cfg.Name, strings.Join(s.cfg.InitialAdvertisePeerURLs, ","))
}

// discover asks the members of InitialCluster for the cluster this member
// was added to, and finds this member in it by its peer URLs. It asks again
// until ctx ends while no member answers, or the answer does not list this
// member yet (a follower may not have applied the addition).
func (s *Server) discover(ctx context.Context, ic initialCluster) (identity, error) {
	var targets []string
	for _, m := range ic {
		if m.name != s.cfg.Name {
			targets = append(targets, m.peerURLs...)
		}
	}
	if len(targets) == 0 {
		return identity{}, errors.New("server: --initial-cluster-state=existing but --initial-cluster names no other member to join")
	}
	notListed := func(info clusterInfo) error {
		return fmt.Errorf("server: cluster %x has no member with peer URLs %q: add this member first (etcdctl member add %s --peer-urls=%s)",
			info.ClusterID, s.cfg.InitialAdvertisePeerURLs, s.cfg.Name, s.cfg.InitialAdvertisePeerURLs[0])
	}
	var seen *clusterInfo // the last answer, which did not list this member
	for {
		// fetchClusterInfo fails only once ctx has ended.
		info, err := fetchClusterInfo(ctx, targets, s.peerClientTLS)
		if err != nil {
			if seen != nil {
				return identity{}, notListed(*seen)
			}
			return identity{}, err
		}
		if who, ok := s.findSelf(info); ok {
			if slices.ContainsFunc(info.Members, func(m discoveryInfo) bool { return m.ID == who.id && m.started() }) {
				return identity{}, s.alreadyBootstrapped(who.id, who.clusterID)
			}
			return who, nil
		}
		seen = &info
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return identity{}, notListed(info)
		}
	}
}

// findSelf finds this member in a discovery answer by its peer URLs.
func (s *Server) findSelf(info clusterInfo) (identity, bool) {
	who := identity{mode: modeJoin, clusterID: info.ClusterID}
	for _, m := range info.Members {
		if slices.ContainsFunc(m.PeerURLs, func(u string) bool { return slices.Contains(s.cfg.InitialAdvertisePeerURLs, u) }) {
			who.id = m.ID
			continue
		}
		if len(m.PeerURLs) > 0 {
			who.peers = append(who.peers, node.Member{ID: m.ID, Addr: hostOf(m.PeerURLs[0])})
		}
	}
	return who, who.id != 0
}

// startNode creates the transport (on the peer listener, shared with the
// discovery service) and starts the node.
func (s *Server) startNode(who identity) error {
	pm, err := node.NewPeerMetrics(s.reg)
	if err != nil {
		return fmt.Errorf("server: peer metrics: %w", err)
	}
	mux := s.peerMux
	tr, err := grpctransport.New(grpctransport.Config{
		NodeID: who.id, ClusterID: who.clusterID, Listener: mux,
		ServerTLS: s.peerServerTLS, ClientTLS: s.peerClientTLS,
		Observer: pm, Logger: s.cfg.Logger,
		// A peer that went away is dialled again at least every election
		// timeout (etcd redials every 100ms), so that a member that
		// restarts is counted in the quorum again soon.
		BackoffMax: s.cfg.ElectionTimeout,
	})
	if err != nil {
		mux.Close()
		pm.Unregister()
		return fmt.Errorf("server: peer transport: %w", err)
	}
	cfg := s.nodeConfig(who, tr)
	var n *node.Node
	switch who.mode {
	case modeBootstrap:
		n, err = node.Bootstrap(cfg, who.peers)
	case modeJoin:
		n, err = node.Join(cfg, who.peers)
	default:
		n, err = node.Restart(cfg)
	}
	if err != nil {
		tr.Close()
		pm.Unregister()
		return fmt.Errorf("server: %s the node: %w", who.mode, err)
	}
	s.node, s.peerMetrics = n, pm
	s.nodeReady.Store(true)
	return nil
}

func (s *Server) nodeConfig(who identity, tr *grpctransport.Transport) node.Config {
	c := s.cfg
	maxCmd := c.MaxRequestBytes + 1024 // the command kind and the envelope
	return node.Config{
		ID: who.id, ClusterID: who.clusterID,
		DataDir:   filepath.Join(c.DataDir, "member"),
		Transport: tr, StateMachine: s.sm,
		TickInterval:            c.HeartbeatInterval,
		ElectionTicks:           int(c.ElectionTimeout / c.HeartbeatInterval),
		HeartbeatTicks:          1,
		MaxCommandBytes:         maxCmd,
		MaxPendingBytes:         max(node.DefaultMaxPendingBytes, 8*int64(maxCmd)),
		SnapshotEntries:         c.SnapshotCount,
		SnapshotTrailingEntries: min(node.DefaultSnapshotTrailingEntries, c.SnapshotCount/2+1),
		Registerer:              s.reg,
		Logger:                  c.Logger,
	}
}

// serve starts serving the client and metrics listeners and the background
// loops.
func (s *Server) serve() {
	for _, l := range s.clientLns {
		s.goLoop(func() {
			if err := s.grpc.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				s.log.Error("serving clients stopped", "addr", l.Addr(), "err", err)
			}
		})
	}
	for i, h := range s.httpServers {
		l := s.metricsLns[i]
		s.goLoop(func() {
			var err error
			if h.TLSConfig != nil {
				err = h.ServeTLS(l, "", "") // the certificate is in TLSConfig
			} else {
				err = h.Serve(l)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("serving metrics stopped", "addr", l.Addr(), "err", err)
			}
		})
	}
	s.goLoop(s.watchNode)
	s.goLoop(s.healthLoop)
	s.goLoop(s.leaseLoop)
	s.goLoop(s.promoteLoop)
	s.goLoop(s.publishLoop)
	if s.comp.enabled() {
		s.goLoop(s.compactLoop)
	}
}

// watchNode closes Done when the node stops on its own.
func (s *Server) watchNode() {
	select {
	case <-s.node.Done():
		if err := s.node.Err(); err != nil {
			s.log.Error("the node stopped; this member no longer serves", "err", err)
		}
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		s.closeDone()
	case <-s.stopCtx.Done():
	}
}
