package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/storage"
	"github.com/ironraft/ironraft/transport"
	"github.com/ironraft/ironraft/wal"
)

// Member is a member of the cluster and the address its transport reaches
// it at.
type Member struct {
	ID      uint64
	Addr    string
	Learner bool
}

// Node is a member of a Raft cluster running on its own goroutines:
//
//   - the raft loop owns the core: it ticks, steps inbound messages, takes
//     proposals and requests, and hands each Ready to the persist loop
//     after sending its MessagesBeforePersist (so a leader's appends leave
//     while its own fsync runs; the core counts the leader's own log only
//     when that fsync is done and the Ready advanced);
//   - the persist loop writes each Ready to storage (one at a time), then
//     sends its MessagesAfterPersist;
//   - the apply loop applies committed batches to the StateMachine,
//     completes proposals and read fences, and starts snapshots;
//   - the snapshot loop writes state-machine snapshots to storage and
//     compacts the log;
//   - the supervisor waits for a stop (Stop, a fatal error, or the node's
//     removal), joins the others, closes the transport and the storage,
//     and fails whatever still waits.
//
// Every goroutine is started by Node, stopped through its stop channel and
// joined before Stop returns. All methods are safe for concurrent use.
type Node struct {
	cfg   Config
	id    uint64
	log   *slog.Logger
	store *storage.Storage
	tr    transport.Transport
	rn    *raft.RawNode // owned by the raft loop
	ap    *applier      // owned by the apply loop
	book  *addressBook
	m     *metrics

	// Proposals wait in propQ, bounded by MaxPendingProposals and
	// MaxPendingBytes (waits.add refuses beyond them), and propSig (size
	// one) wakes the raft loop, which takes them all at once: the
	// proposals that arrive while a Ready is being persisted go into the
	// next Ready together, one fsync for all.
	propMu  sync.Mutex
	propQ   []*proposal
	propSig chan struct{}
	// reqc is unbuffered (callers wait in select with their context);
	// recvc holds batches of messages, counted against MaxInboxMessages by
	// inboxLen (Receive drops beyond it).
	reqc     chan request
	recvc    chan []*raftpb.Message
	inboxLen atomic.Int64
	// reports of unreachable peers and snapshot outcomes, queued without
	// bound by peer (one unreachable flag per peer, one entry per snapshot
	// report, at most one snapshot in flight per peer) and signalled by
	// reportc (size one).
	reportMu sync.Mutex
	reports  []report
	reportc  chan struct{}

	// Between the loops, each of size one: the persist loop takes one Ready
	// at a time; persistDone returns it; applyc holds up to
	// ApplyQueueBatches batches; snapc one snapshot job.
	persistc    chan raft.Ready
	persistDone chan raft.Ready
	applyc      chan applyBatch
	snapc       chan snapshotJob

	waits *waits
	// rs is the raft loop's own state; only the raft loop (and requests
	// it runs) touch it.
	rs *raftState
	// snapJitter is added to SnapshotEntries for the next snapshot; the
	// apply loop owns it.
	snapJitter uint64
	// removed is set by the apply loop once this member applied its own
	// removal; the raft loop then stops the node after a grace period.
	removed atomic.Bool
	// drops are the peers removed from the configuration that are still in
	// the transport, each with the raft loop's tick count when it saw the
	// removal (-1: not seen yet). The raft loop removes them from the
	// transport after a grace period, so that what the leader sends them
	// after applying their removal (the farewell append that tells them
	// of it, raft's sendFarewell) is not dropped with their send queue.
	// One entry per removed peer; addPeer cancels the drop.
	dropMu sync.Mutex
	drops  map[uint64]int64

	nextPID  atomic.Uint64
	leader   atomic.Uint64
	term     atomic.Uint64
	leaderMu sync.Mutex
	// leaderCh is closed (and replaced) whenever the known leader changes.
	leaderCh chan struct{}

	stopOnce sync.Once
	stopc    chan struct{}
	done     chan struct{}
	errMu    sync.Mutex
	err      error
	wg       sync.WaitGroup
}

