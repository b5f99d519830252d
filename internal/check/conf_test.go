package check

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ironraft/ironraft/raftpb"
)

func single(t raftpb.ConfChangeType, id uint64) *raftpb.ConfChangeSingle {
	return &raftpb.ConfChangeSingle{Type: t, NodeId: id}
}

func TestConfigApply(t *testing.T) {
	base := &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}
	joint := &raftpb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}, AutoLeave: true}
	tests := []struct {
		name    string
		from    *raftpb.ConfState
		cc      *raftpb.ConfChange
		want    *raftpb.ConfState
		wantErr bool
	}{
		{"add learner", base, &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddLearnerNode, 5)}},
			&raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4, 5}}, false},
		{"promote learner", base, &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddNode, 4)}},
			&raftpb.ConfState{Voters: []uint64{1, 2, 3, 4}}, false},
		{"remove voter", base, &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeRemoveNode, 1)}},
			&raftpb.ConfState{Voters: []uint64{2, 3}, Learners: []uint64{4}}, false},
		{"demote voter through joint", &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
			&raftpb.ConfChange{Transition: raftpb.ConfChangeTransitionJointImplicit,
				Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddLearnerNode, 3)}}, joint, false},
		{"leave joint", joint, &raftpb.ConfChange{},
			&raftpb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}}, false},
		{"replace two voters", base, &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
			single(raftpb.ConfChangeRemoveNode, 1), single(raftpb.ConfChangeRemoveNode, 2),
			single(raftpb.ConfChangeAddNode, 4), single(raftpb.ConfChangeAddNode, 5)}},
			&raftpb.ConfState{Voters: []uint64{3, 4, 5}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true}, false},
		{"add a new voter", base, &raftpb.ConfChange{Transition: raftpb.ConfChangeTransitionAuto,
			Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddNode, 4)}}, &raftpb.ConfState{Voters: []uint64{1, 2, 3, 4}}, false},
		{"leave non-joint", base, &raftpb.ConfChange{}, nil, true},
		{"change in joint", joint, &raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeAddNode, 4)}}, nil, true},
		{"no voters left", &raftpb.ConfState{Voters: []uint64{1}},
			&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{single(raftpb.ConfChangeRemoveNode, 1)}}, nil, true},
	}
	for _, tt := range tests {
		got, err := ConfigOf(tt.from).Apply(tt.cc)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: Apply(%v) error = %v, want error %v", tt.name, tt.cc, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if diff := cmp.Diff(ConfigOf(tt.want).State(), got.State(), protocmp.Transform()); diff != "" {
			t.Errorf("%s: Apply(%v) mismatch (-want +got):\n%s", tt.name, tt.cc, diff)
		}
	}
}

func confEnt(index, term uint64) *raftpb.Entry {
	data, err := proto.Marshal(&raftpb.ConfChange{})
	if err != nil {
		panic(err)
	}
	return &raftpb.Entry{Index: index, Term: term, Type: raftpb.EntryConfChange, Data: data}
}

func TestCheckOnePendingChange(t *testing.T) {
	log := terms(1, 2, 2)
	log.ents = append(log.ents, confEnt(4, 3), ent(5, 3, "x"), confEnt(6, 3))
	tests := []struct {
		name          string
		term, applied uint64
		ents          []*raftpb.Entry
		want          string
	}{
		{"earlier change applied", 3, 4, log.ents[5:], ""},
		{"earlier change pending", 3, 3, log.ents[5:], OnePendingName},
		{"entries of another term are not the leader's", 4, 3, log.ents[5:], ""},
		{"first change", 3, 0, log.ents[3:4], ""},
	}
	for _, tt := range tests {
		if got := checkerOf(CheckOnePendingChange(1, tt.term, tt.applied, tt.ents, log)); got != tt.want {
			t.Errorf("%s: CheckOnePendingChange(applied %d) = %q, want %q", tt.name, tt.applied, got, tt.want)
		}
	}
}

func TestCheckDurableConfig(t *testing.T) {
	var l Ledger
	if err := l.Committed(1, 1, 2, terms(1, 1)); err != nil {
		t.Fatal(err)
	}
	held, empty := terms(1, 1), terms()
	four := ConfigOf(&raftpb.ConfState{Voters: []uint64{1, 2, 3, 4}})
	tests := []struct {
		name string
		logs []NodeLog
		cfg  Config
		want string
	}{
		// An entry on 2 of 4 voters meets every majority (3) of them.
		{"half of four", []NodeLog{{1, held}, {2, held}, {3, empty}, {4, empty}}, four, ""},
		{"one of four", []NodeLog{{1, held}, {2, empty}, {3, empty}, {4, empty}}, four, DurabilityName},
		{"joint, outgoing half holds it", []NodeLog{{1, held}, {2, held}, {3, empty}, {4, empty}, {5, empty}},
			ConfigOf(&raftpb.ConfState{Voters: []uint64{3, 4, 5}, VotersOutgoing: []uint64{1, 2, 3}}), ""},
		{"joint, neither half", []NodeLog{{1, held}, {2, empty}, {3, empty}, {4, empty}, {5, empty}},
			ConfigOf(&raftpb.ConfState{Voters: []uint64{3, 4, 5}, VotersOutgoing: []uint64{1, 2, 3}}), DurabilityName},
	}
	for _, tt := range tests {
		if got := checkerOf(l.CheckDurableConfig(tt.logs, tt.cfg)); got != tt.want {
			t.Errorf("%s: CheckDurableConfig = %q, want %q", tt.name, got, tt.want)
		}
	}
}
