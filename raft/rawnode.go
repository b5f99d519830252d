package raft

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raft/tracker"
	"github.com/ironraft/ironraft/raftpb"
)

// SoftState is volatile state that is useful for logging and routing and
// need not be persisted.
type SoftState struct {
	// Lead is the leader known to this node (None if unknown).
	Lead      uint64
	RaftState StateType
}

// Ready is a batch of work the node hands to the application. Handle it in
// this order, then call Advance:
//
//  1. Send MessagesBeforePersist. They may leave before anything of this
//     Ready is persisted: they are the leader's replication messages, which
//     a leader may send in parallel with its own write (dissertation
//     §10.2.1), and requests forwarded to the leader. A Ready that changes
//     the term or vote puts every message after persistence instead.
//  2. Persist Snapshot (if not nil), then Entries (replacing any stored
//     entries they overlap), then HardState (if not nil). When MustSync is
//     true, the write must be durable (fsync) before step 3.
//  3. Send MessagesAfterPersist. They acknowledge or promise something
//     about the state persisted in step 2 (votes, append acknowledgements);
//     sending one before that state is durable can lose a committed entry
//     or elect two leaders in one term after a crash.
//  4. Apply Snapshot (if not nil) and then CommittedEntries to the state
//     machine, and serve ReadStates once their Index is applied.
//
// Every entry in CommittedEntries was persisted by an earlier Ready or in
// step 2 of this one. Messages and entries handed out must not be modified.
type Ready struct {
	// SoftState is the new soft state, nil if it did not change.
	*SoftState
	// HardState is the state to persist, nil if it did not change.
	HardState *raftpb.HardState
	// Snapshot is a snapshot to persist and then apply; nil if none.
	Snapshot *raftpb.Snapshot
	// Entries are to be persisted (appended, replacing any suffix of the
	// stored log from the first entry's index on).
	Entries []*raftpb.Entry
	// CommittedEntries are to be applied, in order.
	CommittedEntries []*raftpb.Entry
	// MessagesBeforePersist may be sent before persisting this Ready.
	MessagesBeforePersist []*raftpb.Message
	// MessagesAfterPersist must be sent only after this Ready is persisted.
	MessagesAfterPersist []*raftpb.Message
	// ReadStates answer ReadIndex requests.
	ReadStates []ReadState
	// MustSync says step 2 must end with an fsync: the term, vote or log
	// changed. A change of the commit index alone need not be synced.
	MustSync bool
}

// RawNode is a Raft node driven synchronously by the caller. It is not
// safe for concurrent use.
type RawNode struct {
	raft     *raft
	prevSoft SoftState
	prevHard *raftpb.HardState
	// inReady describes the Ready handed out and not yet advanced.
	inReady *readyMarks
}

// readyMarks remembers what a Ready handed out, so Advance can acknowledge
// exactly that even if more was stepped in between.
type readyMarks struct {
	stableIndex, stableTerm uint64
	snapIndex               uint64
	hasSnap                 bool
	applying                uint64
	committedSize           uint64
	// confChanges are the committed configuration changes handed out; they
	// take effect when the Ready is advanced (the application applied them).
	confChanges []*raftpb.Entry
	// termChanged says the Ready changes the term or vote: until it is
	// persisted, no message may leave (MessagesBeforeAdvance).
	termChanged bool
}

// NewRawNode returns a node configured by c, starting from the state in
// c.Storage. A new cluster is bootstrapped by storing the initial
// configuration (for example with MemoryStorage.SetConfState) before
// calling it; a node with an empty configuration waits to be contacted by a
// leader.
func NewRawNode(c *Config) (*RawNode, error) {
	r, err := newRaft(c)
	if err != nil {
		return nil, err
	}
	r.reads.nextID = r.rand.Uint64() >> 1
	return &RawNode{raft: r, prevSoft: r.softState(), prevHard: r.hardState()}, nil
}

// Tick advances the node's clock by one tick.
func (rn *RawNode) Tick() {
	rn.raft.ticks++
	rn.raft.tick()
}

// Campaign makes the node start an election now (with a pre-vote first if
// enabled), if it may.
func (rn *RawNode) Campaign() error {
	return rn.raft.Step(&raftpb.Message{Type: raftpb.MsgHup})
}