type report struct {
	peer         uint64
	snapshot, ok bool
}

// Bootstrap creates a new cluster whose initial voters are members (this
// node among them), with an empty data directory, and starts this member
// of it. Every initial member calls Bootstrap with the same members.
func Bootstrap(cfg Config, members []Member) (*Node, error) {
	voters := make([]uint64, 0, len(members))
	self := false
	for _, m := range members {
		if m.ID == 0 || m.Learner {
			return nil, fmt.Errorf("node: bootstrap member %+v: initial members are voters with non-zero IDs", m)
		}
		voters = append(voters, m.ID)
		self = self || m.ID == cfg.ID
	}
	if !self {
		return nil, fmt.Errorf("node: bootstrap members %v do not include this node %d", voters, cfg.ID)
	}
	return start(cfg, modeBootstrap, members, &raftpb.ConfState{Voters: voters})
}

// Join starts a member that is being added to an existing cluster (with
// AddVoter or AddLearner on a current member), with an empty data
// directory. members are current members' addresses; the leader contacts
// the new member and sends it the log or a snapshot.
func Join(cfg Config, members []Member) (*Node, error) {
	return start(cfg, modeJoin, members, nil)
}

// Restart starts a member from its data directory, which must hold the
// state of this node ID and cluster ID. members, if given, update the
// addresses of the members they name.
func Restart(cfg Config, members ...Member) (*Node, error) {
	return start(cfg, modeRestart, members, nil)
}

type startMode int

const (
	modeBootstrap startMode = iota
	modeJoin
	modeRestart
)

func start(cfg Config, mode startMode, members []Member, initial *raftpb.ConfState) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("node", cfg.ID)
	if err := cfg.FS.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("node: create the data directory: %w", err)
	}
	st, err := storage.Open(cfg.FS, cfg.FS.Join(cfg.DataDir, "raft"),
		wal.Meta{ClusterID: cfg.ClusterID, NodeID: cfg.ID},
		storage.Options{SegmentBytes: cfg.SegmentBytes, CacheBytes: cfg.CacheBytes,
			SnapshotsKept: cfg.SnapshotsKept, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("node: open the data directory %s: %w", cfg.DataDir, err)
	}
	n, err := newNode(cfg, log, st, mode, members, initial)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return n, nil
}

// isEmpty says whether st holds no Raft state at all.
func isEmpty(st *storage.Storage) (bool, error) {
	hs, cs, err := st.InitialState()
	if err != nil {
		return false, err
	}
	last, err := st.LastIndex()
	if err != nil {
		return false, err
	}
	return hs.GetTerm() == 0 && hs.GetVote() == 0 && hs.GetCommit() == 0 && last == 0 &&
		len(cs.GetVoters()) == 0 && len(cs.GetLearners()) == 0, nil
}

