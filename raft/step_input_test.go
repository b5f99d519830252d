package raft

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

// Messages from the network are input the node did not create: malformed
// ones are refused with an error and change nothing.
func TestStepRefusesMalformedMessages(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tests := []struct {
		name string
		m    *raftpb.Message
		want error
	}{
		{"local type", &raftpb.Message{Type: raftpb.MsgHup, From: 1, To: 2}, ErrStepLocalMsg},
		{"unknown type", &raftpb.Message{Type: 99, From: 1, To: 2, Term: 1}, ErrInvalidMessage},
		{"no sender", &raftpb.Message{Type: raftpb.MsgHeartbeat, To: 2, Term: 1}, ErrInvalidMessage},
		{"wrong receiver", &raftpb.Message{Type: raftpb.MsgHeartbeat, From: 1, To: 3, Term: 1}, ErrInvalidMessage},
		{"from self", &raftpb.Message{Type: raftpb.MsgHeartbeat, From: 2, To: 2, Term: 1}, ErrInvalidMessage},
		{"zero term", &raftpb.Message{Type: raftpb.MsgHeartbeat, From: 1, To: 2}, ErrInvalidMessage},
		{"gap in entries", &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1, PrevLogIndex: 1, PrevLogTerm: 1,
			Entries: []*raftpb.Entry{{Index: 2, Term: 1}, {Index: 4, Term: 1}}}, ErrInvalidMessage},
		{"entry term above message term", &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1, PrevLogIndex: 1, PrevLogTerm: 1,
			Entries: []*raftpb.Entry{{Index: 2, Term: 9}}}, ErrInvalidMessage},
		{"decreasing entry terms", &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 3, PrevLogIndex: 1, PrevLogTerm: 2,
			Entries: []*raftpb.Entry{{Index: 2, Term: 1}}}, ErrInvalidMessage},
		{"nil entry", &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1, Entries: []*raftpb.Entry{nil}}, ErrInvalidMessage},
		{"snapshot without metadata", &raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: 2, Term: 1}, ErrInvalidMessage},
		{"empty proposal", &raftpb.Message{Type: raftpb.MsgProp, From: 2, To: 1}, ErrInvalidMessage},
		{"term near overflow", &raftpb.Message{Type: raftpb.MsgHeartbeatResp, From: 1, To: 2, Term: 1<<64 - 1}, ErrInvalidMessage},
		{"snapshot index near overflow", &raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: 2, Term: 2,
			Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: 1<<64 - 1, Term: 1}}}, ErrInvalidMessage},
		{"append index near overflow", &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1, PrevLogIndex: 1<<62 - 1, PrevLogTerm: 1,
			Entries: []*raftpb.Entry{{Index: 1 << 62, Term: 1}}}, ErrInvalidMessage},
		{"granted vote without term", &raftpb.Message{Type: raftpb.MsgVoteResp, From: 1, To: 2}, ErrInvalidMessage},
		{"entries on a heartbeat", &raftpb.Message{Type: raftpb.MsgHeartbeat, From: 1, To: 2, Term: 1,
			Entries: []*raftpb.Entry{{Index: 2, Term: 1}}}, ErrInvalidMessage},
	}
	for _, tt := range tests {
		before := proto.Clone(tn.raft(2).hardState())
		beforeLast := tn.raft(2).raftLog.lastIndex()
		err := tn.nodes[2].Step(tt.m)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Step() = %v, want %v", tt.name, err, tt.want)
		}
		if !proto.Equal(before, tn.raft(2).hardState()) || beforeLast != tn.raft(2).raftLog.lastIndex() {
			t.Errorf("%s: refused message changed state", tt.name)
		}
	}
}

// A leader that contradicts committed entries is refused, not obeyed, and
// does not crash the follower.
func TestStepRefusesAppendConflictingWithCommitted(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.nodes[1].Propose([]byte("a"))
	tn.stabilize()
	r := tn.raft(2)
	committed := r.raftLog.committed
	err := tn.nodes[2].Step(&raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: r.term,
		PrevLogIndex: 0, PrevLogTerm: 0, Entries: []*raftpb.Entry{{Index: 1, Term: r.term}}})
	if err != nil {
		t.Fatal(err)
	}
	if ents := entryTerms(tn, 2); len(ents) != int(committed) || r.raftLog.committed != committed {
		t.Errorf("log %v commit %d after conflicting append, want %d entries and commit %d", ents, r.raftLog.committed, committed, committed)
	}
}

// FuzzStep feeds arbitrary encoded messages to each member of a live
// cluster; nothing may panic, and the cluster must still make progress.
func FuzzStep(f *testing.F) {
	seeds := []*raftpb.Message{
		{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1, PrevLogIndex: 1, PrevLogTerm: 1, Commit: 9,
			Entries: []*raftpb.Entry{{Index: 2, Term: 1, Data: []byte("x")}}},
		{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: 1, Reject: true, RejectedIndex: 5, HintIndex: 1 << 40, HintTerm: 7},
		{Type: raftpb.MsgHeartbeat, From: 1, To: 3, Term: 2, Commit: 1 << 50, HeartbeatSeq: 1 << 60},
		{Type: raftpb.MsgSnap, From: 1, To: 2, Term: 3, Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
			Index: 100, Term: 2, ConfState: &raftpb.ConfState{Voters: []uint64{9}}}}},
		{Type: raftpb.MsgVote, From: 3, To: 1, Term: 9, LastLogIndex: 1 << 62, LastLogTerm: 8},
		{Type: raftpb.MsgReadIndexResp, From: 1, To: 2, Term: 1, ReadId: 4, ReadIndex: 1 << 61},
		{Type: raftpb.MsgProp, From: 2, To: 1, Entries: []*raftpb.Entry{{Type: raftpb.EntryConfChange}}},
	}
	for _, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &raftpb.Message{}
		if err := proto.Unmarshal(data, m); err != nil {
			return
		}
		tn := newTestNet(t, 3, nil)
		electLeader(t, tn, 1)
		tn.nodes[1].Propose([]byte("a"))
		tn.stabilize()
		if m.To >= 1 && m.To <= 3 {
			_ = tn.nodes[m.To].Step(m)
		}
		tn.stabilize()
		tn.tick(40)
		lead := tn.leader()
		if lead == None {
			return // a forged higher term can leave the cluster electing
		}
		if err := tn.nodes[lead].Propose([]byte("b")); err != nil {
			t.Fatalf("Propose on leader %d: %v", lead, err)
		}
		tn.stabilize()
	})
}
