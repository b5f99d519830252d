// Package raft is the Raft consensus protocol as a pure, deterministic state
// machine.
//
// A node is driven through RawNode: the application feeds it clock ticks
// (Tick), messages from peers (Step), proposals (Propose) and read requests
// (ReadIndex), and collects the resulting work as a Ready batch: state and
// entries to persist, messages to send, committed entries to apply, and
// read states to serve. The package performs no I/O, starts no goroutine
// and reads no clock; given the same inputs and the same Config.Rand it
// produces the same outputs. Time is counted in ticks.
//
// The Ready contract (what must be persisted before which messages are
// sent) is documented on Ready and checked by the simulator in package sim.
package raft

import (
	"fmt"
	"log/slog"
	"math/rand/v2"

	"github.com/ironraft/ironraft/raft/tracker"
	"github.com/ironraft/ironraft/raftpb"
)

// None is the placeholder node ID for "no node".
const None uint64 = 0

// StateType is a node's role.
type StateType uint64

// The roles of a node.
const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

var stateNames = [...]string{"StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"}

// String returns the role's name.
func (st StateType) String() string {
	if int(st) < len(stateNames) {
		return stateNames[st]
	}
	return fmt.Sprintf("StateType(%d)", uint64(st))
}

type stepFunc func(r *raft, m *raftpb.Message) error

// raft is the protocol state of one node. Only RawNode touches it.
type raft struct {
	id   uint64
	term uint64
	vote uint64

	raftLog *raftLog
	trk     tracker.ProgressTracker

	state StateType
	// lead is the leader of the current term as far as this node knows.
	lead uint64

	// msgs is the outbox, emptied by Ready.
	msgs       []*raftpb.Message
	readStates []ReadState
	reads      readIndex

	// appendWanted says proposals were appended and not yet broadcast.
	appendWanted bool
	// pendingConfIndex is the index of the last configuration change the
	// leader may have in its log; another is accepted only once it is
	// applied. Set conservatively to the last index on election.
	pendingConfIndex uint64
	// bugAppliedConfIndex is the last change applied at proposal time by
	// the ApplyConfChangeOnPropose bug, so it is not applied twice.
	bugAppliedConfIndex uint64
	// leadTransferee is the node leadership is being transferred to.
	leadTransferee uint64
	// removedHandoff says this leader applied its own removal and is
	// handing over (see startRemovedHandoff).
	removedHandoff bool
	// transferElapsed counts ticks since the transfer to leadTransferee
	// started; it is abandoned after an election timeout.
	transferElapsed int
	// confIndex is the index of the configuration in effect: of the last
	// applied configuration change, or of the snapshot it came from.
	confIndex uint64
	// timeoutNowSent says this leader told a node to campaign in this term.
	// That node's vote requests bypass the followers' leader stickiness, so
	// the lease no longer holds: lease reads fall back to heartbeat rounds.
	timeoutNowSent bool

	// uncommittedSize is the PayloadSize sum of entries the leader appended
	// in its term and has not yet handed out for application.
	uncommittedSize uint64

	// electionElapsed counts ticks since the last election timeout reset:
	// for followers and candidates since they last heard from a leader or
	// started an election; for a leader since the last CheckQuorum round.
	electionElapsed  int
	heartbeatElapsed int
	// randomizedElectionTimeout is in [electionTimeout, 2*electionTimeout).
	randomizedElectionTimeout int
	// ticks counts every Tick since start; lease reads compare against it.
	ticks uint64
	// restarted says the node started with a non-zero term from storage.
	restarted bool

	heartbeatTimeout int
	electionTimeout  int

	checkQuorum               bool
	preVote                   bool
	readOnlyOption            ReadOnlyOption
	disableProposalForwarding bool
	maxMsgSize                uint64
	maxUncommittedSize        uint64
	maxPendingReads           int

	rand   *rand.Rand
	logger *slog.Logger
	bugs   InjectedBugs

	tick func()
	step stepFunc
}

