package raft

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raft/confchange"
	"github.com/ironraft/ironraft/raft/tracker"
	"github.com/ironraft/ironraft/raftpb"
)

// ErrPendingConfChange is returned when a configuration change is proposed
// while an earlier one is not yet applied: only one may be in flight
// (dissertation §4.1).
var ErrPendingConfChange = errors.New("raft: a configuration change is already pending")

// ErrInvalidConfChange is returned for a change that cannot be made from the
// current configuration (for example one that would leave no voters). It
// wraps confchange.ErrInvalidConfChange.
var ErrInvalidConfChange = confchange.ErrInvalidConfChange

// ErrTransferInProgress is returned for proposals while leadership is being
// transferred. It wraps ErrProposalDropped.
var ErrTransferInProgress = wrapped{msg: "raft: leadership transfer in progress", base: ErrProposalDropped}

// ErrInvalidTransferee is returned when leadership cannot go to the node
// asked for: it is unknown, a learner, or not a voter of the incoming
// configuration.
var ErrInvalidTransferee = errors.New("raft: invalid leadership transfer target")

func (r *raft) changer() confchange.Changer {
	return confchange.Changer{
		Config: r.trk.Config, Progress: r.trk.Progress, LastIndex: r.raftLog.lastIndex(),
		MaxInflight: r.trk.MaxInflight, MaxInflightBytes: r.trk.MaxInflightBytes,
	}
}

// restoreConfState installs the configuration cs (from storage or a
// snapshot), replacing the tracked one.
func (r *raft) restoreConfState(cs *raftpb.ConfState) error {
	c := r.changer()
	cfg, prs, err := confchange.Restore(c, cs)
	if err != nil {
		return err
	}
	r.trk.Config, r.trk.Progress = cfg, prs
	return nil
}

// resetProgressAfterRestore restarts every follower's progress after the
// log was replaced by a snapshot.
func (r *raft) resetProgressAfterRestore() {
	next := r.raftLog.lastIndex() + 1
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		*pr = tracker.Progress{Next: next, Inflights: tracker.NewInflights(r.trk.MaxInflight, r.trk.MaxInflightBytes),
			IsLearner: pr.IsLearner, RecentActive: id == r.id}
	})
}

// decodeConfChange decodes the data of an EntryConfChange.
func decodeConfChange(data []byte) (*raftpb.ConfChange, error) {
	cc := &raftpb.ConfChange{}
	if err := proto.Unmarshal(data, cc); err != nil {
		return nil, fmt.Errorf("%w: undecodable conf change: %v", ErrInvalidMessage, err) // lint:nowrap the proto error is detail
	}
	return cc, nil
}

// isLeaveJoint reports whether cc is the empty change that leaves a joint
// configuration.
func isLeaveJoint(cc *raftpb.ConfChange) bool { return len(cc.GetChanges()) == 0 }

// enterJoint reports whether cc enters a joint configuration (or, with
// autoLeave, one that is left automatically).
func enterJoint(cc *raftpb.ConfChange) (joint, autoLeave bool) {
	switch cc.GetTransition() {
	case raftpb.ConfChangeTransitionAuto:
		// A single change is made directly; several go through a joint
		// configuration left automatically.
		if len(cc.GetChanges()) > 1 {
			return true, true
		}
		return false, false
	case raftpb.ConfChangeTransitionJointImplicit:
		return true, true
	case raftpb.ConfChangeTransitionJointExplicit:
		return true, false
	}
	return false, false
}

// computeConfChange returns the configuration cc leads to from the current
// one, without installing it.
func (r *raft) computeConfChange(cc *raftpb.ConfChange) (tracker.Config, tracker.ProgressMap, error) {
	c := r.changer()
	if isLeaveJoint(cc) {
		return c.LeaveJoint()
	}
	if joint, autoLeave := enterJoint(cc); joint {
		return c.EnterJoint(autoLeave, cc.GetChanges()...)
	}
	return c.Simple(cc.GetChanges()...)
}

// checkConfChangeProposal refuses a proposed change that could not be
// applied: a second pending change, or an invalid one.
func (r *raft) checkConfChangeProposal(e *raftpb.Entry) error {
	cc, err := decodeConfChange(e.GetData())
	if err != nil {
		return err
	}
	if r.pendingConfIndex > r.raftLog.applied && !r.bugs.AllowTwoPendingConfChanges {
		return fmt.Errorf("%w: index %d not yet applied (applied %d)", ErrPendingConfChange,
			r.pendingConfIndex, r.raftLog.applied)
	}
	if _, _, err := r.computeConfChange(cc); err != nil {
		return err
	}
	return nil
}

