package raft

import (
	"github.com/ironraft/ironraft/raft/quorum"
	"github.com/ironraft/ironraft/raftpb"
)

// campaignType says why an election starts.
type campaignType int

const (
	campaignPreElection campaignType = iota
	campaignElection
	campaignTransfer
)

// hup starts an election if this node may.
func (r *raft) hup() {
	if r.state == StateLeader {
		r.logger.Debug("raft: ignored MsgHup: already leader", "term", r.term)
		return
	}
	if !r.promotable() {
		r.logger.Debug("raft: ignored MsgHup: not promotable", "term", r.term)
		return
	}
	if r.hasUnappliedConfChanges() {
		// The configuration we would campaign in may be stale.
		r.logger.Debug("raft: ignored MsgHup: unapplied configuration changes", "term", r.term)
		return
	}
	if r.preVote {
		r.campaign(campaignPreElection)
	} else {
		r.campaign(campaignElection)
	}
}

// hasUnappliedConfChanges reports whether a committed configuration change
// has not been applied yet.
func (r *raft) hasUnappliedConfChanges() bool {
	l := r.raftLog
	if l.applied >= l.committed {
		return false
	}
	found := false
	lo, hi := l.applied+1, l.committed+1
	for lo < hi && !found {
		ents, err := l.slice(lo, hi, l.maxApplyingBytes)
		if err != nil {
			r.logger.Error("raft: reading unapplied entries", "term", r.term, "err", err)
			return true
		}
		for _, e := range ents {
			if e.GetType() == raftpb.EntryConfChange {
				found = true
				break
			}
		}
		lo += uint64(len(ents))
	}
	return found
}

func (r *raft) campaign(t campaignType) {
	var term uint64
	var voteMsg raftpb.MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = raftpb.MsgPreVote
		// Pre-votes ask about the term we would move to.
		term = r.term + 1
	} else {
		r.becomeCandidate()
		voteMsg = raftpb.MsgVote
		term = r.term
	}
	ids := r.trk.VoterNodes()
	if r.bugs.CountLearnerVotes {
		ids = append(ids, r.trk.LearnerNodes()...)
	}
	for _, id := range ids {
		if id == r.id {
			// Our own vote is in the HardState this Ready persists.
			r.poll(id, raftpb.VoteRespType(voteMsg), true)
			continue
		}
		r.send(&raftpb.Message{
			To: id, Term: term, Type: voteMsg,
			LastLogIndex: r.raftLog.lastIndex(), LastLogTerm: r.raftLog.lastTerm(),
			Transfer: t == campaignTransfer,
		})
	}
}

// poll records a vote and acts on the result.
func (r *raft) poll(id uint64, t raftpb.MessageType, granted bool) {
	if r.trk.Progress[id] == nil {
		r.logger.Debug("raft: ignored vote of a non-member", "term", r.term, "from", id)
		return
	}
	r.trk.RecordVote(id, granted)
	gr, rj, res := r.trk.TallyVotes()
	if r.bugs.CountLearnerVotes && res == quorum.VotePending {
		// The bug: learners' grants count toward the incoming majority.
		n := 0
		for vid, v := range r.trk.Votes {
			if _, voter := r.trk.Voters[0][vid]; v && (voter || r.trk.Progress[vid] != nil) {
				n++
			}
		}
		if n > len(r.trk.Voters[0])/2 {
			res = quorum.VoteWon
		}
	}
	r.logger.Debug("raft: vote received", "term", r.term, "from", id, "type", t.String(),
		"granted", granted, "granted_total", gr, "rejected_total", rj)
	switch res {
	case quorum.VoteWon:
		if r.state == StatePreCandidate {
			r.campaign(campaignElection)
		} else {
			r.becomeLeader()
			r.bcastAppend()
		}
	case quorum.VoteLost:
		// Pre-candidates and candidates go back to followers in the same term
		// and wait for a leader or their next timeout.
		r.becomeFollower(r.term, None)
	}
}

// handleVoteRequest answers MsgVote and MsgPreVote whose term is not
// stale (Step checked it).
func (r *raft) handleVoteRequest(m *raftpb.Message) {
	// We can vote for m.From if we already did in this term, if we have
	// voted for nobody and know no leader, or (pre-vote) if it asks about a
	// future term.
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == raftpb.MsgPreVote && m.Term > r.term)
	upToDate := r.bugs.VoteWithoutLogCheck || r.raftLog.isUpToDate(m.LastLogIndex, m.LastLogTerm)
	respType := raftpb.VoteRespType(m.Type)
	if canVote && upToDate {
		r.logger.Info("raft: granted vote", "term", r.term, "to", m.From, "type", m.Type.String(),
			"msg_term", m.Term, "last_index", r.raftLog.lastIndex(), "last_term", r.raftLog.lastTerm())
		// The response carries the term of the request: for a pre-vote it is
		// the future term, which we do not adopt.
		r.send(r.voteResp(m.From, m.Term, respType, false))
		if m.Type == raftpb.MsgVote {
			r.electionElapsed = 0
			r.vote = m.From
		}
		return
	}
	r.logger.Info("raft: rejected vote", "term", r.term, "to", m.From, "type", m.Type.String(),
		"msg_term", m.Term, "voted_for", r.vote, "last_index", r.raftLog.lastIndex(), "last_term", r.raftLog.lastTerm())
	r.send(r.voteResp(m.From, r.term, respType, true))
}

// voteResp is a vote response. It carries our commit index and the term of
// the entry there (commit, hint_term) so that a candidate that has that
// entry learns it is committed (learnCommit). Without it, a member of a new
// configuration whose log holds a committed leave-joint entry could wait
// forever for a vote from a removed member whose longer log makes it refuse
// every such candidate, while that member, removed, never campaigns itself
// (see docs/divergence.md).
func (r *raft) voteResp(to, term uint64, typ raftpb.MessageType, reject bool) *raftpb.Message {
	m := &raftpb.Message{To: to, Term: term, Type: typ, Reject: reject}
	if c := r.raftLog.committed; c > 0 {
		if t, err := r.raftLog.term(c); err == nil {
			m.Commit, m.HintTerm = c, t
		}
	}
	return m
}

// learnCommit takes the commit index a vote response carries if our log
// holds the entry there with the same term: by log matching, our log up to
// it is the committed prefix, so committing it is safe whatever our role.
// A leader learns nothing this way that it could need.
func (r *raft) learnCommit(m *raftpb.Message) {
	if r.state == StateLeader || m.Commit <= r.raftLog.committed || m.Commit > r.raftLog.lastIndex() || m.HintTerm == 0 {
		return
	}
	if t, err := r.raftLog.term(m.Commit); err == nil && t == m.HintTerm {
		r.logger.Info("raft: learned the commit index from a vote response", "term", r.term, "from", m.From,
			"commit", m.Commit)
		r.raftLog.commitTo(m.Commit)
	}
}
