package raft

import (
	"testing"

	"github.com/ironraft/ironraft/raft/tracker"
	"github.com/ironraft/ironraft/raftpb"
)

// With lease reads, a restarted node may have acknowledged the leader's
// lease just before it crashed: it must not help elect another leader
// within an election timeout of starting.
func TestLeaseRestartedNodeWaitsBeforeVoting(t *testing.T) {
	lease := func(c *Config) { c.ReadOnlyOption = ReadOnlyLeaseBased }
	tn := newTestNet(t, 3, lease)
	electLeader(t, tn, 1)
	tn.start(2, lease) // restart node 2 from its storage
	r := tn.raft(2)
	vote := &raftpb.Message{Type: raftpb.MsgPreVote, From: 3, To: 2, Term: r.term + 1,
		LastLogIndex: 100, LastLogTerm: r.term}
	if err := tn.nodes[2].Step(vote); err != nil {
		t.Fatal(err)
	}
	if rd := tn.nodes[2].Ready(); len(rd.MessagesAfterPersist)+len(rd.MessagesBeforePersist) != 0 {
		t.Fatalf("restarted node answered a pre-vote at once: %v", rd.MessagesAfterPersist)
	}
	tn.nodes[2].Advance()
	for i := 0; i < r.electionTimeout; i++ {
		r.ticks++ // age the node without letting it campaign
	}
	if err := tn.nodes[2].Step(vote); err != nil {
		t.Fatal(err)
	}
	rd := tn.nodes[2].Ready()
	if len(rd.MessagesAfterPersist) != 1 || rd.MessagesAfterPersist[0].Reject {
		t.Fatalf("after an election timeout: %v, want a granted pre-vote", rd.MessagesAfterPersist)
	}
}

// A heartbeat ack from a follower whose window is full of appends that are
// only delayed frees one slot: one more MsgApp goes out, nothing is resent.
func TestHeartbeatAckWithFullWindowSendsOneMore(t *testing.T) {
	tn := newTestNet(t, 2, func(c *Config) { c.MaxInflightMsgs = 2 })
	electLeader(t, tn, 1)
	var held []*raftpb.Message
	tn.drop = func(m *raftpb.Message) bool {
		if m.Type == raftpb.MsgApp && m.To == 2 {
			held = append(held, m)
			return true
		}
		return false
	}
	for i := 0; i < 3; i++ {
		tn.nodes[1].Propose([]byte{byte(i)})
		tn.stabilize()
	}
	if len(held) != 2 {
		t.Fatalf("%d MsgApp sent into a window of 2, want 2", len(held))
	}
	tn.tick(1, 1) // heartbeat round; node 2 acks
	if len(held) != 3 || len(held[2].Entries) != 1 || held[2].PrevLogIndex != held[1].PrevLogIndex+1 {
		t.Fatalf("after a heartbeat ack: %d MsgApp (last %v), want one more carrying only the next entry", len(held), held[len(held)-1])
	}
	// If the held appends were lost, the extra one is rejected for the gap
	// and the leader probes back: the follower still catches up.
	tn.heal()
	tn.tick(3)
	if got, want := tn.raft(2).raftLog.lastIndex(), tn.raft(1).raftLog.lastIndex(); got != want {
		t.Errorf("follower last index %d, leader %d: lost appends never repaired", got, want)
	}
}

// A read forwarded to the leader is reported dropped when the follower's
// term changes, and a late answer to it is ignored.
func TestForwardedReadDroppedOnTermChange(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.isolate(1)
	id, err := tn.nodes[2].ReadIndex()
	if err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	r := tn.raft(2)
	if err := tn.nodes[2].Step(&raftpb.Message{Type: raftpb.MsgHeartbeat, From: 3, To: 2, Term: r.term + 1}); err != nil {
		t.Fatal(err)
	}
	tn.process()
	if len(tn.reads[2]) != 1 || tn.reads[2][0].ID != id || !tn.reads[2][0].Dropped {
		t.Fatalf("reads at node 2 = %+v, want %d dropped", tn.reads[2], id)
	}
	if err := tn.nodes[2].Step(&raftpb.Message{Type: raftpb.MsgReadIndexResp, From: 3, To: 2, Term: r.term,
		ReadId: id, ReadIndex: 1}); err != nil {
		t.Fatal(err)
	}
	tn.process()
	if len(tn.reads[2]) != 1 {
		t.Fatalf("late answer to a dropped read surfaced: %+v", tn.reads[2])
	}
}

