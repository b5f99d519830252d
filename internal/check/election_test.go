package check

import (
	"testing"

	"github.com/ironraft/ironraft/raftpb"
)

func TestElectionSafety(t *testing.T) {
	type obs struct{ id, term uint64 }
	tests := []struct {
		name string
		obs  []obs
		// want is the checker of the violation the last observation
		// reports ("" for none); every earlier one must pass.
		want      string
		wantTerms int
	}{
		{name: "no observations", wantTerms: 0},
		{name: "one leader per term", obs: []obs{{1, 1}, {2, 2}, {3, 3}}, wantTerms: 3},
		{name: "same leader observed twice", obs: []obs{{1, 1}, {1, 1}}, wantTerms: 1},
		{name: "same node leads several terms", obs: []obs{{1, 1}, {1, 2}, {1, 4}}, wantTerms: 3},
		{name: "terms observed out of order", obs: []obs{{2, 5}, {1, 3}, {3, 4}}, wantTerms: 3},
		{name: "two leaders in one term", obs: []obs{{1, 2}, {2, 2}}, want: ElectionSafetyName, wantTerms: 1},
		{name: "two leaders in an earlier term", obs: []obs{{1, 2}, {2, 3}, {3, 2}}, want: ElectionSafetyName, wantTerms: 2},
		{name: "two leaders in term 0", obs: []obs{{1, 0}, {2, 0}}, want: ElectionSafetyName, wantTerms: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c ElectionSafety
			for k, o := range tt.obs {
				got := checkerOf(c.Leader(o.id, o.term))
				want := ""
				if k == len(tt.obs)-1 {
					want = tt.want
				}
				if got != want {
					t.Fatalf("Leader(%d, %d) = %q, want %q", o.id, o.term, got, want)
				}
			}
			if got := c.Terms(); got != tt.wantTerms {
				t.Errorf("Terms() = %d, want %d", got, tt.wantTerms)
			}
			if c.Checks != len(tt.obs) {
				t.Errorf("Checks = %d, want %d", c.Checks, len(tt.obs))
			}
		})
	}
}

// readyObs is one OnReady call, or a Forget when forget is set.
type readyObs struct {
	id, term   uint64
	leader     bool
	stableLast uint64
	ents       []*raftpb.Entry
	forget     bool
}

func ents(es ...*raftpb.Entry) []*raftpb.Entry { return es }

// termEnts returns entries lo, lo+1, ... with the given terms.
func termEnts(lo uint64, ts ...uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for k, t := range ts {
		i := lo + uint64(k)
		out = append(out, ent(i, t, stdData(i, t)))
	}
	return out
}