func newRaft(c *Config) (*raft, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cfg := c.withDefaults()
	hs, cs, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: storage: initial state: %w", err)
	}
	r := &raft{
		id:                        cfg.ID,
		raftLog:                   newLog(cfg.Storage, cfg.MaxCommittedSizePerReady),
		trk:                       tracker.MakeProgressTracker(cfg.MaxInflightMsgs, cfg.MaxInflightBytes),
		heartbeatTimeout:          cfg.HeartbeatTick,
		electionTimeout:           cfg.ElectionTick,
		checkQuorum:               !cfg.DisableCheckQuorum,
		preVote:                   !cfg.DisablePreVote,
		readOnlyOption:            cfg.ReadOnlyOption,
		disableProposalForwarding: cfg.DisableProposalForwarding,
		maxMsgSize:                cfg.MaxSizePerMsg,
		maxUncommittedSize:        cfg.MaxUncommittedEntriesSize,
		maxPendingReads:           cfg.MaxPendingReads,
		rand:                      rand.New(cfg.Rand),
		bugs:                      cfg.TestingBugs,
	}
	r.logger = cfg.Logger.With("raft_id", cfg.ID)
	if err := r.restoreConfState(cs); err != nil {
		return nil, fmt.Errorf("raft: storage: initial configuration %v: %w", cs, err)
	}
	// The storage's configuration is its snapshot's, which may be newer than
	// the log's first index: compaction may keep entries below the
	// snapshot (MemoryStorage.CreateSnapshot then Compact at a lower index).
	r.confIndex = r.raftLog.firstIndex() - 1
	if snap, err := cfg.Storage.Snapshot(); err == nil {
		r.confIndex = max(r.confIndex, snap.GetMetadata().GetIndex())
	}
	if hs != nil && (hs.GetTerm() != 0 || hs.GetVote() != 0 || hs.GetCommit() != 0) {
		if hs.GetCommit() > r.raftLog.lastIndex() {
			return nil, fmt.Errorf("raft: storage: hard state commit %d beyond last index %d",
				hs.GetCommit(), r.raftLog.lastIndex())
		}
		// A commit index need not be synced by itself, so the stored one may
		// be older than the snapshot (committed by definition): keep the
		// larger.
		r.raftLog.committed = max(hs.GetCommit(), r.raftLog.committed)
		r.term, r.vote = hs.GetTerm(), hs.GetVote()
		r.restarted = r.term > 0
	}
	if cfg.Applied > 0 {
		if cfg.Applied > r.raftLog.lastIndex() {
			return nil, fmt.Errorf("raft: config: Applied = %d beyond last index %d", cfg.Applied, r.raftLog.lastIndex())
		}
		// The application applied it, so it was committed, even if the
		// commit index stored with it is older.
		r.raftLog.committed = max(r.raftLog.committed, cfg.Applied)
		if cfg.Applied > r.raftLog.applied {
			r.raftLog.appliedTo(cfg.Applied)
		}
		if err := r.replayConfChanges(cfg.Applied); err != nil {
			return nil, err
		}
	}
	r.becomeFollower(r.term, None)
	r.logger.Info("raft: node started", "term", r.term, "commit", r.raftLog.committed,
		"applied", r.raftLog.applied, "last_index", r.raftLog.lastIndex(), "config", r.trk.Config.String())
	return r, nil
}

// hardState returns the state to persist.
func (r *raft) hardState() *raftpb.HardState {
	return &raftpb.HardState{Term: r.term, Vote: r.vote, Commit: r.raftLog.committed}
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

// isLearner reports whether this node is a learner (or not a member).
func (r *raft) promotable() bool {
	pr := r.trk.Progress[r.id]
	return pr != nil && !pr.IsLearner && !r.raftLog.hasPendingSnapshot()
}

// send queues m for delivery; the term is filled in here.
func (r *raft) send(m *raftpb.Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case raftpb.MsgVote, raftpb.MsgPreVote:
		// Vote requests carry the term they are about, set by the caller.
		if m.Term == 0 {
			panic(fmt.Sprintf("raft: %s sent without a term", m.Type))
		}
	case raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
		// Vote responses carry the term set by the caller: the request's
		// term when granted, ours (possibly 0) when rejected.
	case raftpb.MsgProp, raftpb.MsgReadIndex, raftpb.MsgTransferLeader:
		// Forwarded requests carry no term: they are not about one.
	default:
		if m.Term != 0 {
			panic(fmt.Sprintf("raft: %s term %d set by caller", m.Type, m.Term))
		}
		m.Term = r.term
	}
	r.msgs = append(r.msgs, m)
}

