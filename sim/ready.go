package sim

import (
	"bytes"

	"github.com/ironraft/ironraft/internal/check"
	ironnode "github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// The Ready loop.
//
// Each node's ironnode.Replica runs the runtime's own Ready steps; the
// simulator calls them one phase at a time, so that the fsync can take
// simulated time and a crash can land between them, and checks every
// phase:
//
//   - Replica.Ready takes the next Ready and hands its
//     MessagesBeforePersist to Send (sendFrom), which keeps them in the
//     node's outbox; beginReady observes the Ready, checks it, then checks
//     those messages against it (they must promise nothing its entries
//     still being persisted would) and sends them;
//   - after the fsync delay, Replica.Persist saves the Ready to the durable
//     store (SaveReady) and hands its MessagesAfterPersist to Send, which
//     checks them against the durable state and sends them at once; the
//     commit checks follow (persistReady);
//   - the committed entries are checked (checkApplies), then
//     Replica.Finish calls Advance and applies the snapshot and the
//     entries to the KV state machine (kvState), whose applies complete
//     the client puts and whose results complete the Replica's proposals
//     (proposalDone); reads are served and the node may snapshot
//     (finishReady).

// readyPhase is the step of the Ready loop a node's Replica is in.
type readyPhase uint8

const (
	phaseIdle    readyPhase = iota
	phaseReady              // inside Replica.Ready: MessagesBeforePersist
	phasePersist            // inside Replica.Persist: MessagesAfterPersist
)

// runtimeName is the checker of the runtime's own rules: what it
// sends, applies and completes.
const runtimeName = "runtime"

// process handles n's Readys until it has none or one is being persisted.
func (s *Sim) process(n *node) {
	for s.err == nil && n.up && !n.busy {
		n.phase = phaseReady
		rd, ok := n.r.Ready()
		n.phase = phaseIdle
		if !ok {
			return
		}
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

// sendEarly sends what RawNode.MessagesBeforeAdvance hands out while n's
// Ready is being persisted (the leader's appends for entries proposed
// meanwhile), as node.Node does after every event. They are checked like
// MessagesBeforePersist, against the entries not yet durable.
func (s *Sim) sendEarly(n *node) {
	if !n.up || !n.busy {
		return
	}
	for _, m := range n.rn.MessagesBeforeAdvance() {
		s.stats.EarlyMessages++
		s.checkOutgoing(n, m, n.rd.Entries)
		s.send(m)
	}
}

// sendFrom is the Send of n's Replica. Inside Replica.Ready it gets the
// MessagesBeforePersist, which wait in n.outbox for beginReady (they are
// checked against the Ready's entries, not durable yet); inside
// Replica.Persist it gets the MessagesAfterPersist, after the Ready is
// durable: they are checked against the durable state and sent at once.
func (s *Sim) sendFrom(n *node, msgs []*raftpb.Message) {
	switch n.phase {
	case phaseReady:
		n.outbox = append(n.outbox, msgs...)
		return
	case phaseIdle:
		s.fail(check.Failf(runtimeName, "node %d: the Replica sends %d messages outside Ready and Persist", n.id, len(msgs)))
		return
	}
	for _, m := range msgs {
		s.checkOutgoing(n, m, nil)
		s.send(m)
	}
}

// beginReady is steps 0 and 1 of the Ready contract: observe the new soft
// and hard state (and check the leader invariants), then send
// MessagesBeforePersist, which the Replica handed to sendFrom.
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
	out := n.outbox
	n.outbox = nil
	if len(out) != len(rd.MessagesBeforePersist) {
		s.fail(check.Failf(runtimeName, "node %d: Replica.Ready sent %d messages, the Ready has %d MessagesBeforePersist",
			n.id, len(out), len(rd.MessagesBeforePersist)))
	}
	for _, m := range out {
		s.checkOutgoing(n, m, rd.Entries)
		s.send(m)
	}
}

// finishReady is steps 2 to 4: persist, send MessagesAfterPersist
// (persistReady), then Advance, apply, serve reads.
func (s *Sim) finishReady(n *node, rd raft.Ready) {
	if !s.persistReady(n, rd) {
		return
	}
	if rd.Snapshot != nil {
		s.installSnapshot(n, rd.Snapshot)
	}
	s.checkApplies(n, rd.CommittedEntries)
	restores := n.kv.restores
	res, err := n.r.Finish(rd)
	if err != nil {
		s.fail(check.Failf(runtimeName, "node %d: Replica.Finish: %v", n.id, err))
		return
	}
	if res.Index != n.applied {
		s.fail(check.Failf(check.StateMachineSafetyName, "node %d: the Replica applied up to %d, its Ready up to %d",
			n.id, res.Index, n.applied))
	}
	if rd.Snapshot != nil {
		s.checkRestored(n, rd.Snapshot, n.kv.restores > restores, len(rd.CommittedEntries) == 0)
	}
	for _, rs := range rd.ReadStates {
		s.readState(n, rs)
	}
	s.serveReads(n)
	n.coreApplied = n.applied
	s.afterAdvance(n, len(rd.CommittedEntries) > 0 || rd.Snapshot != nil)
}

// checkRestored checks that Replica.Finish restored n's state machine from
// snapshot sn (but for the bootstrap snapshot, which has no state), and,
// when the Ready applied no entry after it (alone), that the state is the
// snapshot's.
func (s *Sim) checkRestored(n *node, sn *raftpb.Snapshot, restored, alone bool) {
	_, sm, _ := ironnode.DecodeSnapshotData(sn.GetData())
	i := sn.GetMetadata().GetIndex()
	switch {
	case !restored && (i > 0 || len(sm) > 0):
		s.fail(check.Failf(runtimeName, "node %d: Replica.Finish did not restore the state machine from the snapshot at %d", n.id, i))
	case restored && alone && !bytes.Equal(n.kv.encode(), sm):
		s.fail(check.Failf(runtimeName, "node %d: the state machine restored from the snapshot at %d differs from it", n.id, i))
	}
}

// persistReady persists rd through the Replica, which then sends the
// MessagesAfterPersist, or tears it (tornPersist); then it checks the
// commit index persisted and schedules the faults that follow a persist.
// It reports whether rd was persisted (else n crashed or failed).
func (s *Sim) persistReady(n *node, rd raft.Ready) bool {
	if s.tornPersist(n, rd) {
		return false
	}
	prevHS, _, _ := n.durable.InitialState()
	n.phase = phasePersist
	err := n.r.Persist(rd)
	n.phase = phaseIdle
	if err != nil {
		s.persistErr(n, "persist Ready", err)
		return false
	}
	if n.crashOnPersist && len(rd.Entries) > 0 && n.role == raft.StateLeader && !s.healed {
		// Its messages sent above are lost with it (loseSent).
		n.crashOnPersist = false
		s.schedule(event{at: s.now, kind: evCrash, node: n.id, inc: n.inc, fault: fTailCrash, loseSent: true,
			down: n.crashDown})
	}
	oldCommit := prevHS.GetCommit()
	if hs := rd.HardState; hs != nil {
		if n.role == raft.StateLeader && hs.GetCommit() > oldCommit && !s.healed &&
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
		s.checkCommit(n, hs, oldCommit)
	}
	return true
}

// checkCommit checks the commit index hs that n just persisted (up from
// oldCommit), and crashes a leader that committed an entry of an earlier
// term, with the profile's probability.
func (s *Sim) checkCommit(n *node, hs *raftpb.HardState, oldCommit uint64) {
	if n.role == raft.StateLeader && n.ledBefore {
		if t, _ := n.durable.Term(hs.GetCommit()); t != hs.GetTerm() && hs.GetCommit() > oldCommit {
			s.stats.OldTermCommits++
			if !s.healed && s.p.crashOnOldCommit > 0 && s.rng.Float64() < s.p.crashOnOldCommit {
				// Right after the entries are applied (a client may see
				// its put acknowledged), before any entry of the leader's
				// term spreads; the messages it just sent are lost.
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

// checkApplies checks the committed entries n's Replica is about to apply
// (Finish) and replays their configuration changes on n's configuration;
// the KV commands reach the state machine through the Replica.
func (s *Sim) checkApplies(n *node, ents []*raftpb.Entry) {
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
		}
	}
	s.tr.add(trRec{at: s.now, kind: trApply, a: n.id, c: ents[0].Index, d: ents[len(ents)-1].Index})
}

// proposalDone is the OnResult of n's Replica: proposal pid, made on this
// incarnation of n, was applied at index with the state machine's result
// value. It must be the entry that carries what the proposal proposed
// (proposals of an earlier incarnation, applied again after a restart, are
// not waited for any more and are ignored).
func (s *Sim) proposalDone(n *node, pid, index uint64, value any) {
	want, ok := n.proposals[pid]
	if !ok {
		return
	}
	delete(n.proposals, pid)
	if got, _ := value.(uint64); got != want {
		s.fail(check.Failf(runtimeName, "node %d: proposal %d completed by entry %d with the result of op %#x, want op %#x (0: a configuration change)",
			n.id, pid, index, got, want))
	}
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
