package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// Propose replicates cmd and returns the result StateMachine.Apply gave for
// it on this member. It works on any member: a follower forwards the
// proposal to the leader through the core, and completes when it applies
// the entry itself. If no leader is known, Propose waits for one until ctx
// ends (then *NotLeaderError, nothing proposed).
//
// Errors: ErrTooLarge, ErrOverloaded (nothing proposed, retry later),
// *NotLeaderError, ErrStopped, and ErrOutcomeUnknown (wrapping the context's
// error) when ctx ends after the command was handed to Raft. Give ctx a
// deadline: a proposal lost with a leader change is only ever answered by
// it.
func (n *Node) Propose(ctx context.Context, cmd []byte) (any, error) {
	if len(cmd) > n.cfg.MaxCommandBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(cmd), n.cfg.MaxCommandBytes)
	}
	if err := n.waitLeader(ctx); err != nil {
		return nil, err
	}
	pid := n.nextPID.Add(1)
	p := &proposal{pid: pid, data: encodeEnvelope(n.id, pid, cmd), size: int64(len(cmd)),
		proposedAt: time.Now(), ch: make(chan proposalResult, 1)}
	if err := n.waits.add(p, n.cfg.MaxPendingProposals, n.cfg.MaxPendingBytes); err != nil {
		n.m.proposalsFailed.Inc()
		return nil, err
	}
	n.propMu.Lock()
	n.propQ = append(n.propQ, p)
	n.propMu.Unlock()
	select {
	case n.propSig <- struct{}{}:
	default: // already signalled
	}
	select {
	case r := <-p.ch:
		if r.err != nil {
			return nil, r.err
		}
		return r.value, nil
	case <-ctx.Done():
		if n.waits.remove(pid) {
			n.m.proposalsFailed.Inc()
			return nil, unknownErr(ctx.Err())
		}
		r := <-p.ch // completed meanwhile
		if r.err != nil {
			return nil, r.err
		}
		return r.value, nil
	}
}

// waitLeader waits until a leader is known.
func (n *Node) waitLeader(ctx context.Context) error {
	for n.leader.Load() == 0 {
		ch := n.leaderChanged()
		if n.leader.Load() != 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", &NotLeaderError{}, ctx.Err())
		case <-n.stopc:
			return ErrStopped
		}
	}
	return nil
}

// run runs fn on the raft loop and waits for it.
func (n *Node) run(ctx context.Context, fn func(rn *raft.RawNode)) error {
	done := make(chan struct{})
	select {
	case n.reqc <- request{fn: func(rn *raft.RawNode) { fn(rn); close(done) }}:
	case <-ctx.Done():
		return timeoutErr("request", ctx.Err())
	case <-n.stopc:
		return ErrStopped
	}
	select {
	case <-done:
		return nil
	case <-n.stopc:
		return ErrStopped
	}
}

// ReadIndex is the linearizable read fence: when it returns nil, the state
// machine on this member has applied every command that completed
// (anywhere) before ReadIndex was called, so a local read of it is
// linearizable. It returns the index it waited for. It works on any member
// (the leader confirms its leadership with a round of heartbeats, or by its
// lease with Config.LeaseReads). A request lost with a leader change is
// retried until ctx ends (then ErrTimeout).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	for {
		if err := n.waitLeader(ctx); err != nil {
			return 0, err
		}
		ch := make(chan readResult, 1)
		var rerr error
		err := n.run(ctx, func(rn *raft.RawNode) {
			id, err := rn.ReadIndex()
			if err != nil {
				rerr = err
				return
			}
			n.rs.reads[id] = readWait{ch: ch, tick: n.rs.ticks}
		})
		if err != nil {
			return 0, err
		}
		if rerr != nil {
			// Too many reads pending at this node: back off a tick.
			if err := n.sleep(ctx, n.cfg.TickInterval); err != nil {
				return 0, err
			}
			continue
		}
		var r readResult
		select {
		case r = <-ch:
		case <-ctx.Done():
			return 0, timeoutErr("read index", ctx.Err())
		case <-n.stopc:
			return 0, ErrStopped
		}
		if r.dropped {
			if err := n.sleep(ctx, n.cfg.TickInterval); err != nil {
				return 0, err
			}
			continue
		}
		applied, cancel := n.waits.waitApplied(r.index)
		select {
		case err := <-applied:
			return r.index, err
		case <-ctx.Done():
			cancel()
			return 0, timeoutErr("waiting to apply the read index", ctx.Err())
		}
	}
}

