package tracker

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ironraft/ironraft/raft/quorum"
	"github.com/ironraft/ironraft/raftpb"
)

func set(ids ...uint64) map[uint64]struct{} {
	s := map[uint64]struct{}{}
	for _, id := range ids {
		s[id] = struct{}{}
	}
	return s
}

// newTracker returns a tracker with the given incoming and outgoing voters
// and learners, and a progress for each of them with Match 0.
func newTracker(incoming, outgoing, learners []uint64) *ProgressTracker {
	p := MakeProgressTracker(4, 0)
	p.Voters[0] = quorum.MajorityConfig(set(incoming...))
	if len(outgoing) > 0 {
		p.Voters[1] = quorum.MajorityConfig(set(outgoing...))
	}
	if len(learners) > 0 {
		p.Learners = set(learners...)
	}
	for _, ids := range [][]uint64{incoming, outgoing} {
		for _, id := range ids {
			p.Progress[id] = &Progress{Next: 1, Inflights: NewInflights(4, 0)}
		}
	}
	for _, id := range learners {
		p.Progress[id] = &Progress{Next: 1, Inflights: NewInflights(4, 0), IsLearner: true}
	}
	return &p
}

func TestTrackerCommitted(t *testing.T) {
	tests := []struct {
		name                         string
		incoming, outgoing, learners []uint64
		match                        map[uint64]uint64
		want                         uint64
	}{
		{"no voters", nil, nil, nil, nil, math.MaxUint64},
		{"singleton", []uint64{1}, nil, nil, map[uint64]uint64{1: 7}, 7},
		{"majority", []uint64{1, 2, 3}, nil, nil, map[uint64]uint64{1: 7, 2: 5, 3: 3}, 5},
		{"learners do not count", []uint64{1, 2, 3}, nil, []uint64{4, 5},
			map[uint64]uint64{1: 7, 4: 9, 5: 9}, 0},
		{"joint limited by outgoing", []uint64{1, 2, 3}, []uint64{1, 4, 5}, nil,
			map[uint64]uint64{1: 9, 2: 8, 3: 7, 4: 3, 5: 2}, 3},
		{"joint limited by incoming", []uint64{1, 2, 3}, []uint64{1, 4, 5}, nil,
			map[uint64]uint64{1: 9, 2: 2, 3: 1, 4: 8, 5: 8}, 2},
		{"joint agrees", []uint64{1, 2, 3}, []uint64{1, 2, 4}, nil,
			map[uint64]uint64{1: 9, 2: 8, 3: 1, 4: 1}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTracker(tt.incoming, tt.outgoing, tt.learners)
			for id, m := range tt.match {
				p.Progress[id].Match = m
			}
			if got := p.Committed(); got != tt.want {
				t.Errorf("Committed() with %s and match %v = %d, want %d", p.Config, tt.match, got, tt.want)
			}
		})
	}
}