func newNode(cfg Config, log *slog.Logger, st *storage.Storage, mode startMode, members []Member, initial *raftpb.ConfState) (*Node, error) {
	empty, err := isEmpty(st)
	if err != nil {
		return nil, err
	}
	switch {
	case mode == modeRestart && empty:
		return nil, fmt.Errorf("%w: %s: use Bootstrap for a new cluster or Join to join one", ErrNoState, cfg.DataDir)
	case mode != modeRestart && !empty:
		return nil, fmt.Errorf("%w: %s: use Restart", ErrHasState, cfg.DataDir)
	}
	book := newAddressBook(cfg.FS, cfg.DataDir)
	if err := book.load(); err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.Addr != "" {
			if err := book.set(m.ID, m.Addr, nil); err != nil {
				return nil, err
			}
		}
	}
	n := &Node{
		cfg: cfg, id: cfg.ID, log: log, store: st, tr: cfg.Transport, book: book,
		propSig:     make(chan struct{}, 1),
		reqc:        make(chan request),
		recvc:       make(chan []*raftpb.Message, 1024),
		reportc:     make(chan struct{}, 1),
		persistc:    make(chan raft.Ready, 1),
		persistDone: make(chan raft.Ready, 1),
		applyc:      make(chan applyBatch, cfg.ApplyQueueBatches),
		snapc:       make(chan snapshotJob, 1),
		waits:       newWaits(),
		drops:       map[uint64]int64{},
		leaderCh:    make(chan struct{}),
		stopc:       make(chan struct{}),
		done:        make(chan struct{}),
	}
	n.nextPID.Store(rand.Uint64() >> 1)
	n.snapJitter = snapshotJitter(cfg.SnapshotEntries)
	m, err := newMetrics(cfg.Registerer, n)
	if err != nil {
		return nil, err
	}
	n.m = m
	// What can fail for reasons of the caller's (metrics already
	// registered, a bad peer address) fails before Bootstrap writes the
	// initial configuration, so a corrected call can bootstrap again.
	for id, addr := range book.snapshot() {
		if id != n.id {
			if err := n.tr.AddPeer(id, addr); err != nil {
				return nil, errors.Join(fmt.Errorf("node: peer %d at %q: %w", id, addr, err), m.unregister())
			}
		}
	}
	if mode == modeBootstrap {
		if err := st.Bootstrap(initial); err != nil {
			return nil, errors.Join(fmt.Errorf("node: bootstrap: %w", err), m.unregister())
		}
	}
	n.ap = &applier{id: cfg.ID, sm: cfg.StateMachine, book: book, results: n.waits, peers: n, log: log}
	sn, err := st.Snapshot()
	if err != nil {
		return nil, errors.Join(err, m.unregister())
	}
	if err := n.ap.restore(sn); err != nil {
		return nil, errors.Join(err, m.unregister())
	}
	applied := sn.GetMetadata().GetIndex()
	n.waits.setApplied(applied)
	if n.rn, err = raft.NewRawNode(cfg.raftConfig(st, applied)); err != nil {
		return nil, errors.Join(err, m.unregister())
	}
	if err := n.tr.Start(handler{n}); err != nil {
		return nil, errors.Join(fmt.Errorf("node: start the transport: %w", err), m.unregister())
	}
	hs, _, _ := st.InitialState()
	n.term.Store(hs.GetTerm())
	log.Info("node started", "mode", []string{"bootstrap", "join", "restart"}[mode],
		"term", hs.GetTerm(), "commit", hs.GetCommit(), "applied", applied, "members", len(book.snapshot()))
	n.goRun(n.raftLoop)
	n.goRun(n.persistLoop)
	n.goRun(n.applyLoop)
	n.goRun(n.snapshotLoop)
	go n.supervise()
	return n, nil
}

// goRun starts one of the node's loops, joined by the supervisor.
func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// fail stops the node because of err (nil: a requested stop).
func (n *Node) fail(err error) {
	n.stopOnce.Do(func() {
		if err != nil {
			n.errMu.Lock()
			n.err = err
			n.errMu.Unlock()
			if errors.Is(err, ErrRemoved) {
				n.log.Warn("node stopping: removed from the cluster")
			} else {
				n.log.Error("node stopping after a fatal error", "err", err)
			}
		}
		close(n.stopc)
	})
}

// supervise waits for the stop, joins the loops and releases everything.
func (n *Node) supervise() {
	<-n.stopc
	// The transport first, so nothing more comes in; then the loops.
	if err := n.tr.Close(); err != nil {
		n.log.Warn("closing the transport", "err", err)
	}
	n.wg.Wait()
	// A snapshot job the snapshot loop did not take is abandoned.
	select {
	case j := <-n.snapc:
		j.view.Release()
	default:
	}
	if err := n.store.Close(); err != nil {
		n.log.Warn("closing the storage", "err", err)
	}
	n.waits.failAll(ErrStopped)
	if err := n.m.unregister(); err != nil {
		n.log.Warn("unregistering metrics", "err", err)
	}
	n.log.Info("node stopped")
	close(n.done)
}

