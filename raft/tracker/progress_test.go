package tracker

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// view is the part of a Progress that the transition tests compare.
type view struct {
	State           StateType
	Match, Next     uint64
	PendingSnapshot uint64
	Paused          bool
	Inflight        int
}

func viewOf(pr *Progress) view {
	return view{
		State:           pr.State,
		Match:           pr.Match,
		Next:            pr.Next,
		PendingSnapshot: pr.PendingSnapshot,
		Paused:          pr.MsgAppFlowPaused,
		Inflight:        pr.Inflights.Count(),
	}
}

// newProgress returns a progress in state with a window of 4 messages, a
// paused flow, one inflight message when replicating, and the given indexes.
func newProgress(state StateType, match, next, pendingSnapshot uint64) *Progress {
	pr := &Progress{
		Match:            match,
		Next:             next,
		State:            state,
		PendingSnapshot:  pendingSnapshot,
		MsgAppFlowPaused: state == StateProbe,
		Inflights:        NewInflights(4, 0),
	}
	if state == StateReplicate {
		pr.Inflights.Add(next-1, 10)
	}
	return pr
}

func TestStateTypeString(t *testing.T) {
	tests := []struct {
		in   StateType
		want string
	}{
		{StateProbe, "StateProbe"},
		{StateReplicate, "StateReplicate"},
		{StateSnapshot, "StateSnapshot"},
		{7, "StateType(7)"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("StateType(%d).String() = %q, want %q", uint64(tt.in), got, tt.want)
		}
	}
}

func TestProgressBecome(t *testing.T) {
	tests := []struct {
		name string
		pr   *Progress
		f    func(*Progress)
		want view
	}{
		{"probe to probe", newProgress(StateProbe, 1, 5, 0), (*Progress).BecomeProbe,
			view{State: StateProbe, Match: 1, Next: 2}},
		{"replicate to probe", newProgress(StateReplicate, 1, 5, 0), (*Progress).BecomeProbe,
			view{State: StateProbe, Match: 1, Next: 2}},
		{"snapshot to probe resumes after snapshot", newProgress(StateSnapshot, 1, 11, 10), (*Progress).BecomeProbe,
			view{State: StateProbe, Match: 1, Next: 11}},
		{"snapshot to probe after match beyond snapshot", newProgress(StateSnapshot, 12, 13, 10), (*Progress).BecomeProbe,
			view{State: StateProbe, Match: 12, Next: 13}},
		{"probe to replicate", newProgress(StateProbe, 1, 5, 0), (*Progress).BecomeReplicate,
			view{State: StateReplicate, Match: 1, Next: 2}},
		{"replicate to replicate clears window", newProgress(StateReplicate, 1, 5, 0), (*Progress).BecomeReplicate,
			view{State: StateReplicate, Match: 1, Next: 2}},
		{"probe to snapshot", newProgress(StateProbe, 1, 5, 0), func(pr *Progress) { pr.BecomeSnapshot(10) },
			view{State: StateSnapshot, Match: 1, Next: 11, PendingSnapshot: 10}},
		{"replicate to snapshot", newProgress(StateReplicate, 1, 5, 0), func(pr *Progress) { pr.BecomeSnapshot(10) },
			view{State: StateSnapshot, Match: 1, Next: 11, PendingSnapshot: 10}},
		{"snapshot at match", newProgress(StateProbe, 10, 11, 0), func(pr *Progress) { pr.BecomeSnapshot(10) },
			view{State: StateSnapshot, Match: 10, Next: 11, PendingSnapshot: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f(tt.pr)
			if diff := cmp.Diff(tt.want, viewOf(tt.pr)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProgressBecomeSnapshotBelowMatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("BecomeSnapshot(4) with match 5: no panic, want panic")
		}
	}()
	newProgress(StateProbe, 5, 6, 0).BecomeSnapshot(4)
}

func TestProgressSentEntries(t *testing.T) {
	tests := []struct {
		name      string
		pr        *Progress
		entries   int
		lastIndex uint64
		want      view
	}{
		{"replicate", newProgress(StateReplicate, 3, 6, 0), 3, 8,
			view{State: StateReplicate, Match: 3, Next: 9, Inflight: 2}},
		{"replicate empty message", newProgress(StateReplicate, 3, 6, 0), 0, 5,
			view{State: StateReplicate, Match: 3, Next: 6, Inflight: 1}},
		{"probe with entries", &Progress{State: StateProbe, Match: 3, Next: 4, Inflights: NewInflights(4, 0)}, 2, 5,
			view{State: StateProbe, Match: 3, Next: 4, Paused: true}},
		{"empty probe", &Progress{State: StateProbe, Match: 3, Next: 4, Inflights: NewInflights(4, 0)}, 0, 3,
			view{State: StateProbe, Match: 3, Next: 4, Paused: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pr.SentEntries(tt.entries, tt.lastIndex, 100)
			if diff := cmp.Diff(tt.want, viewOf(tt.pr)); diff != "" {
				t.Errorf("SentEntries(%d, %d, 100) mismatch (-want +got):\n%s", tt.entries, tt.lastIndex, diff)
			}
		})
	}
}

func TestProgressSentEntriesPanics(t *testing.T) {
	tests := []struct {
		name string
		pr   *Progress
	}{
		{"in snapshot", newProgress(StateSnapshot, 3, 11, 10)},
		{"replicate below next", newProgress(StateReplicate, 3, 6, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("SentEntries(1, 4, 1) on %s: no panic, want panic", tt.pr)
				}
			}()
			tt.pr.SentEntries(1, 4, 1)
		})
	}
}

