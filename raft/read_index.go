package raft

import (
	"fmt"
	"slices"

	"github.com/ironraft/ironraft/raft/quorum"
	"github.com/ironraft/ironraft/raftpb"
)

// readRequest is a ReadIndex request waiting at the leader.
type readRequest struct {
	// from is the node that issued the request; id its ID there.
	from, id uint64
	// index is the commit index when the request was registered.
	index uint64
	// seq is the heartbeat round whose quorum acknowledgement confirms the
	// request: the first round started after the request arrived.
	seq uint64
}

// readIndex serves linearizable reads (dissertation §6.4). The leader
// confirms it is still leader by a heartbeat round acknowledged by a quorum
// and started after the request arrived; reads arriving together share a
// round. Until the leader has committed an entry of its term, its commit
// index may lag earlier leaders', so requests wait for that first commit.
type readIndex struct {
	// seq is the last heartbeat round started in this term.
	seq uint64
	// roundWanted says a request waits for a round not yet started;
	// RawNode starts it when building the next Ready, so that requests
	// stepped in between share it.
	roundWanted bool
	// acks holds, per voter, the highest round it acknowledged.
	acks map[uint64]uint64
	// roundTicks holds the tick at which each unconfirmed or last confirmed
	// round was sent, for lease reads. Ascending by seq.
	roundTicks []roundTick
	// pending requests wait for a round; ascending by seq.
	pending []readRequest
	// waitingCommit requests wait for the first commit of the term.
	waitingCommit []readRequest
	// forwarded holds the IDs of this node's requests sent to the leader
	// and not yet answered. Bounded by maxPendingReads.
	forwarded map[uint64]struct{}
	// nextID is the last ID handed out by ReadIndex on this node.
	nextID uint64
}

type roundTick struct{ seq, tick uint64 }

// reset drops every waiting request; run on every role change.
func (ri *readIndex) reset(r *raft) {
	for _, q := range ri.waitingCommit {
		ri.drop(r, q)
	}
	for _, q := range ri.pending {
		ri.drop(r, q)
	}
	// Our forwarded requests may have died with the old term: tell the
	// application now rather than letting it time out. A late answer is
	// ignored (the ID is no longer known).
	ids := make([]uint64, 0, len(ri.forwarded))
	for id := range ri.forwarded {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r.readStates = append(r.readStates, ReadState{ID: id, Dropped: true})
	}
	ri.forwarded = nil
	ri.waitingCommit, ri.pending, ri.roundTicks = nil, nil, nil
	ri.seq, ri.roundWanted = 0, false
	ri.acks = map[uint64]uint64{}
}

func (ri *readIndex) size() int { return len(ri.pending) + len(ri.waitingCommit) }

// handleRequest handles MsgReadIndex on the leader.
func (ri *readIndex) handleRequest(r *raft, m *raftpb.Message) {
	q := readRequest{from: m.From, id: m.ReadId}
	if ri.size() >= r.maxPendingReads {
		r.logger.Warn("raft: dropped read request: too many pending", "term", r.term,
			"from", m.From, "pending", ri.size())
		ri.drop(r, q)
		return
	}
	if !r.committedInTerm() && !r.bugs.ReadBeforeTermCommit {
		ri.waitingCommit = append(ri.waitingCommit, q)
		return
	}
	ri.register(r, q)
}

// register assigns the request its index and round.
func (ri *readIndex) register(r *raft, q readRequest) {
	q.index = r.raftLog.committed
	if r.trk.IsSingleton() || (r.readOnlyOption == ReadOnlyLeaseBased && !r.timeoutNowSent && ri.leaseValid(r)) {
		ri.respond(r, q, q.index)
		return
	}
	q.seq = ri.seq + 1
	ri.pending = append(ri.pending, q)
	ri.roundWanted = true
}

// onCommit runs when the leader's commit index moves.
func (ri *readIndex) onCommit(r *raft) {
	if len(ri.waitingCommit) == 0 || !r.committedInTerm() {
		return
	}
	waiting := ri.waitingCommit
	ri.waitingCommit = nil
	for _, q := range waiting {
		ri.register(r, q)
	}
}

// newRound starts a heartbeat round and returns its number.
func (ri *readIndex) newRound(r *raft) uint64 {
	ri.seq++
	ri.roundWanted = false
	ri.acks[r.id] = ri.seq
	if r.readOnlyOption == ReadOnlyLeaseBased {
		ri.pruneRoundTicks(r)
		ri.roundTicks = append(ri.roundTicks, roundTick{seq: ri.seq, tick: r.ticks})
	}
	ri.release(r)
	return ri.seq
}

// flush starts the round that waiting requests need, if any.
func (ri *readIndex) flush(r *raft) {
	if ri.roundWanted && r.state == StateLeader {
		r.bcastHeartbeat()
	}
}

