package sim

import (
	"math/rand/v2"

	"github.com/ironraft/ironraft/internal/check"
	ironnode "github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/storage"
)

// node is one simulated server: a durable store that survives crashes
// (durable.go), and (while up) the runtime's Replica (with its RawNode and
// the KV state machine), an inbox and pending reads, which do not.
type node struct {
	id      uint64
	durable store

	up bool
	// inc counts incarnations; events for an older one are ignored.
	inc uint64
	r   *ironnode.Replica
	// rn is r.RawNode(), for what the Replica does not wrap (Tick, Step,
	// ReadIndex, TransferLeader, ReportSnapshot, Status, ConfState).
	rn *raft.RawNode
	// phase is the step of the Ready loop that is running, so that the
	// Replica's Send knows what the messages it gets may promise.
	phase readyPhase
	// outbox holds the MessagesBeforePersist the Replica handed over in
	// Replica.Ready, until beginReady has checked them against the Ready.
	outbox []*raftpb.Message
	// busy says a Ready is being persisted (rd); messages wait in inbox.
	busy  bool
	rd    raft.Ready
	inbox []*raftpb.Message
	// proposals maps the proposal IDs of this incarnation's pending
	// proposals to what each proposed: the op key of a put, 0 for a
	// configuration change.
	proposals map[uint64]uint64
	// removedLeaderSince is when this node, leading, was first seen with a
	// configuration without itself as a voter (-1: not so).
	removedLeaderSince int64

	// role, lead and term follow the node's Ready SoftState and HardState.
	role raft.StateType
	lead uint64
	term uint64
	// ledTerm is the term in which the node was last seen becoming leader.
	ledTerm uint64
	// ledBefore says the node already led in its term before the current
	// Ready.
	ledBefore bool
	// holdUntil: until this tick the network loses the node's MsgApps that
	// carry entries of its term holdTerm (the hold-new-term fault).
	holdTerm  uint64
	holdUntil int64
	// crashOnPersist: the node, a new leader, crashes as soon as it has
	// persisted entries of its term (the tail-crash fault).
	crashOnPersist bool
	crashDown      int
	// lostInc is an incarnation of the node whose messages still in flight
	// are lost (it crashed with loseSent).
	lostInc uint64

	applied uint64
	// coreApplied is the applied index as of the last Advance: the core's
	// own applied index, which rules like one-pending-change depend on.
	coreApplied uint64
	kv          *kvState
	// reads are the client reads issued on this node, oldest first.
	reads []*op

	// started says the node has run (initial voters start at once; a
	// node of the pool starts when it is added to the cluster).
	started bool
	// removed says the node left the configuration and was stopped for
	// good; removedAt is when the simulator first saw it leave the
	// committed configuration (0: never).
	removed   bool
	removedAt int64
	// removedIndex is the index of the configuration change that removed
	// it.
	removedIndex uint64
	// cfg is the configuration replayed from the snapshot the node started
	// from or installed and the configuration changes it applied since;
	// RawNode.ConfState must equal it after every Advance.
	cfg check.Config
}

// newNode returns node id with empty durable storage; an initial voter's
// storage holds the bootstrap configuration.
func (s *Sim) newNode(id uint64, voters []uint64) *node {
	n := &node{id: id, removedLeaderSince: -1}
	if s.p.backend != BackendStorage {
		ms := raft.NewMemoryStorage()
		if len(voters) > 0 {
			ms.SetConfState(&raftpb.ConfState{Voters: voters})
		}
		n.durable = memStore{ms}
		return n
	}
	d, err := newDiskStore(id, storage.Options{SegmentBytes: s.p.segBytes, SnapshotsKept: s.p.snapsKept})
	if err == nil && len(voters) > 0 {
		err = d.Bootstrap(&raftpb.ConfState{Voters: voters})
	}
	if err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d: create its storage: %v", id, err))
	}
	n.durable = d
	return n
}

// persistErr reports a write to n's durable store that failed: storage
// errors are fatal for the node, and none happens without injected faults.
func (s *Sim) persistErr(n *node, what string, err error) {
	if err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d: %s: %v", n.id, what, err))
	}
}