func TestProgressMaybeUpdate(t *testing.T) {
	tests := []struct {
		name string
		pr   *Progress
		n    uint64
		ok   bool
		want view
	}{
		{"stale below match", newProgress(StateProbe, 5, 6, 0), 4, false,
			view{State: StateProbe, Match: 5, Next: 6, Paused: true}},
		{"stale at match", newProgress(StateProbe, 5, 6, 0), 5, false,
			view{State: StateProbe, Match: 5, Next: 6, Paused: true}},
		{"probe ack raises next", newProgress(StateProbe, 5, 6, 0), 8, true,
			view{State: StateProbe, Match: 8, Next: 9}},
		{"replicate ack keeps next", newProgress(StateReplicate, 5, 20, 0), 8, true,
			view{State: StateReplicate, Match: 8, Next: 20, Inflight: 1}},
		{"replicate ack frees window", newProgress(StateReplicate, 5, 20, 0), 19, true,
			view{State: StateReplicate, Match: 19, Next: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok := tt.pr.MaybeUpdate(tt.n); ok != tt.ok {
				t.Errorf("MaybeUpdate(%d) = %v, want %v", tt.n, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, viewOf(tt.pr)); diff != "" {
				t.Errorf("MaybeUpdate(%d) mismatch (-want +got):\n%s", tt.n, diff)
			}
		})
	}
}

func TestProgressMaybeDecrTo(t *testing.T) {
	tests := []struct {
		name           string
		pr             *Progress
		rejected, hint uint64
		ok             bool
		want           view
	}{
		{"replicate stale below match", newProgress(StateReplicate, 5, 10, 0), 4, 4, false,
			view{State: StateReplicate, Match: 5, Next: 10, Inflight: 1}},
		{"replicate stale at match", newProgress(StateReplicate, 5, 10, 0), 5, 5, false,
			view{State: StateReplicate, Match: 5, Next: 10, Inflight: 1}},
		{"replicate falls back to match", newProgress(StateReplicate, 5, 10, 0), 9, 9, true,
			view{State: StateReplicate, Match: 5, Next: 6, Inflight: 1}},
		{"probe stale rejection", newProgress(StateProbe, 0, 10, 0), 5, 5, false,
			view{State: StateProbe, Match: 0, Next: 10, Paused: true}},
		{"probe rejection steps back one", newProgress(StateProbe, 0, 10, 0), 9, 9, true,
			view{State: StateProbe, Match: 0, Next: 9}},
		{"probe rejection follows hint", newProgress(StateProbe, 0, 10, 0), 9, 2, true,
			view{State: StateProbe, Match: 0, Next: 3}},
		{"probe hint at zero", newProgress(StateProbe, 0, 10, 0), 9, 0, true,
			view{State: StateProbe, Match: 0, Next: 1}},
		{"probe never goes below match", newProgress(StateProbe, 4, 10, 0), 9, 1, true,
			view{State: StateProbe, Match: 4, Next: 5}},
		{"probe hint above rejected is ignored", newProgress(StateProbe, 0, 10, 0), 9, 20, true,
			view{State: StateProbe, Match: 0, Next: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok := tt.pr.MaybeDecrTo(tt.rejected, tt.hint); ok != tt.ok {
				t.Errorf("MaybeDecrTo(%d, %d) = %v, want %v", tt.rejected, tt.hint, ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, viewOf(tt.pr)); diff != "" {
				t.Errorf("MaybeDecrTo(%d, %d) mismatch (-want +got):\n%s", tt.rejected, tt.hint, diff)
			}
		})
	}
}

func TestProgressIsPaused(t *testing.T) {
	full := newProgress(StateReplicate, 0, 2, 0)
	for i := uint64(2); i <= 4; i++ {
		full.SentEntries(1, i, 1)
	}
	byteFull := &Progress{State: StateReplicate, Match: 0, Next: 1, Inflights: NewInflights(10, 100)}
	byteFull.SentEntries(1, 1, 100)
	tests := []struct {
		name string
		pr   *Progress
		want bool
	}{
		{"probe not paused", &Progress{State: StateProbe, Next: 1, Inflights: NewInflights(4, 0)}, false},
		{"probe paused", &Progress{State: StateProbe, Next: 1, MsgAppFlowPaused: true, Inflights: NewInflights(4, 0)}, true},
		{"replicate with room", newProgress(StateReplicate, 0, 2, 0), false},
		// The paused flag means nothing outside StateProbe.
		{"replicate ignores paused flag", &Progress{State: StateReplicate, Next: 1, MsgAppFlowPaused: true, Inflights: NewInflights(4, 0)}, false},
		{"replicate window full by count", full, true},
		{"replicate window full by bytes", byteFull, true},
		{"snapshot", newProgress(StateSnapshot, 0, 11, 10), true},
	}
	for _, tt := range tests {
		if got := tt.pr.IsPaused(); got != tt.want {
			t.Errorf("%s: IsPaused() on %s = %v, want %v", tt.name, tt.pr, got, tt.want)
		}
	}
}

// TestProgressProbeRoundTrip walks one follower through a probe, a
// rejection, an acknowledgement and replication.
func TestProgressProbeRoundTrip(t *testing.T) {
	pr := &Progress{State: StateProbe, Match: 0, Next: 11, Inflights: NewInflights(2, 0)}
	pr.SentEntries(0, 10, 0)
	if !pr.IsPaused() {
		t.Fatalf("after probe: IsPaused() = false, want true")
	}
	if !pr.MaybeDecrTo(10, 6) {
		t.Fatalf("MaybeDecrTo(10, 6) = false, want true")
	}
	pr.SentEntries(4, 10, 40)
	if !pr.MaybeUpdate(10) {
		t.Fatalf("MaybeUpdate(10) = false, want true")
	}
	pr.BecomeReplicate()
	pr.SentEntries(2, 12, 20)
	pr.SentEntries(3, 15, 30)
	if !pr.IsPaused() {
		t.Fatalf("two messages in a window of two: IsPaused() = false, want true")
	}
	pr.MaybeUpdate(12)
	want := view{State: StateReplicate, Match: 12, Next: 16, Inflight: 1}
	if diff := cmp.Diff(want, viewOf(pr)); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestProgressString(t *testing.T) {
	pr := newProgress(StateReplicate, 5, 8, 0)
	pr.RecentActive = true
	pr.IsLearner = true
	if got, want := pr.String(), "StateReplicate match=5 next=8 learner inflight=1 inflight_bytes=10"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	snap := newProgress(StateSnapshot, 1, 11, 10)
	if got, want := snap.String(), "StateSnapshot match=1 next=11 paused pending_snapshot=10 inactive"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	m := ProgressMap{3: newProgress(StateProbe, 0, 1, 0), 1: newProgress(StateProbe, 2, 3, 0)}
	for i := range 2 {
		m[uint64(10+i)] = newProgress(StateProbe, 0, 1, 0)
	}
	want := "1: StateProbe match=2 next=3 paused inactive\n" +
		"3: StateProbe match=0 next=1 paused inactive\n" +
		"10: StateProbe match=0 next=1 paused inactive\n" +
		"11: StateProbe match=0 next=1 paused inactive\n"
	if got := m.String(); got != want {
		t.Errorf("ProgressMap.String() = %q, want %q", got, want)
	}
}
