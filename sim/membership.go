package sim

import (
	"errors"

	"github.com/ironraft/ironraft/internal/check"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// Membership churn.
//
// The cluster has a pool of node IDs (1..pool); the first p.nodes are the
// initial voters, the others start only when a churn fault adds them, with
// empty storage: they learn the configuration from the leader's snapshot
// (needs_snapshot). A churn fault proposes, on the current leader, one of:
// add a learner, promote a learner, demote a voter (through a joint
// configuration), remove a member (a follower or the leader itself),
// replace two voters in one joint change, or transfer leadership to a
// random voter. Changes that would leave fewer than minVoters voters are
// not proposed, so the simulator never makes a quorum impossible by
// itself; crashes may still stall the cluster during the fault phase.
//
// s.cfg is the committed configuration: the replay of every configuration
// change in log order, advanced when the first node applies it. A node
// that leaves it is stopped for good once every voter of s.cfg has durably
// learned that the change is committed (its durable commit index reaches
// it). Not before: voters that have not applied the change still use the
// old configuration, and may need the removed node's vote to elect a
// leader that tells them (seed 911 of ProfileChurnHunt stalled when the
// removed leader stopped at once: the survivors, still joint, lacked a
// majority of the outgoing half). Clients talk only to members of s.cfg,
// and the liveness phase judges s.cfg at the end.

// minVoters is the fewest voters churn leaves.
const minVoters = 3

// churn kinds, for the statistics.
const (
	churnAddLearner = iota
	churnPromote
	churnDemote
	churnRemove
	churnRemoveLeader
	churnReplace2
	churnTransfer
	numChurnKinds
)

var churnNames = [numChurnKinds]string{"add-learner", "promote", "demote", "remove", "remove-leader", "replace-2", "transfer"}

// churn injects one membership fault on the current leader.
func (s *Sim) churn() {
	l := s.leader()
	if l == nil {
		return
	}
	s.churnOn(l)
	if s.p.churnDouble > 0 && l.up && s.rng.Float64() < s.p.churnDouble {
		// A second change at once: a correct leader refuses it while the
		// first is pending.
		s.churnOn(l)
	}
	if l.up {
		s.process(l)
	}
}

func (s *Sim) churnOn(l *node) {
	cfg := check.ConfigOf(l.rn.ConfState())
	var learners, fresh, voters, others []uint64
	for _, n := range s.nodes {
		switch {
		case n.removed || n.removedAt != 0:
		case cfg.Learners[n.id]:
			learners = append(learners, n.id)
		case cfg.Voters[n.id]:
			voters = append(voters, n.id)
			if n.id != l.id {
				others = append(others, n.id)
			}
		case !cfg.IsMember(n.id):
			fresh = append(fresh, n.id)
		}
	}
	single := func(t raftpb.ConfChangeType, id uint64) *raftpb.ConfChangeSingle {
		return &raftpb.ConfChangeSingle{Type: t, NodeId: id}
	}
	var cc *raftpb.ConfChange
	// addr is the address the change gives the node it adds: one per
	// change (ProposeConfChange), so only a change that adds one new node
	// names it.
	addr := ""
	kind := s.rng.IntN(numChurnKinds)
	switch {
	case kind == churnAddLearner && len(fresh) > 0:
		id := pick(s.rng, fresh...)
		s.join(id)
		cc = &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddLearnerNode, id)}}
		addr = addrOf(id)
	case kind == churnPromote && len(learners) > 0:
		cc = &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddNode, pick(s.rng, learners...))}}
	case kind == churnDemote && len(voters) > minVoters:
		cc = &raftpb.ConfChange{Transition: raftpb.ConfChangeTransitionJointImplicit,
			Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddLearnerNode, pick(s.rng, voters...))}}
	case kind == churnRemove && len(learners) > 0 && (len(voters) <= minVoters || s.rng.IntN(2) == 0):
		cc = &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeRemoveNode, pick(s.rng, learners...))}}
	case (kind == churnRemove || kind == churnRemoveLeader) && len(voters) > minVoters:
		id := l.id
		if kind == churnRemove && len(others) > 0 {
			id = pick(s.rng, others...)
		}
		cc = &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeRemoveNode, id)}}
	case kind == churnReplace2 && len(voters) >= 2 && len(learners)+len(fresh) >= 2:
		s.rng.Shuffle(len(voters), func(i, j int) { voters[i], voters[j] = voters[j], voters[i] })
		in := append(append([]uint64(nil), learners...), fresh...)
		s.rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		cc = &raftpb.ConfChange{}
		for _, id := range voters[:2] {
			cc.Changes = append(cc.Changes, single(raftpb.ConfChangeRemoveNode, id))
		}
		for _, id := range in[:2] {
			s.join(id)
			cc.Changes = append(cc.Changes, single(raftpb.ConfChangeAddNode, id))
		}
	case kind == churnTransfer && len(others) > 0:
		to := pick(s.rng, others...)
		s.stats.Churn[churnTransfer]++
		err := l.rn.TransferLeader(to)
		s.note("CHURN n%d transfer leadership to n%d: %v", l.id, to, errString(err))
		return
	default:
		return
	}
	s.stats.Churn[kind]++
	s.stats.ConfProposed++
	pid, err := l.r.ProposeConfChange(cc, addr)
	if err == nil {
		l.proposals[pid] = 0
	} else {
		s.stats.ConfRefused++
		if !errors.Is(err, raft.ErrPendingConfChange) && !errors.Is(err, raft.ErrInvalidConfChange) &&
			!errors.Is(err, raft.ErrProposalDropped) && !errors.Is(err, raft.ErrUncommittedLogFull) {
			s.fail(check.Failf(check.ConfReplayName, "node %d: ProposeConfChange(%v) = %v, not a documented refusal", l.id, cc.GetChanges(), err))
		}
	}
	s.note("CHURN n%d (%s) proposes %s %v: %v", l.id, cfg, churnNames[kind], cc.GetChanges(), errString(err))
	s.checkConf(l, "right after ProposeConfChange")
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// join starts pool node id, never started, with empty storage: it waits to
// be contacted by a leader.
func (s *Sim) join(id uint64) {
	n := s.node(id)
	if n.started || n.removed {
		return
	}
	s.note("JOIN n%d starts empty", id)
	s.start(n)
}

