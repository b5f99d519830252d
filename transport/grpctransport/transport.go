package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/transport"
)

// ProtocolVersion is the version of the wire protocol this package speaks;
// a peer whose handshake names another version is refused.
const ProtocolVersion = 1

var _ transport.Transport = (*Transport)(nil)

// Transport is a transport.Transport over gRPC. Create it with New.
type Transport struct {
	cfg      Config // with defaults applied
	log      *slog.Logger
	server   *grpc.Server
	dial     []grpc.DialOption
	rep      *reporter
	obs      Observer // never nil
	observed bool     // Config.Observer was set: sizes are worth computing

	// inboundSnaps is a semaphore of Config.MaxInboundSnapshots slots, one
	// per snapshot being received.
	inboundSnaps chan struct{}

	// maxMsgBytes is the largest message Send accepts: one that fits in a
	// frame with its slack.
	maxMsgBytes int

	// hooks lets tests act at chosen points; set before Start, read-only
	// afterwards.
	hooks testHooks

	rndMu sync.Mutex
	rnd   *rand.Rand // backoff jitter; guarded by rndMu

	// wg joins every goroutine but the reporter's (see goroutine).
	wg sync.WaitGroup
	// repWG joins the reporter goroutine, which stops after every other
	// goroutine, so that their last reports are delivered.
	repWG     sync.WaitGroup
	repCancel context.CancelFunc

	mu      sync.RWMutex
	closed  bool
	started bool
	// h is set by Start before the server serves or a peer starts, and
	// read-only afterwards: the server reads it without t.mu.
	h     transport.Handler
	peers map[uint64]*peer
}

// testHooks are called, when set, at points tests want to act on.
type testHooks struct {
	// snapshotChunkSent is called after chunk i (from 0) of a snapshot to
	// peer was written.
	snapshotChunkSent func(peer uint64, i int)
}

// New returns a Transport for cfg, which it validates. Nothing runs until
// Start.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Transport{
		cfg:          cfg,
		log:          cfg.Logger.With(slog.Uint64("node", cfg.NodeID), slog.Uint64("cluster", cfg.ClusterID)),
		obs:          cfg.Observer,
		rep:          newReporter(),
		inboundSnaps: make(chan struct{}, cfg.MaxInboundSnapshots),
		maxMsgBytes:  cfg.MaxFrameBytes - frameSlackBytes,
		rnd:          rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), cfg.NodeID)),
		peers:        map[uint64]*peer{},
	}
	t.observed = t.obs != nil
	if !t.observed {
		t.obs = nopObserver{}
	}
	t.server = grpc.NewServer(t.serverOptions()...)
	RegisterRaftTransportServer(t.server, &server{t: t})
	t.dial = t.dialOptions()
	return t, nil
}

func (t *Transport) serverOptions() []grpc.ServerOption {
	c := t.cfg
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.MaxFrameBytes),
		grpc.MaxSendMsgSize(c.MaxFrameBytes),
		grpc.MaxConcurrentStreams(c.MaxStreamsPerConn),
		grpc.ConnectionTimeout(c.DialTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: c.KeepaliveInterval, Timeout: c.KeepaliveTimeout}),
		// gRPC clients ping at most every 10s, whatever they are told.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             min(c.KeepaliveInterval, 10*time.Second) / 2,
			PermitWithoutStream: true,
		}),
		// Close joins the handlers: they call the Handler.
		grpc.WaitForHandlers(true),
	}
	if c.ServerTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c.ServerTLS)))
	}
	return opts
}

func (t *Transport) dialOptions() []grpc.DialOption {
	c := t.cfg
	creds := insecure.NewCredentials()
	if c.ClientTLS != nil {
		creds = credentials.NewTLS(c.ClientTLS)
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.MaxFrameBytes), grpc.MaxCallSendMsgSize(c.MaxFrameBytes)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  c.BackoffInitial,
				Multiplier: 2,
				Jitter:     c.BackoffJitter,
				MaxDelay:   c.BackoffMax,
			},
			MinConnectTimeout: c.DialTimeout,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                c.KeepaliveInterval,
			Timeout:             c.KeepaliveTimeout,
			PermitWithoutStream: true,
		}),
	}
}

