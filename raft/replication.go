package raft

import (
	"errors"
	"fmt"

	"github.com/ironraft/ironraft/raft/tracker"
	"github.com/ironraft/ironraft/raftpb"
)

// appendEntry appends new entries of the leader's term built from es (whose
// Term and Index are ignored; es is not modified). It returns false if the
// uncommitted log limit refuses them.
func (r *raft) appendEntry(es ...*raftpb.Entry) bool {
	size := raftpb.EntriesSize(es)
	if r.uncommittedSize > 0 && size > 0 && r.uncommittedSize+size > r.maxUncommittedSize {
		// A single proposal larger than the limit still goes through when
		// nothing is uncommitted, or it could never be accepted.
		return false
	}
	li := r.raftLog.lastIndex()
	ents := make([]*raftpb.Entry, len(es))
	for i, e := range es {
		ents[i] = &raftpb.Entry{Term: r.term, Index: li + 1 + uint64(i), Type: e.GetType(), Data: e.GetData()}
	}
	r.raftLog.append(ents...)
	r.uncommittedSize += size
	// The leader's own progress advances only when the entries are
	// persisted (RawNode.Advance): it must not count an entry it could
	// still lose toward a quorum.
	return true
}

// maybeCommit raises the commit index to what a quorum has persisted, if
// that entry is of the current term, and reports whether it moved.
func (r *raft) maybeCommit() bool {
	mci := r.trk.Committed()
	if r.bugs.CommitPreviousTermByCount {
		if mci > r.raftLog.committed && mci <= r.raftLog.lastIndex() {
			r.raftLog.commitTo(mci)
			r.reads.onCommit(r)
			return true
		}
		return false
	}
	if !r.raftLog.maybeCommit(mci, r.term) {
		return false
	}
	r.reads.onCommit(r)
	return true
}

// committedInTerm reports whether the leader has committed an entry of its
// own term, after which its commit index is at least that of any earlier
// leader (dissertation §6.4).
func (r *raft) committedInTerm() bool {
	return r.raftLog.zeroTermOnErr(r.raftLog.term(r.raftLog.committed)) == r.term
}

// bcastAppend sends entries to every follower that can take them.
func (r *raft) bcastAppend() {
	r.trk.Visit(func(id uint64, _ *tracker.Progress) {
		if id != r.id {
			r.sendAppend(id)
		}
	})
}

// sendAppend sends entries (or an empty probe, or a snapshot) to id.
func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends what follower `to` needs next, unless its progress
// is paused. With sendIfEmpty it sends even an empty MsgApp (to carry the
// commit index or probe). It reports whether a message was sent.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.Progress[to]
	if pr.IsPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.raftLog.term(prevIndex)
	var ents []*raftpb.Entry
	var erre error
	// In probe state one entry at most: we don't know where the follower
	// diverges, so a large batch would likely be wasted.
	if pr.State != tracker.StateReplicate {
		if pr.Next <= r.raftLog.lastIndex() {
			ents, erre = r.raftLog.slice(pr.Next, pr.Next+1, r.maxMsgSize)
		}
	} else {
		ents, erre = r.raftLog.entries(pr.Next, r.maxMsgSize)
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	if errt != nil || erre != nil {
		return r.maybeSendSnapshot(to, pr)
	}
	r.send(&raftpb.Message{
		To: to, Type: raftpb.MsgApp,
		PrevLogIndex: prevIndex, PrevLogTerm: prevTerm,
		Entries: ents, Commit: r.raftLog.committed,
	})
	pr.SentEntries(len(ents), prevIndex+uint64(len(ents)), raftpb.EntriesSize(ents))
	return true
}