// Propose proposes data to be appended to the log. A follower forwards it
// to the leader (unless forwarding is disabled); nil means accepted or
// forwarded, not committed: the outcome is known only when the entry
// appears in CommittedEntries. It fails with ErrProposalDropped when no
// leader is known and ErrUncommittedLogFull when the leader's bound on
// uncommitted entries is reached.
func (rn *RawNode) Propose(data []byte) error {
	return rn.raft.Step(&raftpb.Message{
		Type: raftpb.MsgProp, From: rn.raft.id,
		Entries: []*raftpb.Entry{{Type: raftpb.EntryNormal, Data: data}},
	})
}

// ProposeConfChange proposes a membership change. It is appended like any
// proposal (followers forward it) and takes effect on every node when the
// application has applied its entry (Advance after the Ready that carried
// it in CommittedEntries). Only one change may be pending at a time: the
// leader refuses another with ErrPendingConfChange, and a change that is
// invalid from the current configuration with ErrInvalidConfChange.
//
// A change with a single ConfChangeSingle is made directly; with several
// (whatever their kind), or with a joint transition, the group enters a joint configuration (dissertation
// §4.3), which the leader leaves by itself unless the transition is
// ConfChangeTransitionJointExplicit — then propose an empty ConfChange.
func (rn *RawNode) ProposeConfChange(cc *raftpb.ConfChange) error {
	data, err := proto.Marshal(cc)
	if err != nil {
		return fmt.Errorf("raft: encoding conf change: %w", err)
	}
	return rn.raft.Step(&raftpb.Message{
		Type: raftpb.MsgProp, From: rn.raft.id,
		Entries: []*raftpb.Entry{{Type: raftpb.EntryConfChange, Data: data}},
	})
}

// TransferLeader asks the leader (directly, or through this follower) to
// hand leadership to transferee: the leader stops accepting proposals,
// brings transferee's log up to date and tells it to campaign at once. A
// transfer that has not finished after an election timeout is abandoned.
// It fails with ErrInvalidTransferee (on the leader) for a learner or a
// node outside the configuration.
func (rn *RawNode) TransferLeader(transferee uint64) error {
	return rn.raft.Step(&raftpb.Message{Type: raftpb.MsgTransferLeader, From: rn.raft.id, Transferee: transferee})
}

// ConfState returns the configuration in effect: the one of the last
// applied configuration change, or of the snapshot or storage the node
// started from. Pass it to the snapshot taken at the applied index.
func (rn *RawNode) ConfState() *raftpb.ConfState { return rn.raft.trk.ConfState() }

// ReadIndex requests a linearizable read. It returns the request's ID; a
// ReadState with that ID appears in a later Ready. The request may also be
// lost (for example with a message to the leader): callers time out and
// retry with a new request.
func (rn *RawNode) ReadIndex() (uint64, error) {
	r := rn.raft
	r.reads.nextID++
	id := r.reads.nextID
	if err := r.Step(&raftpb.Message{Type: raftpb.MsgReadIndex, From: r.id, ReadId: id}); err != nil {
		return 0, err
	}
	return id, nil
}

// Step feeds a message received from a peer into the node. Malformed
// messages are refused with an error wrapping ErrInvalidMessage and change
// nothing.
func (rn *RawNode) Step(m *raftpb.Message) error {
	if raftpb.IsLocalMsg(m.GetType()) {
		return fmt.Errorf("%w: %s", ErrStepLocalMsg, m.GetType())
	}
	if err := rn.raft.validate(m); err != nil {
		return err
	}
	if raftpb.IsResponseMsg(m.Type) && m.Type != raftpb.MsgReadIndexResp &&
		rn.raft.trk.Progress[m.From] == nil && rn.raft.state == StateLeader {
		return fmt.Errorf("%w: %s from %d", ErrStepPeerNotFound, m.Type, m.From)
	}
	return rn.raft.Step(m)
}

// ReportUnreachable tells the node that a message to id could not be sent.
func (rn *RawNode) ReportUnreachable(id uint64) {
	rn.raft.stepLocal(&raftpb.Message{Type: raftpb.MsgUnreachable, From: id})
}

// ReportSnapshot tells the node whether sending a snapshot to id succeeded.
// The application must call it for every MsgSnap it sends: until then the
// leader sends that follower nothing else.
func (rn *RawNode) ReportSnapshot(id uint64, ok bool) {
	rn.raft.stepLocal(&raftpb.Message{Type: raftpb.MsgSnapStatus, From: id, Reject: !ok})
}