// goroutine runs f on a new goroutine that Close joins. The caller holds
// t.mu (so that Close cannot be waiting yet) or runs on a goroutine Close
// joins (so that the count is above zero).
func (t *Transport) goroutine(f func()) {
	t.wg.Go(f)
}

// Start serves the listener and starts the peers' senders; h receives
// everything that arrives. It is called once.
func (t *Transport) Start(h transport.Handler) error {
	if h == nil {
		return errors.New("grpctransport: Start with a nil handler")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return transport.ErrClosed
	}
	if t.started {
		return errors.New("grpctransport: Start called twice")
	}
	t.started, t.h = true, h
	ctx, cancel := context.WithCancel(context.Background())
	t.repCancel = cancel
	t.repWG.Go(func() { t.rep.run(ctx, h) })
	t.goroutine(func() {
		if err := t.server.Serve(t.cfg.Listener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.log.Error("grpctransport: serving peers stopped; no more messages will arrive", "addr", t.cfg.Listener.Addr(), "err", err)
		}
	})
	for _, p := range t.peers {
		t.startPeer(p)
	}
	t.log.Info("grpctransport: started", "addr", t.cfg.Listener.Addr(), "peers", len(t.peers))
	return nil
}

// Addr returns the address the transport serves on.
func (t *Transport) Addr() string {
	return t.cfg.Listener.Addr().String()
}

// AddPeer makes peer id reachable at addr, a gRPC target such as
// "10.0.0.2:2380". Adding a known peer at a new address replaces its
// connection (what was queued for it is dropped); at the same address it
// does nothing. Adding this node itself is an error.
func (t *Transport) AddPeer(id uint64, addr string) error {
	if id == 0 || id == t.cfg.NodeID {
		return fmt.Errorf("grpctransport: AddPeer(%d, %q): invalid peer ID (this node is %d)", id, addr, t.cfg.NodeID)
	}
	if addr == "" {
		return fmt.Errorf("grpctransport: AddPeer(%d): empty address", id)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return transport.ErrClosed
	}
	old := t.peers[id]
	if old != nil && old.addr == addr {
		return nil
	}
	p, err := t.newPeer(id, addr)
	if err != nil {
		return err
	}
	if old != nil {
		t.stopPeer(old)
	}
	t.peers[id] = p
	if t.started {
		t.startPeer(p)
	}
	t.log.Info("grpctransport: added peer", "peer", id, "addr", addr, "replaced", old != nil)
	return nil
}

// RemovePeer forgets peer id: its streams are cancelled, its queues
// dropped, and a snapshot in flight to it is reported failed. It does not
// wait for the peer's goroutines (Close does).
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil {
		return
	}
	delete(t.peers, id)
	t.stopPeer(p)
	t.log.Info("grpctransport: removed peer", "peer", id)
}

// Send queues msgs for their peers and returns at once; MsgSnap starts a
// snapshot stream. See the package doc for what is dropped. Send before
// Start or after Close drops everything.
func (t *Transport) Send(msgs []*raftpb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed || !t.started {
		t.log.Debug("grpctransport: Send while not running; dropped", "msgs", len(msgs), "closed", t.closed)
		return
	}
	for _, m := range msgs {
		t.sendOne(m)
	}
}