// maybeSendSnapshot sends the latest snapshot to a follower whose next
// entries were compacted away.
func (r *raft) maybeSendSnapshot(to uint64, pr *tracker.Progress) bool {
	if !pr.RecentActive {
		r.logger.Debug("raft: not sending snapshot to inactive follower", "term", r.term, "to", to)
		return false
	}
	snap, err := r.raftLog.snapshot()
	if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
		r.logger.Debug("raft: snapshot temporarily unavailable", "term", r.term, "to", to)
		return false
	}
	if err != nil {
		panic(fmt.Sprintf("raft: storage: snapshot: %v", err))
	}
	if snap.GetMetadata().GetIndex() == 0 && len(snap.GetMetadata().GetConfState().GetVoters()) == 0 {
		// Without compaction the only snapshot is the initial one, which
		// must carry the configuration the log starts from.
		panic("raft: need a snapshot with a configuration to catch up a follower")
	}
	r.logger.Info("raft: sending snapshot", "term", r.term, "to", to,
		"snapshot_index", snap.GetMetadata().GetIndex(), "match", pr.Match, "next", pr.Next)
	pr.BecomeSnapshot(snap.GetMetadata().GetIndex())
	r.send(&raftpb.Message{To: to, Type: raftpb.MsgSnap, Snapshot: snap})
	return true
}

// sendHeartbeat sends a heartbeat for round seq. The commit index it
// carries is one the follower is known to hold, so it never commits an
// entry the follower has not matched.
func (r *raft) sendHeartbeat(to, seq uint64) {
	commit := min(r.trk.Progress[to].Match, r.raftLog.committed)
	r.send(&raftpb.Message{To: to, Type: raftpb.MsgHeartbeat, Commit: commit, HeartbeatSeq: seq})
}

// bcastHeartbeat starts a new heartbeat round.
func (r *raft) bcastHeartbeat() {
	seq := r.reads.newRound(r)
	r.trk.Visit(func(id uint64, _ *tracker.Progress) {
		if id != r.id {
			r.sendHeartbeat(id, seq)
		}
	})
}

func stepLeader(r *raft, m *raftpb.Message) error {
	switch m.Type {
	case raftpb.MsgBeat:
		r.bcastHeartbeat()
		return nil
	case raftpb.MsgCheckQuorum:
		if !r.trk.QuorumActive() {
			r.logger.Warn("raft: stepped down: quorum not active", "term", r.term)
			r.becomeFollower(r.term, None)
		}
		// Mark everyone inactive for the next round.
		r.trk.Visit(func(id uint64, pr *tracker.Progress) {
			if id != r.id {
				pr.RecentActive = false
			}
		})
		return nil
	case raftpb.MsgProp:
		return r.handlePropose(m)
	case raftpb.MsgReadIndex:
		r.reads.handleRequest(r, m)
		return nil
	case raftpb.MsgTransferLeader:
		return r.handleTransferLeader(m)
	}

	pr := r.trk.Progress[m.From]
	if pr == nil {
		return fmt.Errorf("%w: %s from %d", ErrStepPeerNotFound, m.Type, m.From)
	}
	switch m.Type {
	case raftpb.MsgAppResp:
		pr.RecentActive = true
		if m.Reject {
			r.handleAppendReject(m, pr)
		} else {
			r.handleAppendAck(m, pr)
		}
	case raftpb.MsgHeartbeatResp:
		pr.RecentActive = true
		pr.MsgAppFlowPaused = false
		if pr.State == tracker.StateReplicate && pr.Inflights.Full() {
			// The follower answers heartbeats but none of the MsgApp that
			// filled its window: they may be lost (dropped, or cut off by a
			// partition), and nothing else would free the window. Free one
			// slot: the next MsgApp either extends the follower's log (the
			// others were only slow) or is rejected for the gap, which
			// restarts probing from its match index. Probing at once would
			// resend the whole window whenever heartbeat acks overtake
			// append acks.
			pr.Inflights.FreeFirstOne()
		}
		if pr.Match < r.raftLog.lastIndex() {
			r.sendAppend(m.From)
		}
		r.reads.handleHeartbeatAck(r, m)
	case raftpb.MsgSnapStatus:
		if pr.State != tracker.StateSnapshot {
			return nil
		}
		if m.Reject {
			// Sending failed: forget it and probe later.
			pr.PendingSnapshot = 0
		}
		// Wait for the follower's MsgAppResp (or a heartbeat ack) before
		// probing again.
		pr.BecomeProbe()
		pr.MsgAppFlowPaused = true
	case raftpb.MsgUnreachable:
		// Entries in flight to an unreachable node are probably lost.
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
	default:
		r.ignored(m)
	}
	return nil
}