// sleep waits d, or until ctx ends or the node stops.
func (n *Node) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return timeoutErr("waiting", ctx.Err())
	case <-n.stopc:
		return ErrStopped
	}
}

// Status describes a member.
type Status struct {
	raft.Status
	// AppliedIndex is the last entry the state machine applied.
	AppliedIndex uint64
	// PendingProposals and PendingBytes are the proposals waiting here.
	PendingProposals int
	PendingBytes     int64
}

// Status returns this member's state.
func (n *Node) Status(ctx context.Context) (Status, error) {
	var st Status
	err := n.run(ctx, func(rn *raft.RawNode) { st.Status = rn.Status() })
	st.AppliedIndex = n.waits.appliedIndex()
	st.PendingProposals, st.PendingBytes = n.waits.pending()
	return st, err
}

// Members returns the members of the configuration this member applied
// last, with their addresses.
func (n *Node) Members() []Member {
	_, _, cs := n.ap.state()
	var ms []Member
	for _, id := range cs.GetVoters() {
		ms = append(ms, Member{ID: id, Addr: n.book.get(id)})
	}
	for _, id := range cs.GetLearners() {
		ms = append(ms, Member{ID: id, Addr: n.book.get(id), Learner: true})
	}
	for _, id := range cs.GetLearnersNext() {
		ms = append(ms, Member{ID: id, Addr: n.book.get(id), Learner: true})
	}
	return ms
}

// notLeader returns a *NotLeaderError if this member does not lead.
func (n *Node) notLeader(rn *raft.RawNode) error {
	st := rn.Status()
	if st.RaftState == raft.StateLeader {
		return nil
	}
	return &NotLeaderError{Leader: st.Lead, LeaderAddr: n.book.get(st.Lead)}
}

// changeConf proposes a configuration change on the leader and waits until
// this member applied it.
func (n *Node) changeConf(ctx context.Context, cc *raftpb.ConfChange, addr string) error {
	pid := n.nextPID.Add(1)
	p := &proposal{pid: pid, proposedAt: time.Now(), ch: make(chan proposalResult, 1)}
	if err := n.waits.add(p, n.cfg.MaxPendingProposals, n.cfg.MaxPendingBytes); err != nil {
		return err
	}
	cc.Context = encodeConfContext(n.id, pid, addr)
	var perr error
	if err := n.run(ctx, func(rn *raft.RawNode) {
		if perr = n.notLeader(rn); perr == nil {
			perr = rn.ProposeConfChange(cc)
		}
	}); err != nil {
		n.waits.remove(pid)
		return err
	}
	if perr != nil {
		n.waits.remove(pid)
		return fmt.Errorf("node: configuration change %v: %w", cc.Changes, perr)
	}
	select {
	case r := <-p.ch:
		return r.err
	case <-ctx.Done():
		if n.waits.remove(pid) {
			return unknownErr(ctx.Err())
		}
		return (<-p.ch).err
	}
}

// AddLearner adds a non-voting member reachable at addr, which then
// receives the log (start it with Join). It must run on the leader.
func (n *Node) AddLearner(ctx context.Context, id uint64, addr string) error {
	if id == 0 || addr == "" {
		return fmt.Errorf("node: AddLearner needs a member ID and an address (got %d, %q)", id, addr)
	}
	// The leader must reach the learner before everyone applies the change.
	n.addPeer(id, addr)
	return n.changeConf(ctx, &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		{Type: raftpb.ConfChangeAddLearnerNode, NodeId: id}}}, addr)
}