// applyConfChange replays the configuration change e, just applied by n,
// on n's configuration and on the committed one.
func (s *Sim) applyConfChange(n *node, e *raftpb.Entry) {
	cc, err := check.DecodeConfChange(e.Data)
	if err != nil {
		s.fail(check.Failf(check.ConfReplayName, "node %d applies configuration change %d: %v", n.id, e.Index, err))
		return
	}
	next, err := n.cfg.Apply(cc)
	if err != nil {
		s.fail(check.Failf(check.ConfReplayName, "node %d applies configuration change %d that is invalid from %v: %v", n.id, e.Index, n.cfg, err))
		return
	}
	n.cfg = next
	s.advanceConfig(n, e.Index, next)
}

// advanceConfig moves the committed configuration to cfg, in effect from
// index i, if n is the first to get there.
func (s *Sim) advanceConfig(n *node, i uint64, cfg check.Config) {
	if i <= s.cfgIndex {
		return
	}
	s.cfgIndex = i
	if cfg.Equal(s.cfg.State()) {
		return
	}
	s.stats.ConfChanges++
	s.lastConfAt = s.now
	s.note("CONFIG at %d (first applied by n%d): %s", i, n.id, cfg)
	for _, id := range s.cfg.Members() {
		if x := s.node(id); !cfg.IsMember(id) && x.removedAt == 0 {
			x.removedAt, x.removedIndex = s.now, i
		}
	}
	s.cfg = cfg
}

// checkConf checks n's configuration against its replay.
func (s *Sim) checkConf(n *node, when string) {
	if !n.up || n.rn == nil || s.opts.SkipMembershipRules {
		return
	}
	s.stats.ContractChecks++
	s.fail(check.CheckConfState(n.id, n.rn.ConfState(), n.cfg, when))
}

// afterAdvance runs the checks that follow an Advance (which installs the
// configuration changes just applied) and compacts. The configuration is
// checked after every Advance that applied something or installed a
// snapshot, and after every Advance of a leader (the one that proposes
// changes); a change at any other moment shows at the next of those.
func (s *Sim) afterAdvance(n *node, applied bool) {
	if applied || n.role == raft.StateLeader {
		s.checkConf(n, "after Advance")
	}
	s.checkRemovedLeader(n)
	s.maybeCompact(n)
}

// stopRemoved stops n, which left the configuration, for good.
func (s *Sim) stopRemoved(n *node) {
	if n.removed {
		return
	}
	s.note("REMOVED n%d stopped", n.id)
	n.removed = true
	if n.up {
		s.crashFor(n, fRemoved, 0, false)
	}
}

// stopRemoved stops the removed nodes that no voter of the committed
// configuration needs any more.
func (s *Sim) stopRemovedNodes() {
	for _, n := range s.nodes {
		if n.removedAt == 0 || n.removed {
			continue
		}
		if n.up && n.rn != nil && n.rn.Status().RaftState == raft.StateLeader {
			// A removed leader hands over first (for at most an election
			// timeout): stopping it would cut the transfer short.
			continue
		}
		known := true
		for id := range s.cfg.Voters {
			hs, _, _ := s.node(id).durable.InitialState()
			known = known && hs.GetCommit() >= n.removedIndex
		}
		for id := range s.cfg.Outgoing {
			hs, _, _ := s.node(id).durable.InitialState()
			known = known && hs.GetCommit() >= n.removedIndex
		}
		if known {
			s.stopRemoved(n)
		}
	}
}

// active reports whether n takes part in the run: started and not
// removed (it may be down).
func (n *node) active() bool { return n.started && !n.removed }

// checkDurable checks that every committed entry is durable on enough
// voters of the committed configuration.
func (s *Sim) checkDurable() {
	s.fail(s.ledger.CheckDurableConfig(s.durableLogs(), s.cfg))
}

// removedLeaderGraceTicks is how long a leader that applied its own
// removal may go on leading: the core hands over for at most an election
// timeout (see raft's startRemovedHandoff), plus a Ready's worth of slack.
const removedLeaderGraceTicks = electionTicks + 5

// checkRemovedLeader fails the run if a leader that applied a
// configuration without itself as a voter still leads after its handover
// period.
func (s *Sim) checkRemovedLeader(n *node) {
	removed := !n.cfg.IsVoter(n.id) && len(n.cfg.Voters) > 0 && n.rn.Status().RaftState == raft.StateLeader
	if !removed || s.opts.SkipMembershipRules {
		n.removedLeaderSince = -1
		return
	}
	if n.removedLeaderSince < 0 {
		n.removedLeaderSince = s.now
		return
	}
	if s.now-n.removedLeaderSince > removedLeaderGraceTicks {
		s.fail(check.Failf(check.RemovedLeaderName,
			"node %d applied configuration %s without itself as a voter at t=%d but still leads term %d at t=%d",
			n.id, n.cfg, n.removedLeaderSince, n.term, s.now))
	}
}