func TestTrackerTallyVotes(t *testing.T) {
	tests := []struct {
		name                         string
		incoming, outgoing, learners []uint64
		votes                        map[uint64]bool
		granted, rejected            int
		result                       quorum.VoteResult
	}{
		{"no votes", []uint64{1, 2, 3}, nil, nil, nil, 0, 0, quorum.VotePending},
		{"won", []uint64{1, 2, 3}, nil, nil, map[uint64]bool{1: true, 2: true}, 2, 0, quorum.VoteWon},
		{"lost", []uint64{1, 2, 3}, nil, nil, map[uint64]bool{1: true, 2: false, 3: false}, 1, 2, quorum.VoteLost},
		{"learners ignored", []uint64{1, 2, 3}, nil, []uint64{4, 5},
			map[uint64]bool{1: true, 4: true, 5: true}, 1, 0, quorum.VotePending},
		{"learner rejections ignored", []uint64{1, 2, 3}, nil, []uint64{4, 5},
			map[uint64]bool{1: true, 2: true, 4: false, 5: false}, 2, 0, quorum.VoteWon},
		{"unknown nodes ignored", []uint64{1, 2, 3}, nil, nil,
			map[uint64]bool{1: true, 9: true}, 1, 0, quorum.VotePending},
		{"joint needs both", []uint64{1, 2, 3}, []uint64{4, 5, 6}, nil,
			map[uint64]bool{1: true, 2: true, 4: true}, 3, 0, quorum.VotePending},
		{"joint lost in outgoing", []uint64{1, 2, 3}, []uint64{4, 5, 6}, nil,
			map[uint64]bool{1: true, 2: true, 4: false, 5: false}, 2, 2, quorum.VoteLost},
		{"joint shared voter counted once", []uint64{1, 2, 3}, []uint64{1, 2, 4}, nil,
			map[uint64]bool{1: true, 2: true}, 2, 0, quorum.VoteWon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTracker(tt.incoming, tt.outgoing, tt.learners)
			p.ResetVotes()
			for _, id := range []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9} {
				if v, ok := tt.votes[id]; ok {
					p.RecordVote(id, v)
				}
			}
			granted, rejected, result := p.TallyVotes()
			if granted != tt.granted || rejected != tt.rejected || result != tt.result {
				t.Errorf("TallyVotes() with %s and votes %v = %d, %d, %s, want %d, %d, %s",
					p.Config, tt.votes, granted, rejected, result, tt.granted, tt.rejected, tt.result)
			}
		})
	}
}

func TestTrackerRecordVoteFirstWins(t *testing.T) {
	p := newTracker([]uint64{1, 2, 3}, nil, nil)
	p.RecordVote(2, false)
	p.RecordVote(2, true)
	p.RecordVote(3, true)
	p.RecordVote(3, false)
	if diff := cmp.Diff(map[uint64]bool{2: false, 3: true}, p.Votes); diff != "" {
		t.Errorf("Votes mismatch (-want +got):\n%s", diff)
	}
	p.ResetVotes()
	if len(p.Votes) != 0 {
		t.Errorf("after ResetVotes: Votes = %v, want empty", p.Votes)
	}
}

func TestTrackerQuorumActive(t *testing.T) {
	tests := []struct {
		name                         string
		incoming, outgoing, learners []uint64
		active                       []uint64
		want                         bool
	}{
		{"majority active", []uint64{1, 2, 3}, nil, nil, []uint64{1, 3}, true},
		{"minority active", []uint64{1, 2, 3}, nil, nil, []uint64{1}, false},
		{"learners ignored", []uint64{1, 2, 3}, nil, []uint64{4, 5}, []uint64{1, 4, 5}, false},
		{"joint outgoing inactive", []uint64{1, 2, 3}, []uint64{3, 4, 5}, nil, []uint64{1, 2, 3}, false},
		{"joint both active", []uint64{1, 2, 3}, []uint64{3, 4, 5}, nil, []uint64{1, 3, 4}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTracker(tt.incoming, tt.outgoing, tt.learners)
			for _, id := range tt.active {
				p.Progress[id].RecentActive = true
			}
			if got := p.QuorumActive(); got != tt.want {
				t.Errorf("QuorumActive() with %s and active %v = %v, want %v", p.Config, tt.active, got, tt.want)
			}
		})
	}
}

func TestTrackerVisitIsSorted(t *testing.T) {
	for _, n := range []int{0, 5, visitStackIDs, visitStackIDs + 7} {
		var ids []uint64
		for i := n; i > 0; i-- {
			ids = append(ids, uint64(i*3))
		}
		p := newTracker(ids, nil, nil)
		var got []uint64
		p.Visit(func(id uint64, pr *Progress) {
			if pr != p.Progress[id] {
				t.Errorf("Visit passed progress %p for %d, want %p", pr, id, p.Progress[id])
			}
			got = append(got, id)
		})
		if diff := cmp.Diff(p.VoterNodes(), got); diff != "" {
			t.Errorf("Visit order on %d peers mismatch (-want +got):\n%s", n, diff)
		}
	}
}