// applyConfChange installs the change in a committed entry, when the
// application has applied it (see docs/divergence.md).
func (r *raft) applyConfChange(e *raftpb.Entry) {
	cc, err := decodeConfChange(e.GetData())
	if err != nil {
		// The leader checked it before appending; the log is corrupt.
		panic(fmt.Sprintf("raft: committed entry %d: %v", e.GetIndex(), err))
	}
	cfg, prs, err := r.computeConfChange(cc)
	if err != nil {
		// Only a change valid against the configuration of its time is
		// appended, and changes apply in log order: a failure here means
		// the log or the core is broken.
		panic(fmt.Sprintf("raft: committed conf change at %d: %v", e.GetIndex(), err))
	}
	old := r.trk.Progress
	r.trk.Config, r.trk.Progress = cfg, prs
	r.confIndex = e.GetIndex()
	if r.state == StateLeader {
		// In ID order: the core's output must not depend on map order.
		var gone []uint64
		for id := range old {
			if _, ok := prs[id]; !ok && id != r.id {
				gone = append(gone, id)
			}
		}
		slices.Sort(gone)
		for _, id := range gone {
			r.sendFarewell(id, old[id], e.GetIndex())
		}
	}
	r.pruneReadAcks()
	r.logger.Info("raft: applied configuration change", "term", r.term, "index", e.GetIndex(),
		"config", r.trk.Config.String())
	r.afterConfChange()
}

// sendFarewell sends a member the leader just removed the entries up to its
// removal at index, and that commit index, in one MsgApp: the leader no
// longer replicates to it, so without this it might never learn that it
// was removed (hashicorp/raft likewise replicates a removal to the removed
// server before it stops). The append starts at the member's match, so
// log matching holds; if the entries are compacted or exceed
// MaxSizePerMsg, nothing is sent and the member learns its fate from the
// application (see docs/divergence.md).
func (r *raft) sendFarewell(to uint64, pr *tracker.Progress, index uint64) {
	prevTerm, err := r.raftLog.term(pr.Match)
	if err != nil {
		return
	}
	var ents []*raftpb.Entry
	if pr.Match < index {
		if ents, err = r.raftLog.slice(pr.Match+1, index+1, r.maxMsgSize); err != nil ||
			ents[len(ents)-1].GetIndex() != index {
			return
		}
	}
	r.send(&raftpb.Message{To: to, Type: raftpb.MsgApp, PrevLogIndex: pr.Match, PrevLogTerm: prevTerm,
		Entries: ents, Commit: min(index, r.raftLog.committed)})
}

// afterConfChange adjusts roles to a newly applied configuration.
func (r *raft) afterConfChange() {
	if r.state != StateLeader {
		return
	}
	if !r.isVoter(r.id) {
		if !r.bugs.RemovedLeaderStaysLeader {
			r.startRemovedHandoff()
		}
		return
	}
	if r.leadTransferee != None {
		if pr := r.trk.Progress[r.leadTransferee]; pr == nil || pr.IsLearner {
			r.abortLeaderTransfer()
		}
	}
	// The commit quorum may have changed; new members need entries.
	if r.maybeCommit() {
		r.bcastAppend()
	} else {
		r.trk.Visit(func(id uint64, _ *tracker.Progress) {
			if id != r.id {
				r.maybeSendAppend(id, false)
			}
		})
	}
}

// maybeAutoLeave appends the empty change that leaves a joint configuration
// with AutoLeave, on a leader with no other change pending. RawNode.Advance
// calls it after every application, not only after applying the change
// that entered the joint configuration: a leader elected while the
// configuration is joint (its predecessor's leave-joint entry lost), or one
// whose uncommitted log was full the first time, must leave it too.
func (r *raft) maybeAutoLeave() {
	if r.state != StateLeader || !r.trk.AutoLeave || len(r.trk.Voters[1]) == 0 ||
		r.pendingConfIndex > r.raftLog.applied {
		return
	}
	data, err := proto.Marshal(&raftpb.ConfChange{})
	if err != nil {
		panic(fmt.Sprintf("raft: encoding the leave-joint change: %v", err))
	}
	if !r.appendEntry(&raftpb.Entry{Type: raftpb.EntryConfChange, Data: data}) {
		r.logger.Warn("raft: cannot append leave-joint change now: uncommitted log full", "term", r.term)
		return
	}
	r.pendingConfIndex = r.raftLog.lastIndex()
	r.appendWanted = true
	r.logger.Info("raft: leaving joint configuration automatically", "term", r.term, "index", r.pendingConfIndex)
}