func (r *raft) handlePropose(m *raftpb.Message) error {
	if len(m.Entries) == 0 {
		return fmt.Errorf("%w: proposal without entries", ErrInvalidMessage)
	}
	if r.trk.Progress[r.id] == nil {
		// We were removed from the configuration while leader.
		return fmt.Errorf("%w: leader is not a member", ErrProposalDropped)
	}
	if r.leadTransferee != None {
		return fmt.Errorf("%w: to %d", ErrTransferInProgress, r.leadTransferee)
	}
	confChange := -1
	for i, e := range m.Entries {
		switch e.GetType() {
		case raftpb.EntryNormal:
		case raftpb.EntryConfChange:
			if confChange >= 0 {
				return fmt.Errorf("%w: one proposal carries two configuration changes", ErrPendingConfChange)
			}
			if err := r.checkConfChangeProposal(e); err != nil {
				return err
			}
			confChange = i
		default:
			return fmt.Errorf("%w: proposal of %s entries", ErrInvalidMessage, e.GetType())
		}
	}
	first := r.raftLog.lastIndex() + 1
	if !r.appendEntry(m.Entries...) {
		return fmt.Errorf("%w: %d bytes uncommitted, limit %d", ErrUncommittedLogFull,
			r.uncommittedSize, r.maxUncommittedSize)
	}
	if confChange >= 0 {
		r.pendingConfIndex = first + uint64(confChange)
		if r.bugs.ApplyConfChangeOnPropose {
			e := &raftpb.Entry{Index: r.pendingConfIndex, Type: raftpb.EntryConfChange, Data: m.Entries[confChange].GetData()}
			r.bugAppliedConfIndex = e.Index
			r.applyConfChange(e)
		}
	}
	// Appends go out when the next Ready is built, so that proposals
	// stepped in between share one MsgApp per follower.
	r.appendWanted = true
	return nil
}

func (r *raft) handleAppendReject(m *raftpb.Message, pr *tracker.Progress) {
	if m.NeedsSnapshot {
		// Only a follower with no configuration asks for a snapshot, and
		// it has acknowledged nothing: with Match > 0 the rejection is a
		// delayed or duplicated one from before it installed a snapshot,
		// and the leader's snapshot may now be below Match.
		if pr.State != tracker.StateSnapshot && pr.Match == 0 {
			r.maybeSendSnapshot(m.From, pr)
		}
		return
	}
	// The follower pointed at its largest entry (hint_index, hint_term)
	// with term <= the refused prev_log_term. If we hold an entry of that
	// term there, logs match up to it; otherwise we skip to our own last
	// entry with term <= hint_term, so each round trip skips a whole term
	// of divergent entries on one side or the other.
	next := min(m.HintIndex, r.raftLog.lastIndex())
	if m.HintTerm > 0 {
		next, _ = r.raftLog.findConflictByTerm(next, m.HintTerm)
	}
	r.logger.Debug("raft: append rejected", "term", r.term, "from", m.From,
		"rejected_index", m.RejectedIndex, "hint_index", m.HintIndex, "hint_term", m.HintTerm, "next_probe", next)
	if pr.MaybeDecrTo(m.RejectedIndex, next) {
		if pr.State == tracker.StateReplicate {
			pr.BecomeProbe()
		}
		r.sendAppend(m.From)
	}
}

