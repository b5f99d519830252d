package sim

import (
	"math/rand/v2"

	"github.com/ironraft/ironraft/internal/check"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/storage"
)

// node is one simulated server: a durable store that survives crashes
// (durable.go), and (while up) a RawNode, an inbox and a KV state machine
// that do not.
type node struct {
	id      uint64
	durable store

	up bool
	// inc counts incarnations; events for an older one are ignored.
	inc uint64
	rn  *raft.RawNode
	// busy says a Ready is being persisted (rd); messages wait in inbox.
	busy  bool
	rd    raft.Ready
	inbox []*raftpb.Message
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
	kv          kvState
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

// start creates the node's RawNode from its durable storage, with a fresh
// random source drawn from the simulation's (ReadIndex request IDs come
// from it, so a restarted node must not reuse the old one).
func (s *Sim) start(n *node) {
	// The state machine is rebuilt from the durable snapshot: the core
	// hands out the committed entries after it (the log may start below
	// it, compaction keeps a tail).
	snap, _ := n.durable.Snapshot()
	cfg := &raft.Config{
		ID:                        n.id,
		ElectionTick:              electionTicks,
		HeartbeatTick:             heartbeatTicks,
		Storage:                   n.durable,
		Applied:                   snap.GetMetadata().GetIndex(),
		MaxSizePerMsg:             s.p.maxMsgSize,
		MaxInflightMsgs:           s.p.maxInflight,
		Rand:                      rand.NewPCG(s.rng.Uint64(), s.rng.Uint64()),
		TestingBugs:               s.opts.Bugs,
		DisableProposalForwarding: s.p.forwardOff,
	}
	if s.p.lease {
		cfg.ReadOnlyOption = raft.ReadOnlyLeaseBased
	}
	rn, err := raft.NewRawNode(cfg)
	if err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d cannot start from its durable state: %v", n.id, err))
		return
	}
	hs, cs, _ := n.durable.InitialState()
	n.up, n.rn, n.busy, n.inbox = true, rn, false, nil
	n.started = true
	n.inc++
	n.role, n.lead, n.term, n.ledTerm = raft.StateFollower, 0, hs.GetTerm(), 0
	n.holdTerm, n.holdUntil, n.crashOnPersist = 0, 0, false
	n.applied = snap.GetMetadata().GetIndex()
	n.coreApplied = n.applied
	kv, err := decodeKV(snap.GetData())
	if err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d: durable snapshot at %d: %v", n.id, n.applied, err))
	}
	n.kv = kv
	n.cfg = check.ConfigOf(cs)
	n.reads = nil
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
	n.up, n.rn, n.busy, n.inbox = false, nil, false, nil
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

// step feeds m to n's RawNode, unless the hold-new-term fault loses it.
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

// process handles n's Readys until it has none or one is being persisted.
func (s *Sim) process(n *node) {
	for s.err == nil && n.up && !n.busy && n.rn.HasReady() {
		rd := n.rn.Ready()
		s.beginReady(n, rd)
		if rd.MustSync {
			n.busy, n.rd = true, rd
			s.schedule(event{at: s.now + int64(s.rng.IntN(s.p.fsyncMax+1)), kind: evFsync, node: n.id, inc: n.inc})
			return
		}
		s.finishReady(n, rd)
	}
}

// fsyncDone completes n's in-flight Ready, then steps the messages that
// arrived meanwhile.
func (s *Sim) fsyncDone(n *node) {
	rd := n.rd
	n.busy, n.rd = false, raft.Ready{}
	s.finishReady(n, rd)
	for len(n.inbox) > 0 && n.up && !n.busy && s.err == nil {
		inbox := n.inbox
		n.inbox = nil
		for _, m := range inbox {
			s.step(n, m)
		}
		s.process(n)
	}
}