// handleHeartbeatAck records a voter's acknowledgement of a round.
func (ri *readIndex) handleHeartbeatAck(r *raft, m *raftpb.Message) {
	if m.HeartbeatSeq > ri.seq {
		r.logger.Warn("raft: ignored heartbeat ack for a future round", "term", r.term,
			"from", m.From, "seq", m.HeartbeatSeq, "current", ri.seq)
		return
	}
	if m.HeartbeatSeq > ri.acks[m.From] {
		ri.acks[m.From] = m.HeartbeatSeq
		ri.release(r)
	}
}

// confirmed returns the highest round a quorum of voters acknowledged.
func (ri *readIndex) confirmed(r *raft) uint64 {
	c := uint64(r.trk.Voters.CommittedIndex(ackIndexer(ri.acks)))
	return min(c, ri.seq)
}

// release answers every pending request whose round a quorum confirmed.
func (ri *readIndex) release(r *raft) {
	c := ri.confirmed(r)
	n := 0
	for n < len(ri.pending) && ri.pending[n].seq <= c {
		ri.respond(r, ri.pending[n], ri.pending[n].index)
		n++
	}
	ri.pending = ri.pending[n:]
	// Keep the tick of the confirmed round (for leases) and later ones.
	k := 0
	for k+1 < len(ri.roundTicks) && ri.roundTicks[k+1].seq <= c {
		k++
	}
	ri.roundTicks = ri.roundTicks[k:]
}

// pruneRoundTicks forgets rounds too old to grant a lease whatever their
// acknowledgements, keeping roundTicks within an election timeout of rounds.
func (ri *readIndex) pruneRoundTicks(r *raft) {
	n := 0
	for n < len(ri.roundTicks) && ri.roundTicks[n].tick+uint64(r.electionTimeout) <= r.ticks {
		n++
	}
	ri.roundTicks = ri.roundTicks[n:]
}

// leaseValid reports whether the leader holds a lease: a quorum
// acknowledged a heartbeat sent less than an election timeout ago. Each of
// those voters reset its election timer after that heartbeat was sent, and
// with CheckQuorum will neither campaign nor vote for another node until an
// election timeout of its own ticks has passed (see ReadOnlyLeaseBased for
// the clock assumption).
func (ri *readIndex) leaseValid(r *raft) bool {
	if !r.checkQuorum {
		panic("raft: lease read without CheckQuorum")
	}
	c := ri.confirmed(r)
	for _, rt := range ri.roundTicks {
		if rt.seq == c {
			return r.ticks < rt.tick+uint64(r.electionTimeout)
		}
	}
	return false
}

func (ri *readIndex) respond(r *raft, q readRequest, index uint64) {
	if q.from == r.id {
		r.readStates = append(r.readStates, ReadState{ID: q.id, Index: index})
		return
	}
	r.send(&raftpb.Message{To: q.from, Type: raftpb.MsgReadIndexResp, ReadId: q.id, ReadIndex: index})
}

func (ri *readIndex) drop(r *raft, q readRequest) {
	if q.from == r.id {
		r.readStates = append(r.readStates, ReadState{ID: q.id, Dropped: true})
		return
	}
	r.send(&raftpb.Message{To: q.from, Type: raftpb.MsgReadIndexResp, ReadId: q.id, Reject: true})
}

// handleResponse handles MsgReadIndexResp on the node that issued the read.
func (ri *readIndex) handleResponse(r *raft, m *raftpb.Message) {
	if _, ok := ri.forwarded[m.ReadId]; !ok {
		r.logger.Debug("raft: ignored answer to an unknown read", "term", r.term, "from", m.From, "read_id", m.ReadId)
		return
	}
	delete(ri.forwarded, m.ReadId)
	r.readStates = append(r.readStates, ReadState{ID: m.ReadId, Index: m.ReadIndex, Dropped: m.Reject})
}

// forwardReadIndex handles MsgReadIndex on a node that is not leader.
func (r *raft) forwardReadIndex(m *raftpb.Message) error {
	if m.From != r.id {
		// Forwarded to us, but we are not (or no longer) leader.
		r.reads.drop(r, readRequest{from: m.From, id: m.ReadId})
		return nil
	}
	if r.lead == None {
		return fmt.Errorf("%w: no leader at term %d", ErrReadDropped, r.term)
	}
	if len(r.reads.forwarded) >= r.maxPendingReads {
		return fmt.Errorf("%w: %d reads already forwarded to leader %d", ErrReadDropped, len(r.reads.forwarded), r.lead)
	}
	if r.reads.forwarded == nil {
		r.reads.forwarded = map[uint64]struct{}{}
	}
	r.reads.forwarded[m.ReadId] = struct{}{}
	r.send(&raftpb.Message{To: r.lead, Type: raftpb.MsgReadIndex, ReadId: m.ReadId})
	return nil
}

// ackIndexer adapts the acks map to quorum.AckedIndexer.
type ackIndexer map[uint64]uint64

func (a ackIndexer) AckedIndex(id uint64) (quorum.Index, bool) {
	v, ok := a[id]
	return quorum.Index(v), ok
}