// start creates the node's Replica (and so its RawNode) on its durable
// storage, with fresh random sources drawn from the simulation's: ReadIndex
// request IDs and proposal IDs come from them, so a restarted node must not
// reuse the old ones, and a global source would make replays differ.
func (s *Sim) start(n *node) {
	cfg := raft.Config{
		ID:                        n.id,
		ElectionTick:              electionTicks,
		HeartbeatTick:             heartbeatTicks,
		MaxSizePerMsg:             s.p.maxMsgSize,
		MaxInflightMsgs:           s.p.maxInflight,
		Rand:                      rand.NewPCG(s.rng.Uint64(), s.rng.Uint64()),
		TestingBugs:               s.opts.Bugs,
		DisableProposalForwarding: s.p.forwardOff,
	}
	if s.p.lease {
		cfg.ReadOnlyOption = raft.ReadOnlyLeaseBased
	}
	// NewReplica restores the state machine from the durable snapshot and
	// starts the core with Applied at its index: the core hands out the
	// committed entries after it again (the log may start below it,
	// compaction keeps a tail).
	n.kv = newKVState(s.putApplied)
	n.phase, n.outbox = phaseIdle, nil
	r, err := ironnode.NewReplica(ironnode.ReplicaConfig{
		Raft:         cfg,
		Store:        n.durable,
		StateMachine: n.kv,
		Send:         func(msgs []*raftpb.Message) { s.sendFrom(n, msgs) },
		OnResult:     func(pid, index uint64, value any) { s.proposalDone(n, pid, index, value) },
		PIDSource:    rand.NewPCG(s.rng.Uint64(), s.rng.Uint64()),
	})
	if err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d cannot start from its durable state: %v", n.id, err))
		return
	}
	hs, cs, _ := n.durable.InitialState()
	n.up, n.r, n.rn, n.busy, n.inbox = true, r, r.RawNode(), false, nil
	n.started = true
	n.inc++
	n.role, n.lead, n.term, n.ledTerm = raft.StateFollower, 0, hs.GetTerm(), 0
	n.holdTerm, n.holdUntil, n.crashOnPersist = 0, 0, false
	n.applied = r.Applied()
	n.coreApplied = n.applied
	n.cfg = check.ConfigOf(cs)
	n.reads = nil
	n.proposals = map[uint64]uint64{}
	s.checkConf(n, "at start")
}

// crash stops n: everything but its durable storage is lost, including a
// Ready being persisted and the messages that were to follow it.
func (s *Sim) crash(n *node, kind faultKind) { s.crashFor(n, kind, 0, false) }

// crashFor crashes n for down ticks (0: a downtime drawn from the
// profile's range); with loseSent, the messages it sent that are still in
// flight are lost too.
func (s *Sim) crashFor(n *node, kind faultKind, down int, loseSent bool) {
	if !n.up {
		return
	}
	if loseSent {
		n.lostInc = n.inc
	}
	s.stats.Faults[kind]++
	if kind != fRemoved {
		s.stats.Crashes++
	}
	inFsync := uint64(0)
	if n.busy && kind != fRemoved {
		inFsync = 1
		s.stats.CrashesInFsync++
	}
	s.tr.add(trRec{at: s.now, kind: trCrash, a: n.id, b: inFsync})
	n.up, n.r, n.rn, n.busy, n.inbox = false, nil, nil, false, nil
	n.phase, n.outbox, n.proposals = phaseIdle, nil, nil
	if d, ok := n.durable.(*diskStore); ok {
		// Only what was synced survives; recover the storage from it now,
		// so that the checks below judge what the disk really holds.
		s.stats.StorageOpens++
		if err := d.crash(); err != nil {
			s.fail(check.Failf(check.PersistenceName, "node %d cannot recover its storage after a crash at t=%d: %v", n.id, s.now, err))
			return
		}
	}
	n.rd = raft.Ready{}
	n.inc++
	n.role, n.lead = raft.StateFollower, 0
	for _, o := range n.reads {
		s.finish(o, opUnknown, "")
	}
	n.reads = nil
	s.appendOnly.Forget(n.id)
	s.ledger.Restarted(n.id)
	// A crash is when lost persistence would show: check durability now.
	s.checkDurable()
	if n.removed {
		return // stopped for good
	}
	if s.healed {
		s.restart(n)
		return
	}
	if down <= 0 {
		down = s.p.downMin + s.rng.IntN(s.p.downMax-s.p.downMin+1)
	}
	s.schedule(event{at: s.now + int64(down), kind: evRestart, node: n.id, inc: n.inc})
}

func (s *Sim) restart(n *node) {
	if n.removed || n.up {
		return
	}
	s.stats.Restarts++
	s.start(n)
	hs, _, _ := n.durable.InitialState()
	last, _ := n.durable.LastIndex()
	s.tr.add(trRec{at: s.now, kind: trRestart, a: n.id,
		s: sprintf(" durable term=%d vote=%d commit=%d last=%d", hs.GetTerm(), hs.GetVote(), hs.GetCommit(), last)})
	s.process(n)
}

// step feeds m to n's core, unless the hold-new-term fault loses it.
func (s *Sim) step(n *node, m *raftpb.Message) {
	if s.heldBack(n, m) {
		s.stats.Dropped++
		s.tr.add(trRec{at: s.now, kind: trDrop, msg: m, c: dropHeld})
		return
	}
	// Errors are refusals of stale or unexpected messages; the core
	// changes nothing for them.
	_ = n.rn.Step(m)
}