// beginReady is steps 0 and 1 of the Ready contract: observe the new soft
// and hard state (and check the leader invariants), then send
// MessagesBeforePersist.
func (s *Sim) beginReady(n *node, rd raft.Ready) {
	if rd.HardState != nil {
		n.term = rd.HardState.GetTerm()
	}
	if ss := rd.SoftState; ss != nil {
		if ss.RaftState != n.role || ss.Lead != n.lead {
			s.tr.add(trRec{at: s.now, kind: trRole, a: n.id, b: n.term, c: uint64(ss.RaftState), d: ss.Lead})
		}
		n.role, n.lead = ss.RaftState, ss.Lead
	}
	stableLast, _ := n.durable.LastIndex()
	n.ledBefore = n.role == raft.StateLeader && n.ledTerm == n.term
	if n.role == raft.StateLeader && n.ledTerm != n.term {
		n.ledTerm = n.term
		s.fail(s.elect.Leader(n.id, n.term))
		s.fail(s.ledger.LeaderElected(n.id, n.term, overlay{base: n.durable, ents: rd.Entries}))
		s.newLeaderFaults(n)
	}
	s.fail(s.appendOnly.OnReady(n.id, n.term, n.role == raft.StateLeader, stableLast, rd.Entries))
	if n.role == raft.StateLeader && len(rd.Entries) > 0 && !s.opts.SkipMembershipRules {
		s.fail(check.CheckOnePendingChange(n.id, n.term, n.coreApplied, rd.Entries, overlay{base: n.durable, ents: rd.Entries}))
	}
	if rd.Snapshot != nil {
		s.checkSnapshotInstall(n, rd.Snapshot)
	}
	s.checkMustSync(n, rd)
	for _, m := range rd.MessagesBeforePersist {
		s.checkOutgoing(n, m, rd.Entries)
		s.send(m)
	}
}

// finishReady is steps 2 to 4: persist, send MessagesAfterPersist, apply,
// serve reads, Advance.
func (s *Sim) finishReady(n *node, rd raft.Ready) {
	if s.tornPersist(n, rd) {
		return
	}
	prevHS, _, _ := n.durable.InitialState()
	s.persistErr(n, "persist Ready", n.durable.save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync))
	if n.crashOnPersist && len(rd.Entries) > 0 && n.role == raft.StateLeader && !s.healed {
		n.crashOnPersist = false
		s.schedule(event{at: s.now, kind: evCrash, node: n.id, inc: n.inc, fault: fTailCrash, loseSent: true,
			down: n.crashDown})
	}
	oldCommit := prevHS.GetCommit()
	if hs := rd.HardState; hs != nil {
		old := prevHS
		if n.role == raft.StateLeader && hs.GetCommit() > old.GetCommit() && !s.healed &&
			s.p.crashOnCommit > 0 && s.rng.Float64() < s.p.crashOnCommit {
			s.schedule(event{at: s.now + int64(s.rng.IntN(3)), kind: evCrash, node: n.id, inc: n.inc, fault: fCommitCrash})
		}
	}
	if len(rd.Entries) > 0 || rd.MustSync {
		var lo, hi uint64
		if k := len(rd.Entries); k > 0 {
			lo, hi = rd.Entries[0].Index, rd.Entries[k-1].Index
		}
		hs, _, _ := n.durable.InitialState()
		s.tr.add(trRec{at: s.now, kind: trPersist, a: n.id, c: lo, d: hi,
			s: sprintf(" hs=(term=%d vote=%d commit=%d)", hs.GetTerm(), hs.GetVote(), hs.GetCommit())})
	}
	if hs := rd.HardState; hs != nil && hs.GetCommit() > 0 {
		if n.role == raft.StateLeader && n.ledBefore {
			if t, _ := n.durable.Term(hs.GetCommit()); t != hs.GetTerm() && hs.GetCommit() > oldCommit {
				s.stats.OldTermCommits++
				if !s.healed && s.p.crashOnOldCommit > 0 && s.rng.Float64() < s.p.crashOnOldCommit {
					// Right after the entries are applied below (a client
					// may see its put acknowledged), before any entry of
					// the leader's term spreads.
					s.note("n%d, leader in term %d, committed entry %d of term %d: crash it", n.id, n.term, hs.GetCommit(), t)
					s.schedule(event{at: s.now, kind: evCrash, node: n.id, inc: n.inc, fault: fOldCommitCrash, loseSent: true})
					s.fig8OldCommit(n)
				}
			}
			if !s.opts.SkipCommitRule {
				s.stats.ContractChecks++
				s.fail(check.CheckLeaderCommit(n.id, n.term, oldCommit, hs.GetCommit(), n.durable))
			}
		}
		s.fail(s.ledger.Committed(n.id, hs.GetTerm(), hs.GetCommit(), n.durable))
	}
	for _, m := range rd.MessagesAfterPersist {
		s.checkOutgoing(n, m, nil)
		s.send(m)
	}
	if rd.Snapshot != nil {
		s.installSnapshot(n, rd.Snapshot)
	}
	s.apply(n, rd.CommittedEntries)
	for _, rs := range rd.ReadStates {
		s.readState(n, rs)
	}
	s.serveReads(n)
	n.rn.Advance()
	n.coreApplied = n.applied
	s.afterAdvance(n, len(rd.CommittedEntries) > 0 || rd.Snapshot != nil)
}

