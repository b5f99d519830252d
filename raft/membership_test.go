package raft

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

func single(t raftpb.ConfChangeType, id uint64) *raftpb.ConfChangeSingle {
	return &raftpb.ConfChangeSingle{Type: t, NodeId: id}
}

// addNode adds an empty node id to the network; it joins when the leader
// replicates to it.
func (tn *testNet) addNode(id uint64) {
	tn.ids = append(tn.ids, id)
	tn.storage[id] = NewMemoryStorage()
	tn.start(id, nil)
}

func confState(t *testing.T, tn *testNet, id uint64) *raftpb.ConfState {
	t.Helper()
	return tn.nodes[id].ConfState()
}

func TestMembershipAddLearnerThenPromote(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.addNode(4)
	if err := tn.nodes[1].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		single(raftpb.ConfChangeAddLearnerNode, 4)}}); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	for _, id := range tn.ids {
		if cs := confState(t, tn, id); !slices.Equal(cs.Learners, []uint64{4}) || len(cs.Voters) != 3 {
			t.Fatalf("node %d config %v, want voters 1-3 and learner 4", id, cs)
		}
	}
	if got, want := tn.raft(4).raftLog.lastIndex(), tn.raft(1).raftLog.lastIndex(); got != want {
		t.Fatalf("learner last index %d, leader %d", got, want)
	}
	// A learner never campaigns.
	tn.tick(50, 4)
	if tn.raft(4).state != StateFollower {
		t.Fatalf("learner state %v", tn.raft(4).state)
	}
	if err := tn.nodes[1].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		single(raftpb.ConfChangeAddNode, 4)}}); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	if cs := confState(t, tn, 4); !slices.Equal(cs.Voters, []uint64{1, 2, 3, 4}) || len(cs.Learners) != 0 {
		t.Fatalf("after promotion: %v", cs)
	}
}

func TestMembershipSecondPendingChangeRefused(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	cc := &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddLearnerNode, 4)}}
	if err := tn.nodes[1].ProposeConfChange(cc); err != nil {
		t.Fatal(err)
	}
	err := tn.nodes[1].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddLearnerNode, 5)}})
	if !errors.Is(err, ErrPendingConfChange) {
		t.Fatalf("second change: %v, want ErrPendingConfChange", err)
	}
	tn.addNode(4)
	tn.stabilize()
	if err := tn.nodes[1].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddLearnerNode, 5)}}); err != nil {
		t.Fatalf("change after the first applied: %v", err)
	}
}

func TestMembershipRefusesRemovingAllVoters(t *testing.T) {
	tn := newTestNet(t, 1, nil)
	electLeader(t, tn, 1)
	err := tn.nodes[1].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeRemoveNode, 1)}})
	if !errors.Is(err, ErrInvalidConfChange) {
		t.Fatalf("removing the last voter: %v, want ErrInvalidConfChange", err)
	}
}

func TestMembershipJointChangeAutoLeave(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.addNode(4)
	tn.addNode(5)
	// Replace 2 and 3 by 4 and 5 at once: a joint configuration.
	err := tn.nodes[1].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		single(raftpb.ConfChangeRemoveNode, 2), single(raftpb.ConfChangeRemoveNode, 3),
		single(raftpb.ConfChangeAddNode, 4), single(raftpb.ConfChangeAddNode, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	cs := confState(t, tn, 1)
	if !slices.Equal(cs.Voters, []uint64{1, 4, 5}) || len(cs.VotersOutgoing) != 0 || cs.AutoLeave {
		t.Fatalf("config after auto-leave = %v, want voters 1,4,5 and not joint", cs)
	}
	if p := tn.nodes[1].Propose([]byte("after")); p != nil {
		t.Fatal(p)
	}
	tn.stabilize()
	if got, want := tn.raft(5).raftLog.committed, tn.raft(1).raftLog.committed; got != want {
		t.Errorf("node 5 commit %d, leader %d", got, want)
	}
}

func TestMembershipRemovedLeaderStepsDown(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	if err := tn.nodes[1].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		single(raftpb.ConfChangeRemoveNode, 1)}}); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	tn.tick(3 * tn.raft(1).electionTimeout)
	if tn.raft(1).state == StateLeader {
		t.Fatal("removed leader still leads")
	}
	if lead := tn.leader(); lead != 2 && lead != 3 {
		t.Fatalf("leader after removal = %d, want 2 or 3", lead)
	}
}

// If the handover fails (the target is cut off), the removed leader keeps
// sending heartbeats for an election timeout, so the others learn that the
// change is committed, then steps down.
func TestMembershipRemovedLeaderStepsDownWhenHandoverFails(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.drop = func(m *raftpb.Message) bool { return m.Type == raftpb.MsgTimeoutNow }
	if err := tn.nodes[1].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		single(raftpb.ConfChangeRemoveNode, 1)}}); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	if tn.raft(1).state != StateLeader {
		t.Fatal("removed leader stepped down before handing over")
	}
	if err := tn.nodes[1].Propose([]byte("x")); err == nil {
		t.Fatal("removed leader accepted a proposal")
	}
	tn.tick(tn.raft(1).electionTimeout, 1)
	if tn.raft(1).state == StateLeader {
		t.Fatal("removed leader still leads after an election timeout")
	}
	tn.tick(30, 2, 3)
	if lead := tn.leader(); lead != 2 && lead != 3 {
		t.Fatalf("leader after removal = %d, want 2 or 3", lead)
	}
}

func TestTransferLeadership(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	if err := tn.nodes[1].TransferLeader(3); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	if lead := tn.leader(); lead != 3 {
		t.Fatalf("leader after transfer = %d, want 3", lead)
	}
	if err := tn.nodes[3].TransferLeader(9); !errors.Is(err, ErrInvalidTransferee) {
		t.Fatalf("transfer to unknown node: %v, want ErrInvalidTransferee", err)
	}
}