// AddVoter adds a voting member reachable at addr in one call: it joins as
// a learner (unless it is one already), is caught up with the leader's
// log, then is promoted, so the cluster never counts on a voter that is
// far behind. It must run on the leader; start the new member with Join.
// If ctx ends while the learner catches up, it stays a learner (call
// AddVoter again to finish).
func (n *Node) AddVoter(ctx context.Context, id uint64, addr string) error {
	role, err := n.memberRole(ctx, id)
	if err != nil {
		return err
	}
	switch role {
	case roleVoter:
		return nil
	case roleNone:
		if err := n.AddLearner(ctx, id, addr); err != nil {
			return err
		}
	}
	if err := n.waitCaughtUp(ctx, id); err != nil {
		return err
	}
	return n.changeConf(ctx, &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		{Type: raftpb.ConfChangeAddNode, NodeId: id}}}, addr)
}

type memberRoleType int

const (
	roleNone memberRoleType = iota
	roleLearner
	roleVoter
)

func (n *Node) memberRole(ctx context.Context, id uint64) (memberRoleType, error) {
	role := roleNone
	var nl error
	err := n.run(ctx, func(rn *raft.RawNode) {
		if nl = n.notLeader(rn); nl != nil {
			return
		}
		cs := rn.ConfState()
		for _, v := range cs.GetVoters() {
			if v == id {
				role = roleVoter
			}
		}
		for _, l := range append(cs.GetLearners(), cs.GetLearnersNext()...) {
			if l == id {
				role = roleLearner
			}
		}
	})
	if err == nil {
		err = nl
	}
	return role, err
}

// waitCaughtUp waits until learner id's log matches the leader's up to the
// commit index the leader had when the wait started. Not the current
// commit index: under a steady load, a learner whose link is slower than
// the voters' would match it at no moment and never be promoted.
func (n *Node) waitCaughtUp(ctx context.Context, id uint64) error {
	var target uint64
	for {
		var caught bool
		var nl error
		err := n.run(ctx, func(rn *raft.RawNode) {
			if nl = n.notLeader(rn); nl != nil {
				return
			}
			st := rn.Status()
			if target == 0 {
				target = st.HardState.GetCommit()
			}
			pr, ok := st.Progress[id]
			caught = ok && pr.Match >= target
		})
		if err == nil {
			err = nl
		}
		if err != nil || caught {
			return err
		}
		if err := n.sleep(ctx, n.cfg.TickInterval); err != nil {
			return fmt.Errorf("node: learner %d did not catch up: %w", id, err)
		}
	}
}

// RemoveMember removes member id (voter or learner) from the cluster. It
// must run on the leader; the leader may remove itself, then it hands
// leadership to another voter and stops (Err returns ErrRemoved). A removed
// member stops itself once it applies its removal.
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	return n.changeConf(ctx, &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		{Type: raftpb.ConfChangeRemoveNode, NodeId: id}}}, "")
}

// TransferLeadership hands leadership to voter id and waits until this
// member sees id lead. It must run on the leader. If the transfer does not
// finish within two election timeouts and this member still leads, it is
// asked again, until ctx ends.
func (n *Node) TransferLeadership(ctx context.Context, id uint64) error {
	retry := 2 * time.Duration(n.cfg.ElectionTicks) * n.cfg.TickInterval
	for {
		if n.leader.Load() == id {
			return nil
		}
		var nl error
		if err := n.run(ctx, func(rn *raft.RawNode) {
			if nl = n.notLeader(rn); nl == nil {
				nl = rn.TransferLeader(id)
			}
		}); err != nil {
			return err
		}
		if nl != nil {
			// The core may follow the new leader before this member's
			// known leader (updated with the next Ready) says so.
			var nle *NotLeaderError
			if n.leader.Load() == id || (errors.As(nl, &nle) && nle.Leader == id) {
				return nil
			}
			return fmt.Errorf("node: transfer leadership to %d: %w", id, nl)
		}
		t := time.NewTimer(retry)
		for n.leader.Load() != id {
			ch := n.leaderChanged()
			if n.leader.Load() == id {
				break
			}
			select {
			case <-ch:
				continue
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return timeoutErr(fmt.Sprintf("transfer leadership to %d", id), ctx.Err())
			case <-n.stopc:
				t.Stop()
				return ErrStopped
			}
			break
		}
		t.Stop()
	}
}
