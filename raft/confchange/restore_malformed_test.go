package confchange

import (
	"errors"
	"testing"

	"github.com/ironraft/ironraft/raftpb"
)

func TestRestoreRefusesMalformedConfState(t *testing.T) {
	tests := []struct {
		name string
		cs   *raftpb.ConfState
	}{
		{"voter and learner", &raftpb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{2}}},
		{"repeated voter", &raftpb.ConfState{Voters: []uint64{1, 1}}},
		{"outgoing voter and learner", &raftpb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1, 2}, Learners: []uint64{2}}},
		{"learners_next not outgoing", &raftpb.ConfState{Voters: []uint64{1}, VotersOutgoing: []uint64{1}, LearnersNext: []uint64{3}}},
		{"learners_next also voter", &raftpb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2}, LearnersNext: []uint64{2}}},
	}
	for _, tt := range tests {
		_, _, err := Restore(Changer{MaxInflight: 1}, tt.cs)
		if !errors.Is(err, ErrInvalidConfChange) {
			t.Errorf("%s: Restore(%v) = %v, want ErrInvalidConfChange", tt.name, tt.cs, err)
		}
	}
	if _, _, err := Restore(Changer{MaxInflight: 1}, &raftpb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 3},
		LearnersNext: []uint64{3}, AutoLeave: true}); err != nil {
		t.Errorf("Restore(valid joint with learners_next) = %v", err)
	}
}
