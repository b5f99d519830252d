package quorum

import (
	"math"
	"testing"

	"pgregory.net/rapid"
)

func mc(ids ...uint64) MajorityConfig {
	c := MajorityConfig{}
	for _, id := range ids {
		c[id] = struct{}{}
	}
	return c
}

func TestIndexString(t *testing.T) {
	tests := []struct {
		in   Index
		want string
	}{
		{0, "0"},
		{17, "17"},
		{math.MaxUint64 - 1, "18446744073709551614"},
		{math.MaxUint64, "∞"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Index(%d).String() = %q, want %q", uint64(tt.in), got, tt.want)
		}
	}
}

func TestVoteResultString(t *testing.T) {
	tests := []struct {
		in   VoteResult
		want string
	}{
		{VotePending, "VotePending"},
		{VoteLost, "VoteLost"},
		{VoteWon, "VoteWon"},
		{0, "VoteResult(0)"},
		{9, "VoteResult(9)"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("VoteResult(%d).String() = %q, want %q", uint8(tt.in), got, tt.want)
		}
	}
}

func TestConfigString(t *testing.T) {
	tests := []struct {
		in   JointConfig
		want string
	}{
		{JointConfig{}, "()"},
		{JointConfig{mc(3, 1, 2)}, "(1 2 3)"},
		{JointConfig{mc(3, 1, 2), mc()}, "(1 2 3)"},
		{JointConfig{mc(10, 2, 1), mc(4, 2, 1)}, "(1 2 10)&&(1 2 4)"},
		{JointConfig{mc(), mc(1)}, "()&&(1)"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("JointConfig%v.String() = %q, want %q", [2]MajorityConfig(tt.in), got, tt.want)
		}
	}
}

func TestMajorityConfigSlice(t *testing.T) {
	if got := mc().Slice(); got != nil {
		t.Errorf("MajorityConfig{}.Slice() = %v, want nil", got)
	}
	got := mc(9, 3, 5, 1).Slice()
	want := []uint64{1, 3, 5, 9}
	if len(got) != len(want) {
		t.Fatalf("Slice() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Slice() = %v, want %v", got, want)
		}
	}
}

func TestJointConfigIDs(t *testing.T) {
	got := JointConfig{mc(1, 2, 3), mc(3, 4)}.IDs()
	if s := MajorityConfig(got).String(); s != "(1 2 3 4)" {
		t.Errorf("IDs() = %s, want (1 2 3 4)", s)
	}
}

func TestMajorityCommittedIndex(t *testing.T) {
	const inf = Index(math.MaxUint64)
	tests := []struct {
		voters MajorityConfig
		acked  MapAckIndexer
		want   Index
	}{
		{mc(), MapAckIndexer{1: 5}, inf},
		{mc(1), MapAckIndexer{}, 0},
		{mc(1), MapAckIndexer{1: 12}, 12},
		{mc(1, 2), MapAckIndexer{1: 12, 2: 5}, 5},
		{mc(1, 2), MapAckIndexer{1: 12}, 0},
		{mc(1, 2, 3), MapAckIndexer{1: 12, 2: 5, 3: 7}, 7},
		{mc(1, 2, 3), MapAckIndexer{1: 12, 2: 5}, 5},
		{mc(1, 2, 3), MapAckIndexer{1: 12}, 0},
		// Entries for non-voters (learners) are ignored.
		{mc(1, 2, 3), MapAckIndexer{1: 12, 4: 100, 5: 100}, 0},
		{mc(1, 2, 3, 4), MapAckIndexer{1: 9, 2: 8, 3: 7, 4: 6}, 7},
		{mc(1, 2, 3, 4, 5), MapAckIndexer{1: 9, 2: 8, 3: 7, 4: 6, 5: 5}, 7},
		{mc(1, 2, 3, 4, 5, 6, 7, 8, 9), MapAckIndexer{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9}, 5},
		{mc(1, 2, 3), MapAckIndexer{1: inf, 2: inf, 3: 3}, inf},
	}
	for _, tt := range tests {
		if got := tt.voters.CommittedIndex(tt.acked); got != tt.want {
			t.Errorf("%s.CommittedIndex(%v) = %s, want %s", tt.voters, tt.acked, got, tt.want)
		}
	}
}

