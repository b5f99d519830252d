package raft

import (
	"testing"

	"github.com/ironraft/ironraft/raftpb"
)

// A candidate whose log holds a committed entry it does not know is
// committed (a leave-joint entry, say) learns it from a vote response, but
// only if its entry there has the same term.
func TestVoteResponseCommitHint(t *testing.T) {
	for _, tc := range []struct {
		name             string
		commit, hintTerm uint64
		want             uint64
	}{
		{"matching entry", 3, 2, 3},
		{"other term at that index", 3, 1, 1},
		{"beyond our log", 5, 2, 1},
		{"no hint", 3, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNet(t, 3, nil)
			r := tn.raft(2)
			r.raftLog.append(&raftpb.Entry{Index: 1, Term: 1}, &raftpb.Entry{Index: 2, Term: 2}, &raftpb.Entry{Index: 3, Term: 2})
			r.raftLog.commitTo(1)
			r.becomeFollower(2, None)
			r.becomePreCandidate()
			_ = tn.nodes[2].Step(&raftpb.Message{From: 1, To: 2, Type: raftpb.MsgPreVoteResp, Term: 2, Reject: true,
				Commit: tc.commit, HintTerm: tc.hintTerm})
			if got := r.raftLog.committed; got != tc.want {
				t.Errorf("committed after the vote response = %d, want %d", got, tc.want)
			}
		})
	}
}

// Vote responses carry the responder's commit index and its entry's term.
func TestVoteResponseCarriesCommit(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	if err := tn.nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	r3 := tn.raft(3)
	r3.msgs = nil
	r3.handleVoteRequest(&raftpb.Message{From: 2, To: 3, Type: raftpb.MsgPreVote, Term: r3.term + 1})
	if len(r3.msgs) != 1 || r3.msgs[0].Type != raftpb.MsgPreVoteResp {
		t.Fatalf("handleVoteRequest sent %v, want one MsgPreVoteResp", r3.msgs)
	}
	m := r3.msgs[0]
	if m.Commit == 0 || m.Commit != r3.raftLog.committed || m.HintTerm != r3.term {
		t.Fatalf("pre-vote response commit=%d hint_term=%d, want %d and %d", m.Commit, m.HintTerm, r3.raftLog.committed, r3.term)
	}
}