func TestLeaderAppendOnly(t *testing.T) {
	tests := []struct {
		name  string
		steps []readyObs
		// want is the checker of the violation the last step reports.
		want string
	}{
		{
			name: "leader appends after its stable log",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2)},
				{id: 1, term: 2, leader: true, stableLast: 4, ents: termEnts(5, 2, 2)},
				{id: 1, term: 2, leader: true, stableLast: 6},
				{id: 1, term: 2, leader: true, stableLast: 6, ents: termEnts(7, 2)},
			},
		},
		{
			name: "first ready as leader carries follower entries before its own",
			steps: []readyObs{
				{id: 1, term: 1, leader: false, stableLast: 5},
				{id: 1, term: 3, leader: true, stableLast: 5, ents: termEnts(3, 1, 2, 2, 3)},
			},
		},
		{
			name: "followers may rewrite their logs",
			steps: []readyObs{
				{id: 1, term: 2, leader: false, stableLast: 5, ents: termEnts(3, 2)},
				{id: 1, term: 2, leader: false, stableLast: 3, ents: termEnts(2, 1, 2)},
			},
		},
		{
			name: "a new term is a new leadership",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2)},
				{id: 1, term: 3, leader: false, stableLast: 4, ents: termEnts(4, 3)},
				{id: 1, term: 4, leader: true, stableLast: 4, ents: termEnts(4, 3, 4)},
			},
		},
		{
			name: "stepping down and leading again in a later term",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2)},
				{id: 1, term: 2, leader: false, stableLast: 4},
				{id: 1, term: 5, leader: true, stableLast: 2, ents: termEnts(2, 3, 5)},
			},
		},
		{
			name: "leaders are tracked per node",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2)},
				{id: 2, term: 3, leader: true, stableLast: 2, ents: termEnts(2, 3)},
				{id: 1, term: 2, leader: true, stableLast: 4, ents: termEnts(5, 2)},
			},
		},
		{
			name: "forget after a crash starts afresh",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2)},
				{id: 1, forget: true},
				{id: 1, term: 2, leader: true, stableLast: 4, ents: termEnts(3, 1, 2)},
			},
		},
		{
			name: "leader overwrites the last entry of its stable log",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2)},
				{id: 1, term: 2, leader: true, stableLast: 4, ents: ents(ent(4, 2, "other"))},
			},
			want: LeaderAppendOnlyName,
		},
		{
			name: "leader truncates its log back into its term",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2, 2, 2)},
				{id: 1, term: 2, leader: true, stableLast: 6, ents: termEnts(5, 2)},
			},
			want: LeaderAppendOnlyName,
		},
		{
			name: "leader overwrites an entry of an earlier term",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2)},
				{id: 1, term: 2, leader: true, stableLast: 4, ents: termEnts(2, 2)},
			},
			want: LeaderAppendOnlyName,
		},
		{
			name: "leader appends an entry of another term",
			steps: []readyObs{
				{id: 1, term: 2, leader: true, stableLast: 3, ents: termEnts(4, 2)},
				{id: 1, term: 2, leader: true, stableLast: 4, ents: termEnts(5, 2, 1)},
			},
			want: LeaderAppendOnlyName,
		},
		{
			name: "new leader hands out an older entry after its own",
			steps: []readyObs{
				{id: 1, term: 3, leader: true, stableLast: 3, ents: termEnts(4, 3, 2)},
			},
			want: LeaderAppendOnlyName,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c LeaderAppendOnly
			for k, s := range tt.steps {
				if s.forget {
					c.Forget(s.id)
					continue
				}
				got := checkerOf(c.OnReady(s.id, s.term, s.leader, s.stableLast, s.ents))
				want := ""
				if k == len(tt.steps)-1 {
					want = tt.want
				}
				if got != want {
					t.Fatalf("step %d: OnReady(%d, %d, %v, %d, %d entries) = %q, want %q",
						k, s.id, s.term, s.leader, s.stableLast, len(s.ents), got, want)
				}
			}
		})
	}
}

func TestCheckLeaderCommit(t *testing.T) {
	// Entries 1-2 of term 1, 3 of term 2, 4-5 of term 3.
	log := terms(1, 1, 2, 3, 3)
	tests := []struct {
		name                 string
		term                 uint64
		oldCommit, newCommit uint64
		want                 string
	}{
		{name: "no advance", term: 3, oldCommit: 3, newCommit: 3},
		{name: "no advance, old entry", term: 3, oldCommit: 2, newCommit: 2},
		{name: "commit moves back", term: 3, oldCommit: 4, newCommit: 2},
		{name: "own-term entry commits the older ones with it", term: 3, oldCommit: 1, newCommit: 4},
		{name: "own-term entry after another", term: 3, oldCommit: 4, newCommit: 5},
		{name: "first commit from zero", term: 1, oldCommit: 0, newCommit: 2},
		{name: "earlier-term entry by counting", term: 3, oldCommit: 2, newCommit: 3, want: LeaderCommitName},
		{name: "earlier-term entry from zero", term: 3, oldCommit: 0, newCommit: 2, want: LeaderCommitName},
		{name: "entry of a later term", term: 2, oldCommit: 2, newCommit: 4, want: LeaderCommitName},
		{name: "beyond the log", term: 3, oldCommit: 5, newCommit: 6, want: LeaderCommitName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkerOf(CheckLeaderCommit(1, tt.term, tt.oldCommit, tt.newCommit, log))
			if got != tt.want {
				t.Errorf("CheckLeaderCommit(1, %d, %d, %d, log) = %q, want %q", tt.term, tt.oldCommit, tt.newCommit, got, tt.want)
			}
		})
	}
}