func TestJointCommittedIndex(t *testing.T) {
	tests := []struct {
		voters JointConfig
		acked  MapAckIndexer
		want   Index
	}{
		{JointConfig{mc(1, 2, 3)}, MapAckIndexer{1: 10, 2: 8, 3: 6}, 8},
		{JointConfig{mc(1, 2, 3), mc()}, MapAckIndexer{1: 10, 2: 8, 3: 6}, 8},
		// The outgoing majority (3 4 5) has only reached 4.
		{JointConfig{mc(1, 2, 3), mc(3, 4, 5)}, MapAckIndexer{1: 10, 2: 8, 3: 6, 4: 4, 5: 2}, 4},
		// The incoming majority is the slower one.
		{JointConfig{mc(1, 2, 3), mc(3, 4, 5)}, MapAckIndexer{1: 1, 2: 2, 3: 6, 4: 9, 5: 9}, 2},
		{JointConfig{mc(1), mc(1)}, MapAckIndexer{1: 3}, 3},
		{JointConfig{}, MapAckIndexer{1: 3}, math.MaxUint64},
	}
	for _, tt := range tests {
		if got := tt.voters.CommittedIndex(tt.acked); got != tt.want {
			t.Errorf("%s.CommittedIndex(%v) = %s, want %s", tt.voters, tt.acked, got, tt.want)
		}
	}
}

func TestMajorityVoteResult(t *testing.T) {
	tests := []struct {
		voters MajorityConfig
		votes  map[uint64]bool
		want   VoteResult
	}{
		{mc(), nil, VoteWon},
		{mc(1), nil, VotePending},
		{mc(1), map[uint64]bool{1: true}, VoteWon},
		{mc(1), map[uint64]bool{1: false}, VoteLost},
		{mc(1, 2), map[uint64]bool{1: true}, VotePending},
		{mc(1, 2), map[uint64]bool{1: false}, VoteLost},
		{mc(1, 2), map[uint64]bool{1: true, 2: true}, VoteWon},
		{mc(1, 2, 3), map[uint64]bool{1: true, 2: true}, VoteWon},
		{mc(1, 2, 3), map[uint64]bool{1: true, 2: false}, VotePending},
		{mc(1, 2, 3), map[uint64]bool{1: false, 2: false}, VoteLost},
		// Votes from non-voters do not count.
		{mc(1, 2, 3), map[uint64]bool{1: true, 4: true, 5: true}, VotePending},
		{mc(1, 2, 3, 4), map[uint64]bool{1: true, 2: true}, VotePending},
		{mc(1, 2, 3, 4), map[uint64]bool{1: false, 2: false}, VoteLost},
		{mc(1, 2, 3, 4), map[uint64]bool{1: true, 2: true, 3: true}, VoteWon},
	}
	for _, tt := range tests {
		if got := tt.voters.VoteResult(tt.votes); got != tt.want {
			t.Errorf("%s.VoteResult(%v) = %s, want %s", tt.voters, tt.votes, got, tt.want)
		}
	}
}

func TestJointVoteResult(t *testing.T) {
	tests := []struct {
		voters JointConfig
		votes  map[uint64]bool
		want   VoteResult
	}{
		{JointConfig{}, nil, VoteWon},
		{JointConfig{mc(1, 2, 3)}, map[uint64]bool{1: true, 2: true}, VoteWon},
		{JointConfig{mc(1, 2, 3), mc(3, 4, 5)}, map[uint64]bool{1: true, 2: true}, VotePending},
		{JointConfig{mc(1, 2, 3), mc(3, 4, 5)}, map[uint64]bool{1: true, 2: true, 3: true, 4: true}, VoteWon},
		{JointConfig{mc(1, 2, 3), mc(3, 4, 5)}, map[uint64]bool{1: true, 2: true, 4: false, 5: false}, VoteLost},
		{JointConfig{mc(1, 2, 3), mc(3, 4, 5)}, map[uint64]bool{1: false, 2: false, 4: true}, VoteLost},
		// Lost wins over pending.
		{JointConfig{mc(1, 2, 3), mc(4, 5, 6)}, map[uint64]bool{1: false, 2: false}, VoteLost},
	}
	for _, tt := range tests {
		if got := tt.voters.VoteResult(tt.votes); got != tt.want {
			t.Errorf("%s.VoteResult(%v) = %s, want %s", tt.voters, tt.votes, got, tt.want)
		}
	}
}