func (r *raft) handleAppendAck(m *raftpb.Message, pr *tracker.Progress) {
	if m.MatchIndex > r.raftLog.lastIndex() {
		r.logger.Warn("raft: ignored append ack beyond our last index", "term", r.term,
			"from", m.From, "match_index", m.MatchIndex, "last_index", r.raftLog.lastIndex())
		return
	}
	// An ack of exactly Match while probing (a probe at Match) also shows
	// where the logs agree, so replication can start; so does an ack of
	// the snapshot being sent (which may be the initial one, at index 0).
	probeAtMatch := (pr.State == tracker.StateProbe && m.MatchIndex == pr.Match) ||
		(pr.State == tracker.StateSnapshot && m.MatchIndex >= pr.PendingSnapshot)
	// While paused the follower was skipped by every broadcast, including
	// those that carried a new commit index.
	wasPaused := pr.IsPaused()
	if !pr.MaybeUpdate(m.MatchIndex) && !probeAtMatch {
		return
	}
	switch {
	case pr.State == tracker.StateProbe:
		pr.BecomeReplicate()
	case pr.State == tracker.StateSnapshot && pr.Match+1 >= r.raftLog.firstIndex():
		// The follower caught up past the snapshot: replicate from here.
		pr.BecomeProbe()
		pr.BecomeReplicate()
	}
	if m.From == r.leadTransferee && pr.Match == r.raftLog.lastIndex() {
		// The transfer target caught up: let it campaign now.
		r.sendTimeoutNow(m.From)
	}
	if r.maybeCommit() {
		r.bcastAppend()
	} else if m.From != r.id {
		// Fill the window while the follower can take more.
		sent := false
		for r.maybeSendAppend(m.From, false) {
			sent = true
		}
		if wasPaused && !sent && r.committedInTerm() {
			// Nothing new to send, but the follower may have missed the
			// commit index: tell it now rather than at the next heartbeat.
			// (Before the first commit of the term the commit index has not
			// moved since the election, and every MsgApp carried it.)
			r.sendAppend(m.From)
		}
	}
}

// handleAppendEntries handles MsgApp on a follower.
func (r *raft) handleAppendEntries(m *raftpb.Message) {
	if len(r.trk.Progress) == 0 {
		// We are joining and know no configuration: entries alone cannot
		// tell us the one they start from, so ask for a snapshot.
		r.send(&raftpb.Message{To: m.From, Type: raftpb.MsgAppResp, Reject: true,
			RejectedIndex: m.PrevLogIndex, NeedsSnapshot: true})
		return
	}
	if m.PrevLogIndex < r.raftLog.committed {
		// Everything up to our commit index matches any leader's log.
		r.send(&raftpb.Message{To: m.From, Type: raftpb.MsgAppResp, MatchIndex: r.raftLog.committed})
		return
	}
	last, replacedFrom, ok, err := r.raftLog.maybeAppend(m.PrevLogIndex, m.PrevLogTerm, m.Commit, m.Entries)
	if replacedFrom > 0 {
		r.dropStaleAppendAcks(replacedFrom)
	}
	if err != nil {
		// A leader that contradicts our committed log is broken; answering
		// would only spread the damage.
		r.logger.Error("raft: refused append", "term", r.term, "from", m.From, "err", err)
		return
	}
	if ok {
		r.send(&raftpb.Message{To: m.From, Type: raftpb.MsgAppResp, MatchIndex: last})
		return
	}
	hintIndex, hintTerm := r.raftLog.findConflictByTerm(min(m.PrevLogIndex, r.raftLog.lastIndex()), m.PrevLogTerm)
	r.logger.Debug("raft: rejected append", "term", r.term, "from", m.From,
		"prev_index", m.PrevLogIndex, "prev_term", m.PrevLogTerm, "hint_index", hintIndex, "hint_term", hintTerm)
	r.send(&raftpb.Message{
		To: m.From, Type: raftpb.MsgAppResp, Reject: true,
		RejectedIndex: m.PrevLogIndex, HintIndex: hintIndex, HintTerm: hintTerm,
	})
}