// sendOne queues m. The caller holds t.mu for reading, which keeps the
// peer from being stopped meanwhile.
func (t *Transport) sendOne(m *raftpb.Message) {
	p := t.peers[m.GetTo()]
	if err := checkPeerMessage(m, t.cfg.NodeID, m.GetTo()); err != nil {
		t.log.Error("grpctransport: dropped a message no peer would accept", "peer", m.GetTo(), "type", m.GetType(), "err", err)
		if m.GetType() == raftpb.MsgSnap {
			t.rep.snapshot(m.GetTo(), false)
		}
		return
	}
	if m.GetType() == raftpb.MsgSnap {
		t.sendSnapshot(p, m)
		return
	}
	lane := LaneData
	if transport.IsControl(m) {
		lane = LaneControl
	}
	if p == nil {
		t.log.Debug("grpctransport: dropped a message to an unknown peer", "peer", m.GetTo(), "type", m.GetType(), "term", m.GetTerm())
		t.drop(m.GetTo(), lane, 1)
		return
	}
	size := proto.Size(m)
	if size > t.maxMsgBytes {
		t.log.Error("grpctransport: dropped a message larger than a frame", "peer", p.id, "type", m.GetType(),
			"term", m.GetTerm(), "bytes", size, "max_bytes", t.maxMsgBytes)
		t.drop(p.id, lane, 1)
		return
	}
	l := p.data
	if lane == LaneControl {
		l = p.control
	}
	if !l.enqueue(m, size) {
		t.log.Debug("grpctransport: dropped a message: lane full or down", "peer", p.id, "lane", lane, "type", m.GetType(), "term", m.GetTerm())
		t.drop(p.id, lane, 1)
	}
}

// sendSnapshot hands m to p's snapshot sender, or reports it failed at
// once if p is unknown or already streaming a snapshot.
func (t *Transport) sendSnapshot(p *peer, m *raftpb.Message) {
	if p == nil {
		t.log.Warn("grpctransport: snapshot for an unknown peer; reporting failure", "peer", m.GetTo(), "term", m.GetTerm())
		t.rep.snapshot(m.GetTo(), false)
		t.rep.unreachable(m.GetTo())
		return
	}
	if !p.snapBusy.CompareAndSwap(false, true) {
		t.log.Warn("grpctransport: a snapshot is already streaming to the peer; reporting failure", "peer", p.id, "term", m.GetTerm(),
			"index", m.GetSnapshot().GetMetadata().GetIndex())
		t.rep.snapshot(p.id, false)
		return
	}
	p.snapc <- m // never blocks: see peer.snapc
}

// drop counts msgs dropped for peer and reports it unreachable.
func (t *Transport) drop(peer uint64, lane Lane, msgs int) {
	t.obs.OnDropped(peer, lane, msgs)
	t.rep.unreachable(peer)
}

// Close stops the transport: peers' streams are cancelled, the server is
// stopped, and every goroutine has returned when Close returns. Snapshots
// in flight are reported failed before Close returns. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	for id, p := range t.peers {
		t.stopPeer(p)
		delete(t.peers, id)
	}
	started := t.started
	t.mu.Unlock()

	// Stop closes the listener, cancels inbound streams and waits for the
	// handlers; before Start it leaves the listener to us.
	t.server.Stop()
	var err error
	if !started {
		err = t.cfg.Listener.Close()
	}
	t.wg.Wait()
	if started {
		t.repCancel()
		t.repWG.Wait()
	}
	t.log.Info("grpctransport: closed")
	if err != nil {
		return fmt.Errorf("grpctransport: close listener: %w", err)
	}
	return nil
}

// backoff returns how long to wait before connection attempt number
// attempt+1 (attempt counts failures since the last success, from 0).
func (t *Transport) backoff(attempt int) time.Duration {
	d := t.cfg.BackoffInitial
	for i := 0; i < attempt && d < t.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, t.cfg.BackoffMax)
	t.rndMu.Lock()
	f := 1 + t.cfg.BackoffJitter*(2*t.rnd.Float64()-1)
	t.rndMu.Unlock()
	return time.Duration(float64(d) * f)
}

// handshake returns the handshake that opens a stream of lane to peer.
func (t *Transport) handshake(peer uint64, lane Lane) *Handshake {
	return &Handshake{
		ProtocolVersion: ProtocolVersion,
		ClusterId:       t.cfg.ClusterID,
		From:            t.cfg.NodeID,
		To:              peer,
		Lane:            wireLane(lane),
	}
}