func TestTrackerVisitSkipsRemoved(t *testing.T) {
	p := newTracker([]uint64{1, 2, 3}, nil, nil)
	var got []uint64
	p.Visit(func(id uint64, _ *Progress) {
		got = append(got, id)
		delete(p.Progress, 2)
	})
	if diff := cmp.Diff([]uint64{1, 3}, got); diff != "" {
		t.Errorf("Visit mismatch (-want +got):\n%s", diff)
	}
}

func TestTrackerNodesAndConfState(t *testing.T) {
	p := newTracker([]uint64{3, 1, 2}, []uint64{4, 1, 2}, []uint64{7, 6})
	p.LearnersNext = set(4)
	p.AutoLeave = true

	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, p.VoterNodes()); diff != "" {
		t.Errorf("VoterNodes() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{6, 7}, p.LearnerNodes()); diff != "" {
		t.Errorf("LearnerNodes() mismatch (-want +got):\n%s", diff)
	}
	want := &raftpb.ConfState{
		Voters:         []uint64{1, 2, 3},
		VotersOutgoing: []uint64{1, 2, 4},
		Learners:       []uint64{6, 7},
		LearnersNext:   []uint64{4},
		AutoLeave:      true,
	}
	if diff := cmp.Diff(want, p.ConfState(), protocmp.Transform()); diff != "" {
		t.Errorf("ConfState() mismatch (-want +got):\n%s", diff)
	}
	if got, want := p.Config.String(), "voters=(1 2 3)&&(1 2 4) learners=(6 7) learners_next=(4) autoleave"; got != want {
		t.Errorf("Config.String() = %q, want %q", got, want)
	}

	empty := MakeProgressTracker(4, 0)
	if got := empty.LearnerNodes(); got != nil {
		t.Errorf("LearnerNodes() on empty tracker = %v, want nil", got)
	}
	if diff := cmp.Diff(&raftpb.ConfState{}, empty.ConfState(), protocmp.Transform()); diff != "" {
		t.Errorf("ConfState() on empty tracker mismatch (-want +got):\n%s", diff)
	}
	if got, want := empty.Config.String(), "voters=()"; got != want {
		t.Errorf("Config.String() on empty tracker = %q, want %q", got, want)
	}
}

func TestTrackerIsSingleton(t *testing.T) {
	tests := []struct {
		incoming, outgoing, learners []uint64
		want                         bool
	}{
		{nil, nil, nil, false},
		{[]uint64{1}, nil, nil, true},
		{[]uint64{1}, nil, []uint64{2}, true},
		{[]uint64{1, 2}, nil, nil, false},
		{[]uint64{1}, []uint64{1}, nil, false},
		{[]uint64{1}, []uint64{2}, nil, false},
	}
	for _, tt := range tests {
		p := newTracker(tt.incoming, tt.outgoing, tt.learners)
		if got := p.IsSingleton(); got != tt.want {
			t.Errorf("IsSingleton() with %s = %v, want %v", p.Config, got, tt.want)
		}
	}
}

func TestConfigClone(t *testing.T) {
	c := Config{
		Voters:       quorum.JointConfig{quorum.MajorityConfig(set(1, 2, 3)), quorum.MajorityConfig(set(1, 2, 4))},
		AutoLeave:    true,
		Learners:     set(5),
		LearnersNext: set(4),
	}
	clone := c.Clone()
	if diff := cmp.Diff(c, clone); diff != "" {
		t.Fatalf("Clone() mismatch (-orig +clone):\n%s", diff)
	}
	clone.Voters[0][9] = struct{}{}
	clone.Voters[1][9] = struct{}{}
	clone.Learners[9] = struct{}{}
	clone.LearnersNext[9] = struct{}{}
	if got, want := c.String(), "voters=(1 2 3)&&(1 2 4) learners=(5) learners_next=(4) autoleave"; got != want {
		t.Errorf("original after changing clone = %q, want %q", got, want)
	}

	var empty Config
	if diff := cmp.Diff(empty, empty.Clone()); diff != "" {
		t.Errorf("Clone() of zero Config mismatch (-orig +clone):\n%s", diff)
	}
}