func (r *raft) reset(term uint64) {
	if r.term != term {
		r.term = term
		r.vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.trk.ResetVotes()
	r.reads.reset(r)
	r.uncommittedSize = 0
	r.appendWanted = false
	r.abortLeaderTransfer()
	r.timeoutNowSent = false
	r.removedHandoff = false
	last := r.raftLog.lastIndex()
	r.trk.Visit(func(id uint64, pr *tracker.Progress) {
		*pr = tracker.Progress{
			Match:     0,
			Next:      last + 1,
			Inflights: tracker.NewInflights(r.trk.MaxInflight, r.trk.MaxInflightBytes),
			IsLearner: pr.IsLearner,
		}
		if id == r.id {
			// The leader counts only what it has persisted (see Advance).
			pr.Match = r.raftLog.stableLastIndex()
			pr.RecentActive = true
		}
	})
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.step = stepFollower
	r.reset(term)
	r.tick = r.tickElection
	r.lead = lead
	r.state = StateFollower
	r.logger.Info("raft: became follower", "term", r.term, "leader", lead)
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		panic(fmt.Sprintf("raft: %x: invalid transition leader -> candidate", r.id))
	}
	r.step = stepCandidate
	r.reset(r.term + 1)
	r.tick = r.tickElection
	r.vote = r.id
	r.state = StateCandidate
	r.logger.Info("raft: became candidate", "term", r.term)
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		panic(fmt.Sprintf("raft: %x: invalid transition leader -> pre-candidate", r.id))
	}
	// A pre-candidate changes neither term nor vote, and keeps its leader
	// unknown so it can grant pre-votes to others.
	r.step = stepCandidate
	r.trk.ResetVotes()
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
	r.logger.Info("raft: became pre-candidate", "term", r.term)
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		panic(fmt.Sprintf("raft: %x: invalid transition follower -> leader", r.id))
	}
	r.step = stepLeader
	r.reset(r.term)
	r.tick = r.tickHeartbeat
	r.lead = r.id
	r.state = StateLeader
	r.trk.Progress[r.id].BecomeReplicate()
	// A configuration change may sit uncommitted in our log: treat it as
	// pending until everything up to here is applied.
	r.pendingConfIndex = r.raftLog.lastIndex()
	// The no-op of the new term lets the leader commit, and so learn the
	// commit index, promptly (paper §5.4.2, §8).
	if !r.appendEntry(&raftpb.Entry{Type: raftpb.EntryNormal}) {
		panic("raft: empty no-op entry refused by the uncommitted size limit")
	}
	r.logger.Info("raft: became leader", "term", r.term, "last_index", r.raftLog.lastIndex())
}

// tickElection runs on followers and candidates.
func (r *raft) tickElection() {
	r.electionElapsed++
	if r.promotable() && r.electionElapsed >= r.randomizedElectionTimeout {
		r.electionElapsed = 0
		r.stepLocal(&raftpb.Message{Type: raftpb.MsgHup})
	}
}

// tickHeartbeat runs on the leader.
func (r *raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			r.stepLocal(&raftpb.Message{Type: raftpb.MsgCheckQuorum})
		}
	}
	if r.state == StateLeader && r.leadTransferee != None {
		// A transfer that did not finish within an election timeout is
		// abandoned, and proposals are accepted again.
		r.transferElapsed++
		if r.transferElapsed >= r.electionTimeout {
			if r.removedHandoff {
				r.logger.Info("raft: removed leader stepping down", "term", r.term)
				r.becomeFollower(r.term, None)
				return
			}
			r.abortLeaderTransfer()
		}
	}
	if r.state != StateLeader {
		return
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		r.stepLocal(&raftpb.Message{Type: raftpb.MsgBeat})
	}
}

// stepLocal steps a message the node made itself; those never fail in a
// way the caller could act on.
func (r *raft) stepLocal(m *raftpb.Message) {
	if err := r.Step(m); err != nil {
		r.logger.Debug("raft: local step", "type", m.Type.String(), "err", err)
	}
}