// reporter delivers ReportUnreachable and ReportSnapshot to the Handler on
// its own goroutine, so that Send and the senders never call the Handler
// while holding a lock or blocking a caller.
type reporter struct {
	mu sync.Mutex
	// lost is the set of peers to report unreachable. Bound: one entry per peer.
	lost map[uint64]struct{}
	// snaps are the snapshot outcomes to report, in order. Bound: one per
	// MsgSnap handed to Send and not reported yet; Raft sends one per peer
	// and waits for its outcome.
	snaps []snapReport
	// wake holds one token when there is something to report; a full
	// channel already says so, so a send that finds it full is dropped.
	wake chan struct{}
}

type snapReport struct {
	peer uint64
	ok   bool
}

func newReporter() *reporter {
	return &reporter{lost: map[uint64]struct{}{}, wake: make(chan struct{}, 1)}
}

func (r *reporter) unreachable(peer uint64) {
	r.mu.Lock()
	r.lost[peer] = struct{}{}
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) snapshot(peer uint64, ok bool) {
	r.mu.Lock()
	r.snaps = append(r.snaps, snapReport{peer, ok})
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run delivers reports to h until ctx is done, then delivers what is left.
func (r *reporter) run(ctx context.Context, h transport.Handler) {
	for {
		select {
		case <-r.wake:
			r.flush(h)
		case <-ctx.Done():
			r.flush(h)
			return
		}
	}
}

func (r *reporter) flush(h transport.Handler) {
	r.mu.Lock()
	var ids []uint64
	for id := range r.lost {
		ids = append(ids, id)
	}
	clear(r.lost)
	snaps := r.snaps
	r.snaps = nil
	r.mu.Unlock()
	for _, id := range ids {
		h.ReportUnreachable(id)
	}
	for _, s := range snaps {
		h.ReportSnapshot(s.peer, s.ok)
	}
}

type nopObserver struct{}

func (nopObserver) OnSent(uint64, Lane, int, int)     {}
func (nopObserver) OnReceived(uint64, Lane, int, int) {}
func (nopObserver) OnDropped(uint64, Lane, int)       {}
func (nopObserver) OnRTT(uint64, time.Duration)       {}

// peer is the sending side of one peer: a connection, two lanes and a
// snapshot sender.
type peer struct {
	id     uint64
	addr   string
	conn   *grpc.ClientConn
	client RaftTransportClient

	control, data *lane

	// snapBusy is true from the moment Send accepts a MsgSnap for the peer
	// until its outcome is known.
	snapBusy atomic.Bool
	// snapc hands an accepted MsgSnap to the snapshot sender. Capacity one:
	// Send puts a message only after setting snapBusy, which the sender
	// clears only after taking the message, so the send never blocks.
	snapc chan *raftpb.Message

	// cancel stops the peer's goroutines; nil until started.
	cancel context.CancelFunc
}

func (t *Transport) newPeer(id uint64, addr string) (*peer, error) {
	conn, err := grpc.NewClient(addr, t.dial...)
	if err != nil {
		return nil, fmt.Errorf("grpctransport: peer %d at %q: %w", id, addr, err)
	}
	p := &peer{
		id:     id,
		addr:   addr,
		conn:   conn,
		client: NewRaftTransportClient(conn),
		snapc:  make(chan *raftpb.Message, 1),
	}
	p.control = newLane(t, p, LaneControl, t.cfg.MaxQueuedControlMessages)
	p.data = newLane(t, p, LaneData, t.cfg.MaxQueuedDataMessages)
	return p, nil
}

// startPeer starts p's goroutines. The caller holds t.mu.
func (t *Transport) startPeer(p *peer) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	t.goroutine(func() { p.control.run(ctx) })
	t.goroutine(func() { p.data.run(ctx) })
	t.goroutine(func() { t.runSnapshots(ctx, p) })
}

// stopPeer cancels p's goroutines and closes its connection. The caller
// holds t.mu and has removed p from t.peers, so no Send reaches p after.
func (t *Transport) stopPeer(p *peer) {
	if p.cancel != nil {
		p.cancel()
	}
	if err := p.conn.Close(); err != nil {
		t.log.Debug("grpctransport: closing peer connection", "peer", p.id, "err", err)
	}
}