// handleHeartbeat handles MsgHeartbeat on a follower.
func (r *raft) handleHeartbeat(m *raftpb.Message) {
	// The leader sends a commit index we are known to match; clamp it to
	// our log anyway so a confused leader cannot make us panic.
	if c := min(m.Commit, r.raftLog.lastIndex()); c > r.raftLog.committed {
		r.raftLog.commitTo(c)
	}
	r.send(&raftpb.Message{To: m.From, Type: raftpb.MsgHeartbeatResp, HeartbeatSeq: m.HeartbeatSeq})
}

// handleSnapshot handles MsgSnap on a follower.
func (r *raft) handleSnapshot(m *raftpb.Message) {
	md := m.Snapshot.GetMetadata()
	if r.restore(m.Snapshot) {
		r.logger.Info("raft: restored snapshot", "term", r.term, "snapshot_index", md.GetIndex(),
			"snapshot_term", md.GetTerm())
		r.send(&raftpb.Message{To: m.From, Type: raftpb.MsgAppResp, MatchIndex: r.raftLog.lastIndex()})
		return
	}
	r.logger.Info("raft: ignored snapshot", "term", r.term, "snapshot_index", md.GetIndex(),
		"commit", r.raftLog.committed)
	r.send(&raftpb.Message{To: m.From, Type: raftpb.MsgAppResp, MatchIndex: r.raftLog.committed})
}

// restore installs snapshot s if it is newer than our commit index, and
// reports whether it did.
func (r *raft) restore(s *raftpb.Snapshot) bool {
	md := s.GetMetadata()
	joining := len(r.trk.Progress) == 0
	if md.GetIndex() <= r.raftLog.committed && !r.bugs.InstallStaleSnapshot && !joining {
		return false
	}
	if r.state != StateFollower {
		// Only a leader of the snapshot's term sends snapshots, and the
		// caller made us its follower.
		panic(fmt.Sprintf("raft: %x restoring snapshot in state %s", r.id, r.state))
	}
	if r.raftLog.matchTerm(md.GetIndex(), md.GetTerm()) && !r.bugs.InstallStaleSnapshot && !joining {
		// We hold the snapshot's last entry: just commit up to it.
		r.raftLog.commitTo(md.GetIndex())
		return false
	}
	// Check the configuration before touching the log: a snapshot whose
	// configuration is invalid is refused whole.
	old := r.trk
	r.trk.Progress = tracker.ProgressMap{}
	r.trk.Config = tracker.Config{}
	if err := r.restoreConfState(md.GetConfState()); err != nil {
		r.trk = old
		r.logger.Error("raft: refused snapshot with invalid configuration", "term", r.term,
			"snapshot_index", md.GetIndex(), "err", err)
		return false
	}
	r.raftLog.restore(s)
	r.dropStaleAppendAcks(md.GetIndex() + 1)
	r.confIndex = md.GetIndex()
	r.resetProgressAfterRestore()
	return true
}

// dropStaleAppendAcks withdraws the append acknowledgements still in the
// outbox that cover index from or beyond: the entries they acknowledge
// were replaced (by a new leader's entries or a snapshot) before they were
// persisted, so sending them after this Ready is persisted would claim
// entries the node never stored.
func (r *raft) dropStaleAppendAcks(from uint64) {
	kept := r.msgs[:0]
	for _, m := range r.msgs {
		if m.Type == raftpb.MsgAppResp && !m.Reject && m.MatchIndex >= from {
			r.logger.Debug("raft: withdrew an append ack for replaced entries", "term", r.term,
				"to", m.To, "match_index", m.MatchIndex, "replaced_from", from)
			continue
		}
		kept = append(kept, m)
	}
	clear(r.msgs[len(kept):])
	r.msgs = kept
}