// handleTransferLeader handles MsgTransferLeader on the leader.
func (r *raft) handleTransferLeader(m *raftpb.Message) error {
	target := m.Transferee
	if r.removedHandoff {
		// Already handing over, with a deadline that must not move.
		return fmt.Errorf("%w: removed leader is handing over to %d", ErrTransferInProgress, r.leadTransferee)
	}
	pr := r.trk.Progress[target]
	if pr == nil || pr.IsLearner {
		return fmt.Errorf("%w: %d is not a voter", ErrInvalidTransferee, target)
	}
	if _, incoming := r.trk.Voters[0][target]; !incoming {
		return fmt.Errorf("%w: %d is leaving the configuration", ErrInvalidTransferee, target)
	}
	if target == r.id {
		return nil // already leader
	}
	if r.leadTransferee == target {
		return nil // already under way
	}
	if r.leadTransferee != None {
		r.abortLeaderTransfer()
	}
	r.logger.Info("raft: starting leadership transfer", "term", r.term, "to", target, "match", pr.Match,
		"last_index", r.raftLog.lastIndex())
	r.leadTransferee = target
	// The transfer must finish within an election timeout (tickHeartbeat).
	r.transferElapsed = 0
	if pr.Match == r.raftLog.lastIndex() {
		r.sendTimeoutNow(target)
	} else {
		r.sendAppend(target)
	}
	return nil
}

func (r *raft) sendTimeoutNow(to uint64) {
	r.logger.Info("raft: sending MsgTimeoutNow", "term", r.term, "to", to)
	r.timeoutNowSent = true
	r.send(&raftpb.Message{To: to, Type: raftpb.MsgTimeoutNow})
}

func (r *raft) abortLeaderTransfer() {
	if r.leadTransferee != None {
		r.logger.Info("raft: leadership transfer aborted", "term", r.term, "to", r.leadTransferee)
	}
	r.leadTransferee = None
}

// handleTimeoutNow makes a follower campaign at once for a transfer.
func (r *raft) handleTimeoutNow(m *raftpb.Message) {
	if !r.promotable() {
		r.logger.Info("raft: ignored MsgTimeoutNow: not promotable", "term", r.term, "from", m.From)
		return
	}
	if r.hasUnappliedConfChanges() {
		// Campaigning under a configuration we have not caught up with
		// could let a stale majority elect us; the transfer times out.
		r.logger.Info("raft: ignored MsgTimeoutNow: unapplied configuration changes", "term", r.term, "from", m.From)
		return
	}
	r.logger.Info("raft: campaigning for leadership transfer", "term", r.term, "from", m.From)
	r.campaign(campaignTransfer)
}

// pruneReadAcks forgets heartbeat acknowledgements of nodes that no longer
// vote, so membership churn cannot grow them.
func (r *raft) pruneReadAcks() {
	for id := range r.reads.acks {
		if !r.isVoter(id) {
			delete(r.reads.acks, id)
		}
	}
}

// replayConfChanges applies the configuration changes in (confIndex,
// applied]: at startup the storage's configuration is the snapshot's, and
// changes the application already applied after it are not handed out
// again.
func (r *raft) replayConfChanges(applied uint64) error {
	l := r.raftLog
	for lo := r.confIndex + 1; lo <= applied; {
		ents, err := l.slice(lo, applied+1, l.maxApplyingBytes)
		if err != nil {
			return fmt.Errorf("raft: reading applied entries [%d, %d]: %w", lo, applied, err)
		}
		for _, e := range ents {
			if e.GetType() != raftpb.EntryConfChange {
				continue
			}
			cc, err := decodeConfChange(e.GetData())
			if err != nil {
				return fmt.Errorf("raft: applied entry %d: %w", e.GetIndex(), err)
			}
			cfg, prs, err := r.computeConfChange(cc)
			if err != nil {
				return fmt.Errorf("raft: replaying applied configuration change %d: %w", e.GetIndex(), err)
			}
			r.trk.Config, r.trk.Progress = cfg, prs
			r.confIndex = e.GetIndex()
		}
		lo += uint64(len(ents))
	}
	return nil
}

// startRemovedHandoff begins the exit of a leader that applied a
// configuration without itself as a voter (dissertation §4.2.2). Stepping
// down at once could strand the group: the remaining voters may not know
// yet that the change is committed, so they still need a majority of the
// old configuration, the removed node among them. Instead the leader keeps
// leading for at most an election timeout without counting itself or
// accepting proposals, so its heartbeats spread the commit index, and
// transfers leadership to the most up-to-date remaining voter. When the
// transfer does not happen in time it steps down anyway (tickHeartbeat).
func (r *raft) startRemovedHandoff() {
	target, match := None, uint64(0)
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		if _, incoming := r.trk.Voters[0][id]; incoming && id != r.id && (target == None || pr.Match > match) {
			target, match = id, pr.Match
		}
	})
	r.logger.Info("raft: leader left the configuration, handing over", "term", r.term, "to", target)
	r.removedHandoff = true
	if target == None {
		r.becomeFollower(r.term, None)
		return
	}
	r.abortLeaderTransfer()
	r.leadTransferee = target
	r.transferElapsed = 0
	if match == r.raftLog.lastIndex() {
		r.sendTimeoutNow(target)
	} else {
		r.sendAppend(target) // TimeoutNow follows once it caught up
	}
}