func TestTransferLeadershipTimesOut(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.isolate(3)
	if err := tn.nodes[1].TransferLeader(3); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	if err := tn.nodes[1].Propose([]byte("x")); !errors.Is(err, ErrTransferInProgress) {
		t.Fatalf("proposal during transfer: %v, want ErrTransferInProgress", err)
	}
	tn.tick(tn.raft(1).electionTimeout, 1, 2)
	if tn.leader() != 1 {
		t.Fatalf("leader = %d, want 1 after the transfer aborted", tn.leader())
	}
	if err := tn.nodes[1].Propose([]byte("x")); err != nil {
		t.Fatalf("proposal after aborted transfer: %v", err)
	}
}

// A follower that needs compacted entries gets a snapshot and catches up.
func TestSnapshotCatchesUpLaggingFollower(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.isolate(3)
	for i := 0; i < 20; i++ {
		tn.nodes[1].Propose([]byte{byte(i)})
	}
	tn.stabilize()
	applied := tn.nodes[1].Status().Applied
	ms := tn.storage[1]
	if _, err := ms.CreateSnapshot(applied, tn.nodes[1].ConfState(), []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := ms.Compact(applied); err != nil {
		t.Fatal(err)
	}
	tn.heal()
	tn.tick(3)
	// The testNet does not call ReportSnapshot; the follower's MsgAppResp
	// moves it out of the snapshot state.
	if got := tn.raft(3).raftLog.committed; got != tn.raft(1).raftLog.committed {
		t.Fatalf("follower commit %d, leader %d", got, tn.raft(1).raftLog.committed)
	}
	if n := len(tn.sentOfType(raftpb.MsgSnap)); n != 1 {
		t.Errorf("%d snapshots sent, want 1", n)
	}
}

func proposeAddLearner(t *testing.T, tn *testNet, on, id uint64) {
	t.Helper()
	if err := tn.nodes[on].ProposeConfChange(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		single(raftpb.ConfChangeAddLearnerNode, id)}}); err != nil {
		t.Fatal(err)
	}
}

// A transfer target that has not applied a committed configuration change
// must not campaign: it would count votes under a stale configuration.
func TestTimeoutNowIgnoredWithUnappliedConfChange(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.hold = map[uint64]bool{2: true} // node 2 receives but does not apply
	proposeAddLearner(t, tn, 1, 4)
	tn.stabilize()
	tn.tick(1, 1) // a heartbeat carries the commit index to node 2
	r := tn.raft(2)
	if !r.hasUnappliedConfChanges() {
		t.Fatalf("setup: node 2 applied %d committed %d, want an unapplied change", r.raftLog.applied, r.raftLog.committed)
	}
	if err := tn.nodes[2].Step(&raftpb.Message{Type: raftpb.MsgTimeoutNow, From: 1, To: 2, Term: r.term}); err != nil {
		t.Fatal(err)
	}
	if r.state != StateFollower {
		t.Fatalf("node 2 state %v: campaigned with an unapplied configuration change", r.state)
	}
}

// A snapshot stepped in between Ready and Advance already reflects the
// configuration changes up to its index: Advance must not apply an older
// change from the held Ready on top of it.
func TestSnapshotBetweenReadyAndAdvanceWinsOverOlderConfChange(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.hold = map[uint64]bool{3: true}
	proposeAddLearner(t, tn, 1, 4)
	tn.stabilize()
	tn.tick(1, 1)
	rn, ms := tn.nodes[3], tn.storage[3]
	rd := rn.Ready() // persists the entries; nothing applied yet
	if err := ms.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	if rd.HardState != nil {
		ms.SetHardState(rd.HardState)
	}
	rn.Advance()
	rd = rn.Ready() // hands out the committed change; held
	var cc *raftpb.Entry
	for _, e := range rd.CommittedEntries {
		if e.Type == raftpb.EntryConfChange {
			cc = e
		}
	}
	if cc == nil {
		t.Fatalf("setup: no configuration change in %v", rd.CommittedEntries)
	}
	r := tn.raft(3)
	snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		Index: cc.Index + 5, Term: r.term, ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
	if err := rn.Step(&raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: 3, Term: r.term, Snapshot: snap}); err != nil {
		t.Fatal(err)
	}
	rn.Advance()
	if cs := rn.ConfState(); len(cs.Learners) != 0 {
		t.Fatalf("config after snapshot then Advance = %v, want the snapshot's (no learners)", cs)
	}
}

// Config.Applied beyond the snapshot: the configuration changes the
// application already applied are replayed at startup.
func TestRestartReplaysAppliedConfChanges(t *testing.T) {
	ms := NewMemoryStorage()
	ms.SetConfState(&raftpb.ConfState{Voters: []uint64{1, 2, 3}})
	cc, err := proto.Marshal(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddLearnerNode, 4)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Append([]*raftpb.Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1, Type: raftpb.EntryConfChange, Data: cc},
		{Index: 3, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	ms.SetHardState(&raftpb.HardState{Term: 1, Commit: 3})
	rn, err := NewRawNode(&Config{ID: 1, Storage: ms, Applied: 3})
	if err != nil {
		t.Fatal(err)
	}
	if cs := rn.ConfState(); !slices.Equal(cs.Learners, []uint64{4}) {
		t.Fatalf("config after restart with Applied=3 = %v, want learner 4", cs)
	}
	if rn.HasReady() && len(rn.Ready().CommittedEntries) > 0 {
		t.Fatal("applied entries handed out again")
	}
}