// The commit index need not be synced on its own, so after a crash the
// stored one may be older than a snapshot taken from applied entries; the
// node must still start, with its commit index at the snapshot.
func TestRestartWithCommitIndexOlderThanSnapshot(t *testing.T) {
	ms := NewMemoryStorage()
	var ents []*raftpb.Entry
	for i := uint64(1); i <= 10; i++ {
		ents = append(ents, &raftpb.Entry{Index: i, Term: 1})
	}
	if err := ms.Append(ents); err != nil {
		t.Fatal(err)
	}
	ms.SetHardState(&raftpb.HardState{Term: 1, Commit: 5})
	if _, err := ms.CreateSnapshot(8, &raftpb.ConfState{Voters: []uint64{1, 2, 3}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ms.Compact(8); err != nil {
		t.Fatal(err)
	}
	rn, err := NewRawNode(&Config{ID: 1, Storage: ms})
	if err != nil {
		t.Fatalf("NewRawNode = %v", err)
	}
	if got := rn.raft.raftLog.committed; got != 8 {
		t.Errorf("commit index = %d, want 8 (the snapshot)", got)
	}
}

// Once a leader sent MsgTimeoutNow, the target may win without waiting for
// the followers' leases to expire, so lease reads must stop for the term.
func TestLeaseReadsStopAfterTimeoutNow(t *testing.T) {
	tn := newTestNet(t, 3, func(c *Config) { c.ReadOnlyOption = ReadOnlyLeaseBased })
	electLeader(t, tn, 1)
	tn.tick(1) // a confirmed heartbeat round gives the leader its lease
	if _, err := tn.nodes[1].ReadIndex(); err != nil {
		t.Fatal(err)
	}
	tn.process()
	if len(tn.reads[1]) != 1 {
		t.Fatalf("lease read not answered at once: %+v", tn.reads[1])
	}
	tn.isolate(3) // TimeoutNow to 3 is lost; 1 stays leader
	if err := tn.nodes[1].TransferLeader(3); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	tn.tick(tn.raft(1).electionTimeout, 1, 2) // transfer aborted
	if tn.leader() != 1 {
		t.Fatalf("leader = %d, want 1", tn.leader())
	}
	if _, err := tn.nodes[1].ReadIndex(); err != nil {
		t.Fatal(err)
	}
	tn.process()
	if len(tn.reads[1]) != 1 {
		t.Fatalf("lease read answered at once after MsgTimeoutNow: %+v", tn.reads[1])
	}
	tn.stabilize() // the heartbeat round (1 and 2) confirms it instead
	if len(tn.reads[1]) != 2 {
		t.Fatalf("read not confirmed by a heartbeat round: %+v", tn.reads[1])
	}
}

// An append acknowledgement still in the outbox must not outlive the
// entries it acknowledges: if a new leader replaces them before the Ready
// that persists them, the stale ack would claim entries the node never
// stored (simulator ProfileChurnHunt seed 544).
func TestStaleAppendAckWithdrawnWhenEntriesReplaced(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	for _, id := range tn.ids {
		tn.setLog(id, 2, 1)
	}
	rn := tn.nodes[3]
	// Leader 1 of term 2 sends entries 2..3; node 3 accepts (ack pending).
	if err := rn.Step(&raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 3, Term: 2, PrevLogIndex: 1, PrevLogTerm: 1,
		Entries: []*raftpb.Entry{{Index: 2, Term: 2}, {Index: 3, Term: 2}}}); err != nil {
		t.Fatal(err)
	}
	// Before any Ready, leader 2 of term 3 replaces index 2.
	if err := rn.Step(&raftpb.Message{Type: raftpb.MsgApp, From: 2, To: 3, Term: 3, PrevLogIndex: 1, PrevLogTerm: 1,
		Entries: []*raftpb.Entry{{Index: 2, Term: 3}}}); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	for _, m := range append(rd.MessagesBeforePersist, rd.MessagesAfterPersist...) {
		if m.Type == raftpb.MsgAppResp && !m.Reject && m.To == 1 && m.MatchIndex >= 2 {
			t.Fatalf("stale ack sent: %v (entries persisted: %v)", m, rd.Entries)
		}
	}
}

// ReportUnreachable moves a replicating follower back to probing, so the
// leader stops streaming into a link that lost its messages.
func TestReportUnreachableProbesFollower(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	pr := tn.raft(1).trk.Progress[2]
	if pr.State != tracker.StateReplicate {
		t.Fatalf("setup: follower 2 in %v, want StateReplicate", pr.State)
	}
	tn.nodes[1].ReportUnreachable(2)
	if pr.State != tracker.StateProbe || pr.Next != pr.Match+1 {
		t.Fatalf("after ReportUnreachable: %v, want StateProbe from match+1", pr)
	}
	tn.nodes[1].Propose([]byte("x"))
	tn.stabilize()
	if got, want := tn.raft(2).raftLog.lastIndex(), tn.raft(1).raftLog.lastIndex(); got != want {
		t.Errorf("follower last index %d, leader %d: probing did not resume replication", got, want)
	}
}