// apply applies committed entries to n's state machine.
func (s *Sim) apply(n *node, ents []*raftpb.Entry) {
	if len(ents) == 0 {
		return
	}
	for _, e := range ents {
		if t, err := n.durable.Term(e.Index); !s.opts.SkipReadyContract && (err != nil || t != e.Term) {
			s.fail(check.Failf(check.ReadyContractName, "node %d applies entry %d (term %d) that is not in its durable log (durable term %d, %v)",
				n.id, e.Index, e.Term, t, err))
		}
		s.fail(s.ledger.Applied(n.id, n.term, e))
		if e.Index != n.applied+1 {
			s.fail(check.Failf(check.StateMachineSafetyName, "node %d applies entry %d after %d", n.id, e.Index, n.applied))
		}
		n.applied = e.Index
		if e.Type == raftpb.EntryConfChange {
			s.applyConfChange(n, e)
			continue
		}
		if e.Type != raftpb.EntryNormal {
			continue
		}
		if cmd, ok := check.DecodeKVCommand(e.Data); ok && n.kv.apply(cmd) {
			s.putApplied(cmd)
		}
	}
	s.tr.add(trRec{at: s.now, kind: trApply, a: n.id, c: ents[0].Index, d: ents[len(ents)-1].Index})
}

// checkMustSync checks that a Ready that changes the durable term, vote or
// log asks for an fsync.
func (s *Sim) checkMustSync(n *node, rd raft.Ready) {
	if s.opts.SkipReadyContract || rd.MustSync {
		return
	}
	s.stats.ContractChecks++
	hs, _, _ := n.durable.InitialState()
	changed := len(rd.Entries) > 0 || rd.Snapshot != nil ||
		(rd.HardState != nil && (rd.HardState.Term != hs.GetTerm() || rd.HardState.Vote != hs.GetVote()))
	if changed {
		s.fail(check.Failf(check.ReadyContractName, "node %d: Ready changes term, vote or log but MustSync is false", n.id))
	}
}

// checkOutgoing checks that m, about to leave n, promises nothing that is
// not durable yet. pending are the entries of the Ready still being
// persisted (nil once it is).
func (s *Sim) checkOutgoing(n *node, m *raftpb.Message, pending []*raftpb.Entry) {
	if s.opts.SkipReadyContract {
		return
	}
	s.stats.ContractChecks++
	hs, _, _ := n.durable.InitialState()
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap, raftpb.MsgTimeoutNow:
		// The leader's messages: it persisted its term (and its vote for
		// itself) before it could win. Other messages may carry a term not
		// yet persisted: a term alone promises nothing.
		if m.Term > hs.GetTerm() {
			s.fail(check.Failf(check.ReadyContractName, "node %d sends %s with term %d before persisting that term (durable term %d)",
				n.id, m.Type, m.Term, hs.GetTerm()))
		}
	case raftpb.MsgVote:
		// A later durable term also keeps the promise: the node never acts
		// in m.Term again.
		if hs.GetTerm() < m.Term || (hs.GetTerm() == m.Term && hs.GetVote() != n.id) {
			s.fail(check.Failf(check.ReadyContractName, "node %d asks for votes in term %d before persisting its own vote (durable term %d vote %d)",
				n.id, m.Term, hs.GetTerm(), hs.GetVote()))
		}
	case raftpb.MsgVoteResp:
		if !m.Reject && (hs.GetTerm() < m.Term || (hs.GetTerm() == m.Term && hs.GetVote() != m.To)) {
			s.fail(check.Failf(check.ReadyContractName, "node %d grants its vote to %d in term %d before persisting it (durable term %d vote %d)",
				n.id, m.To, m.Term, hs.GetTerm(), hs.GetVote()))
		}
	case raftpb.MsgAppResp:
		if m.Reject || m.MatchIndex == 0 {
			return
		}
		last, _ := n.durable.LastIndex()
		if len(pending) > 0 && pending[0].Index <= m.MatchIndex {
			s.fail(check.Failf(check.ReadyContractName,
				"node %d acknowledges index %d to %d (term %d) while entries [%d..%d] of its Ready are not persisted yet",
				n.id, m.MatchIndex, m.To, m.Term, pending[0].Index, pending[len(pending)-1].Index))
		} else if last < m.MatchIndex {
			s.fail(check.Failf(check.ReadyContractName, "node %d acknowledges index %d to %d but its durable log ends at %d",
				n.id, m.MatchIndex, m.To, last))
		}
	}
}