func TestCommittedIndexSmallConfigDoesNotAllocate(t *testing.T) {
	c := mc(1, 2, 3, 4, 5, 6, 7)
	l := MapAckIndexer{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7}
	var jc JointConfig = JointConfig{c, mc(1, 2, 3)}
	allocs := testing.AllocsPerRun(100, func() {
		_ = jc.CommittedIndex(l)
	})
	if allocs != 0 {
		t.Errorf("CommittedIndex on 7 voters: %v allocations per run, want 0", allocs)
	}
}

// bruteCommitted is the slow, obvious committed index: the largest acked
// index that more than half of the voters have reached.
func bruteCommitted(c MajorityConfig, l MapAckIndexer) Index {
	n := len(c)
	if n == 0 {
		return math.MaxUint64
	}
	var best Index
	for _, candidate := range l {
		reached := 0
		for id := range c {
			if l[id] >= candidate {
				reached++
			}
		}
		if reached > n/2 && candidate > best {
			best = candidate
		}
	}
	return best
}

// bruteVote tries every way the missing voters could still vote.
func bruteVote(c MajorityConfig, votes map[uint64]bool) VoteResult {
	var missing []uint64
	for _, id := range c.Slice() {
		if _, ok := votes[id]; !ok {
			missing = append(missing, id)
		}
	}
	canWin, canLose := false, false
	for mask := 0; mask < 1<<len(missing); mask++ {
		all := map[uint64]bool{}
		for id := range c {
			all[id] = votes[id]
		}
		for i, id := range missing {
			all[id] = mask&(1<<i) != 0
		}
		granted := 0
		for id := range c {
			if all[id] {
				granted++
			}
		}
		if granted > len(c)/2 || len(c) == 0 {
			canWin = true
		} else {
			canLose = true
		}
	}
	switch {
	case canWin && canLose:
		return VotePending
	case canWin:
		return VoteWon
	default:
		return VoteLost
	}
}

func bruteJointVote(c JointConfig, votes map[uint64]bool) VoteResult {
	r0, r1 := bruteVote(c[0], votes), bruteVote(c[1], votes)
	if r0 == VoteLost || r1 == VoteLost {
		return VoteLost
	}
	if r0 == VotePending || r1 == VotePending {
		return VotePending
	}
	return VoteWon
}

func drawConfig(t *rapid.T, label string) MajorityConfig {
	ids := rapid.SliceOfNDistinct(rapid.Uint64Range(1, 12), 0, 9, rapid.ID[uint64]).Draw(t, label)
	return mc(ids...)
}

func TestQuorumMatchesBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := JointConfig{drawConfig(t, "incoming")}
		if rapid.Bool().Draw(t, "joint") {
			c[1] = drawConfig(t, "outgoing")
		}
		acked := MapAckIndexer{}
		votes := map[uint64]bool{}
		for id := uint64(1); id <= 12; id++ {
			if rapid.IntRange(0, 4).Draw(t, "hasAck") > 0 {
				acked[id] = Index(rapid.Uint64Range(0, 20).Draw(t, "ack"))
			}
			switch rapid.IntRange(0, 2).Draw(t, "vote") {
			case 1:
				votes[id] = true
			case 2:
				votes[id] = false
			}
		}
		for i, half := range c {
			if got, want := half.CommittedIndex(acked), bruteCommitted(half, acked); got != want {
				t.Fatalf("%s.CommittedIndex(%v) = %s, want %s (half %d)", half, acked, got, want, i)
			}
			if got, want := half.VoteResult(votes), bruteVote(half, votes); got != want {
				t.Fatalf("%s.VoteResult(%v) = %s, want %s (half %d)", half, votes, got, want, i)
			}
		}
		wantCommit := min(bruteCommitted(c[0], acked), bruteCommitted(c[1], acked))
		if got := c.CommittedIndex(acked); got != wantCommit {
			t.Fatalf("%s.CommittedIndex(%v) = %s, want %s", c, acked, got, wantCommit)
		}
		if got, want := c.VoteResult(votes), bruteJointVote(c, votes); got != want {
			t.Fatalf("%s.VoteResult(%v) = %s, want %s", c, votes, got, want)
		}
	})
}