// HasReady reports whether Ready would return anything to do.
func (rn *RawNode) HasReady() bool {
	if rn.inReady != nil {
		return false
	}
	r := rn.raft
	if r.softState() != rn.prevSoft {
		return true
	}
	if hs := r.hardState(); !hardStateEqual(hs, rn.prevHard) {
		return true
	}
	return r.raftLog.hasPendingSnapshot() || len(r.raftLog.unstableEntries()) > 0 ||
		len(r.msgs) > 0 || len(r.readStates) > 0 || r.raftLog.hasNextCommittedEnts() ||
		r.reads.roundWanted || r.appendWanted
}

// flushAppends broadcasts the entries proposed since the last Ready.
func (r *raft) flushAppends() {
	if r.appendWanted && r.state == StateLeader {
		r.bcastAppend()
	}
	r.appendWanted = false
}

// Ready returns the pending work. The caller must handle it as documented
// on Ready and call Advance before calling Ready again.
func (rn *RawNode) Ready() Ready {
	if rn.inReady != nil {
		panic("raft: Ready called again before Advance")
	}
	r := rn.raft
	r.flushAppends()
	r.reads.flush(r)
	rd := Ready{
		Entries:          r.raftLog.unstableEntries(),
		CommittedEntries: r.raftLog.nextCommittedEnts(),
		ReadStates:       r.readStates,
	}
	if ss := r.softState(); ss != rn.prevSoft {
		rn.prevSoft = ss
		rd.SoftState = &ss
	}
	hs := r.hardState()
	termChanged := hs.Term != rn.prevHard.Term || hs.Vote != rn.prevHard.Vote
	if !hardStateEqual(hs, rn.prevHard) {
		rd.MustSync = termChanged
		rd.HardState = hs
		rn.prevHard = hs
	}
	if r.raftLog.hasPendingSnapshot() {
		rd.Snapshot = r.raftLog.unstable.snapshot
		rd.MustSync = true
	}
	if len(rd.Entries) > 0 {
		rd.MustSync = true
	}
	// When this Ready changes the term or vote, every message waits for it
	// to be persisted: none may carry a term that a crash could make this
	// node forget.
	for _, m := range r.msgs {
		if !termChanged && r.mayLeaveBeforePersist(m) {
			rd.MessagesBeforePersist = append(rd.MessagesBeforePersist, m)
		} else {
			rd.MessagesAfterPersist = append(rd.MessagesAfterPersist, m)
		}
	}
	r.msgs = nil
	r.readStates = nil

	marks := &readyMarks{termChanged: termChanged}
	if n := len(rd.Entries); n > 0 {
		marks.stableIndex, marks.stableTerm = rd.Entries[n-1].GetIndex(), rd.Entries[n-1].GetTerm()
	}
	if rd.Snapshot != nil {
		marks.hasSnap = true
		marks.snapIndex = rd.Snapshot.GetMetadata().GetIndex()
	}
	if n := len(rd.CommittedEntries); n > 0 {
		marks.applying = rd.CommittedEntries[n-1].GetIndex()
		r.raftLog.acceptApplying(marks.applying)
		marks.committedSize = raftpb.EntriesSize(rd.CommittedEntries)
		for _, e := range rd.CommittedEntries {
			if e.GetType() == raftpb.EntryConfChange {
				marks.confChanges = append(marks.confChanges, e)
			}
		}
	}
	rn.inReady = marks
	return rd
}

// MessagesBeforeAdvance returns, while a Ready is being handled, the
// leader's appends (and heartbeats) for what happened since that Ready:
// entries proposed meanwhile go to the followers while the Ready's own
// entries are still being persisted, instead of waiting for Advance and
// the next Ready. They obey the rule of MessagesBeforePersist: none is
// returned while the Ready being handled changes the term or vote, and
// messages that promise something about this node's durable state stay
// for a later Ready. It returns nil when no Ready is outstanding (call
// Ready instead) or the node does not lead. Send them before the
// outstanding Ready's MessagesAfterPersist or after, in any order.
func (rn *RawNode) MessagesBeforeAdvance() []*raftpb.Message {
	r := rn.raft
	if rn.inReady == nil || rn.inReady.termChanged || r.state != StateLeader {
		return nil
	}
	if hs := r.hardState(); hs.Term != rn.prevHard.Term || hs.Vote != rn.prevHard.Vote {
		return nil
	}
	r.flushAppends()
	var out, keep []*raftpb.Message
	for _, m := range r.msgs {
		if r.mayLeaveBeforePersist(m) {
			out = append(out, m)
		} else {
			keep = append(keep, m)
		}
	}
	r.msgs = keep
	return out
}