// Stop stops the node and waits until every goroutine it started has
// returned and its storage is closed. Proposals still waiting fail with
// ErrStopped (and ErrOutcomeUnknown if they were proposed). Stop is
// idempotent; it returns the error that stopped the node, if any.
func (n *Node) Stop() error {
	n.fail(nil)
	<-n.done
	err := n.Err()
	if errors.Is(err, ErrRemoved) {
		return nil
	}
	return err
}

// Done is closed when the node has stopped (Stop, a fatal error, or its
// removal from the cluster).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns the error that stopped the node: nil while it runs or if Stop
// stopped it, ErrRemoved if it was removed, or the fatal error.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// ID returns this member's ID.
func (n *Node) ID() uint64 { return n.id }

// Leader returns the leader this node knows (0: none) and its term.
func (n *Node) Leader() (id, term uint64) { return n.leader.Load(), n.term.Load() }

// leaderChanged returns a channel closed at the next leader change.
func (n *Node) leaderChanged() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderCh
}

func (n *Node) setLeader(lead uint64) {
	if n.leader.Swap(lead) == lead {
		return
	}
	n.leaderMu.Lock()
	close(n.leaderCh)
	n.leaderCh = make(chan struct{})
	n.leaderMu.Unlock()
}

// addPeer and removePeer keep the transport's peers in step with the
// address book (peerSink); a removed peer leaves the transport only after
// a grace period (dropRemovedPeers).
func (n *Node) addPeer(id uint64, addr string) {
	if id == n.id {
		return
	}
	n.dropMu.Lock()
	delete(n.drops, id)
	n.dropMu.Unlock()
	if err := n.tr.AddPeer(id, addr); err != nil {
		n.log.Warn("cannot add peer to the transport", "peer", id, "addr", addr, "err", err)
	}
}

func (n *Node) removePeer(id uint64) {
	if id == n.id {
		return
	}
	n.dropMu.Lock()
	if _, ok := n.drops[id]; !ok {
		n.drops[id] = -1
	}
	n.dropMu.Unlock()
}

// dropRemovedPeers removes from the transport the removed peers whose
// grace period (two election timeouts, as for this member's own removal)
// is over. The raft loop calls it on every tick.
func (n *Node) dropRemovedPeers(ticks int64) {
	n.dropMu.Lock()
	defer n.dropMu.Unlock()
	for id, at := range n.drops {
		switch {
		case at < 0:
			n.drops[id] = ticks
		case ticks-at > int64(2*n.cfg.ElectionTicks):
			delete(n.drops, id)
			n.tr.RemovePeer(id)
		}
	}
}

// handler is the node's transport.Handler.
type handler struct{ n *Node }

var errInboxFull = errors.New("node: inbox full, messages dropped")

func (h handler) Receive(ctx context.Context, msgs []*raftpb.Message) error {
	n := h.n
	if n.inboxLen.Add(int64(len(msgs))) > int64(n.cfg.MaxInboxMessages) {
		n.inboxLen.Add(-int64(len(msgs)))
		n.m.inboxDropped.Add(float64(len(msgs)))
		return errInboxFull
	}
	select {
	case n.recvc <- msgs:
		return nil
	case <-n.stopc:
		n.inboxLen.Add(-int64(len(msgs)))
		return ErrStopped
	default:
		n.inboxLen.Add(-int64(len(msgs)))
		n.m.inboxDropped.Add(float64(len(msgs)))
		return errInboxFull
	}
}

func (h handler) ReportUnreachable(id uint64) { h.n.addReport(report{peer: id}) }

func (h handler) ReportSnapshot(id uint64, ok bool) {
	h.n.addReport(report{peer: id, snapshot: true, ok: ok})
}

func (n *Node) addReport(r report) {
	n.reportMu.Lock()
	if !r.snapshot {
		for _, q := range n.reports {
			if q == r {
				n.reportMu.Unlock()
				return
			}
		}
	}
	n.reports = append(n.reports, r)
	n.reportMu.Unlock()
	select {
	case n.reportc <- struct{}{}:
	default:
	}
}

func (n *Node) takeReports() []report {
	n.reportMu.Lock()
	defer n.reportMu.Unlock()
	r := n.reports
	n.reports = nil
	return r
}