// Step advances the state machine by one message.
func (r *raft) Step(m *raftpb.Message) error {
	switch {
	case m.Term == 0:
		// Local message or a forwarded request.
	case m.Term > r.term:
		if (m.Type == raftpb.MsgVote || m.Type == raftpb.MsgPreVote) && !r.isVoter(m.From) && len(r.trk.Progress) > 0 {
			// A node that is not a voter in our configuration (a learner,
			// removed, or not yet added as far as we know) can neither win
			// nor disrupt an election.
			r.logger.Debug("raft: ignored vote request from a non-member", "term", r.term,
				"from", m.From, "msg_term", m.Term)
			return nil
		}
		if m.Type == raftpb.MsgVote || m.Type == raftpb.MsgPreVote {
			// A node that heard from a live leader within the minimum
			// election timeout does not help depose it (dissertation §4.2.3).
			inLease := r.checkQuorum && r.lead != None && r.electionElapsed < r.electionTimeout
			// With lease reads, a node that restarted may have heard from the
			// leader right before it went down: it too waits an election
			// timeout before it helps elect anyone else. (A node that never
			// saw a term can have promised nothing.)
			startup := r.readOnlyOption == ReadOnlyLeaseBased && r.restarted && r.ticks < uint64(r.electionTimeout)
			if (inLease || startup) && !m.Transfer {
				r.logger.Debug("raft: ignored vote request within leader lease", "term", r.term,
					"from", m.From, "msg_term", m.Term, "type", m.Type.String())
				return nil
			}
		}
		switch {
		case m.Type == raftpb.MsgPreVote:
			// Pre-votes never change our term.
		case m.Type == raftpb.MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the term we will campaign in; we
			// move to it only when a quorum grants.
		default:
			r.logger.Info("raft: received higher term", "term", r.term, "from", m.From,
				"msg_term", m.Term, "type", m.Type.String())
			if m.Type == raftpb.MsgApp || m.Type == raftpb.MsgHeartbeat || m.Type == raftpb.MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.term:
		switch m.Type {
		case raftpb.MsgHeartbeat, raftpb.MsgApp:
			if r.checkQuorum || r.preVote {
				// A stale leader cut off by a partition would otherwise never
				// learn the new term (our pre-votes or lease make us ignore
				// its peers' vote requests): tell it.
				// It is a rejection of nothing (index 0), so that if reordering
				// delivers it to a leader of our term, that leader ignores it.
				r.send(&raftpb.Message{To: m.From, Type: raftpb.MsgAppResp, Reject: true})
			}
		case raftpb.MsgPreVote:
			r.send(r.voteResp(m.From, r.term, raftpb.MsgPreVoteResp, true))
		}
		return nil
	}
	if m.Type == raftpb.MsgVoteResp || m.Type == raftpb.MsgPreVoteResp {
		r.learnCommit(m)
	}

	switch m.Type {
	case raftpb.MsgHup:
		r.hup()
	case raftpb.MsgVote, raftpb.MsgPreVote:
		r.handleVoteRequest(m)
	default:
		return r.step(r, m)
	}
	return nil
}

func stepFollower(r *raft, m *raftpb.Message) error {
	switch m.Type {
	case raftpb.MsgProp:
		if r.lead == None {
			return fmt.Errorf("%w: no leader at term %d", ErrProposalDropped, r.term)
		}
		if r.disableProposalForwarding {
			return fmt.Errorf("%w: not leader and proposal forwarding is disabled", ErrProposalDropped)
		}
		if m.From != r.id {
			return fmt.Errorf("%w: forwarded proposal reached a follower", ErrProposalDropped)
		}
		r.send(&raftpb.Message{To: r.lead, Type: raftpb.MsgProp, Entries: m.Entries})
	case raftpb.MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case raftpb.MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case raftpb.MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case raftpb.MsgReadIndex:
		return r.forwardReadIndex(m)
	case raftpb.MsgReadIndexResp:
		r.reads.handleResponse(r, m)
	case raftpb.MsgTimeoutNow:
		r.handleTimeoutNow(m)
	case raftpb.MsgTransferLeader:
		if m.From != r.id {
			r.ignored(m) // forwarded to us, but we are not leader
			return nil
		}
		if r.lead == None {
			return fmt.Errorf("%w: no leader at term %d to transfer from", ErrProposalDropped, r.term)
		}
		r.send(&raftpb.Message{To: r.lead, Type: raftpb.MsgTransferLeader, Transferee: m.Transferee})
	default:
		r.ignored(m)
	}
	return nil
}

func stepCandidate(r *raft, m *raftpb.Message) error {
	// A pre-candidate collects MsgPreVoteResp; a candidate MsgVoteResp.
	respType := raftpb.MsgVoteResp
	if r.state == StatePreCandidate {
		respType = raftpb.MsgPreVoteResp
	}
	switch m.Type {
	case raftpb.MsgProp:
		return fmt.Errorf("%w: election in progress at term %d", ErrProposalDropped, r.term)
	case raftpb.MsgApp:
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case raftpb.MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case raftpb.MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case respType:
		r.poll(m.From, m.Type, !m.Reject)
	case raftpb.MsgReadIndex:
		return r.forwardReadIndex(m)
	case raftpb.MsgReadIndexResp:
		r.reads.handleResponse(r, m)
	default:
		r.ignored(m)
	}
	return nil
}

func (r *raft) ignored(m *raftpb.Message) {
	r.logger.Debug("raft: ignored message", "term", r.term, "state", r.state.String(),
		"type", m.Type.String(), "from", m.From, "msg_term", m.Term)
}

// isVoter reports whether id votes in either half of the configuration.
func (r *raft) isVoter(id uint64) bool {
	_, in := r.trk.Voters[0][id]
	_, out := r.trk.Voters[1][id]
	return in || out
}