// mayLeaveBeforePersist says whether m belongs in MessagesBeforePersist.
func (r *raft) mayLeaveBeforePersist(m *raftpb.Message) bool {
	switch m.Type {
	case raftpb.MsgApp, raftpb.MsgSnap, raftpb.MsgHeartbeat, raftpb.MsgTimeoutNow:
		// The leader's replication: its term was persisted before it could
		// win, and these promise nothing about its own log.
		return true
	case raftpb.MsgProp, raftpb.MsgReadIndex, raftpb.MsgReadIndexResp, raftpb.MsgTransferLeader:
		// Requests and read answers depend on no state being persisted:
		// the read index never exceeds the leader's persisted commit.
		return true
	case raftpb.MsgAppResp:
		return r.bugs.AckAppendBeforePersist
	}
	return false
}

// Advance tells the node that the last Ready was handled: persisted, sent
// and applied.
func (rn *RawNode) Advance() {
	marks := rn.inReady
	if marks == nil {
		panic("raft: Advance called without a Ready")
	}
	rn.inReady = nil
	r := rn.raft
	if marks.hasSnap {
		r.raftLog.snapshotApplied(marks.snapIndex)
	}
	if marks.stableIndex > 0 {
		r.raftLog.stableTo(marks.stableIndex, marks.stableTerm)
	}
	if marks.applying > 0 {
		r.raftLog.appliedTo(marks.applying)
		if r.state == StateLeader {
			r.uncommittedSize -= min(r.uncommittedSize, marks.committedSize)
		}
	}
	for _, e := range marks.confChanges {
		if e.GetIndex() <= r.bugAppliedConfIndex {
			continue // applied early by the ApplyConfChangeOnPropose bug
		}
		if e.GetIndex() <= r.confIndex {
			// A snapshot stepped in after this Ready already carries a
			// configuration that includes this change.
			continue
		}
		r.applyConfChange(e)
	}
	if marks.applying > 0 {
		r.maybeAutoLeave()
	}
	if r.state == StateLeader && (marks.stableIndex > 0 || marks.hasSnap) {
		// The leader counts its own entries only once they are durable.
		r.stepLocalAck(r.raftLog.stableLastIndex())
	}
}

// stepLocalAck records that the leader persisted its log up to index.
func (r *raft) stepLocalAck(index uint64) {
	pr := r.trk.Progress[r.id]
	if pr == nil {
		return
	}
	if pr.MaybeUpdate(index) && r.maybeCommit() {
		r.bcastAppend()
	}
}

// Status returns the node's current state.
func (rn *RawNode) Status() Status {
	r := rn.raft
	st := Status{
		ID:        r.id,
		HardState: r.hardState(),
		SoftState: r.softState(),
		Applied:   r.raftLog.applied,
		LastIndex: r.raftLog.lastIndex(),
		Config:    r.trk.Config.String(),
	}
	if r.state == StateLeader {
		st.Progress = make(map[uint64]tracker.Progress, len(r.trk.Progress))
		r.trk.Visit(func(id uint64, pr *tracker.Progress) {
			cp := *pr
			cp.Inflights = pr.Inflights.Clone()
			st.Progress[id] = cp
		})
	}
	return st
}

// Status is a snapshot of a node's state for monitoring and tests.
type Status struct {
	ID        uint64
	HardState *raftpb.HardState
	SoftState
	Applied   uint64
	LastIndex uint64
	// Config describes the voters and learners.
	Config string
	// Progress holds the follower progress; only on the leader.
	Progress map[uint64]tracker.Progress
}

func hardStateEqual(a, b *raftpb.HardState) bool {
	return a.GetTerm() == b.GetTerm() && a.GetVote() == b.GetVote() && a.GetCommit() == b.GetCommit()
}

// errUnknownType is returned for message types the core does not handle.
var errUnknownType = errors.New("unknown message type")
