package tracker

import (
	"fmt"
	"slices"
	"strings"
)

// Progress is the leader's view of one follower's log. The leader updates it
// as it sends MsgApp and MsgSnap and as acknowledgements and rejections come
// back; the state decides how eagerly entries are sent.
type Progress struct {
	// Match is the highest index known to be in the follower's log and to
	// agree with the leader's. Next is the index of the next entry to send.
	// Invariant: Match < Next.
	Match, Next uint64

	// State is how the leader currently replicates to the follower.
	State StateType

	// PendingSnapshot is the index of the snapshot being sent, in
	// StateSnapshot. It is 0 in the other states.
	PendingSnapshot uint64

	// RecentActive is true if the leader has heard from the follower since
	// the last CheckQuorum round. The leader itself always counts as active.
	RecentActive bool

	// MsgAppFlowPaused is used in StateProbe: it is set once a MsgApp has
	// been sent and cleared by a reply or a heartbeat acknowledgement, so
	// that at most one probe is outstanding. It is false in the other
	// states, whose flow control is the inflight window or the snapshot.
	MsgAppFlowPaused bool

	// Inflights is the window of MsgApp not yet acknowledged, used in
	// StateReplicate. It is empty in the other states.
	Inflights *Inflights

	// IsLearner is true if the follower receives the log but does not vote.
	IsLearner bool
}

// ResetState moves pr to state, forgetting everything tied to the old state:
// the paused flag, the pending snapshot and the inflight window.
func (pr *Progress) ResetState(state StateType) {
	pr.MsgAppFlowPaused = false
	pr.PendingSnapshot = 0
	pr.State = state
	pr.Inflights.Reset()
}

// BecomeProbe moves pr to StateProbe. Coming from StateSnapshot, the
// follower is assumed to have applied the pending snapshot, so probing starts
// after it; otherwise probing starts right after Match.
func (pr *Progress) BecomeProbe() {
	if pr.State == StateSnapshot {
		pending := pr.PendingSnapshot
		pr.ResetState(StateProbe)
		pr.Next = max(pr.Match+1, pending+1)
		return
	}
	pr.ResetState(StateProbe)
	pr.Next = pr.Match + 1
}

// BecomeReplicate moves pr to StateReplicate, streaming from right after
// Match.
func (pr *Progress) BecomeReplicate() {
	pr.ResetState(StateReplicate)
	pr.Next = pr.Match + 1
}

// BecomeSnapshot moves pr to StateSnapshot while the snapshot at
// snapshotIndex is sent. Next moves past the snapshot, as if its entries
// were sent. It panics if snapshotIndex is below Match: the leader only sends
// a snapshot when entries the follower lacks are compacted away.
func (pr *Progress) BecomeSnapshot(snapshotIndex uint64) {
	if snapshotIndex < pr.Match {
		panic(fmt.Sprintf("tracker: snapshot at %d sent to follower with match %d", snapshotIndex, pr.Match))
	}
	pr.ResetState(StateSnapshot)
	pr.PendingSnapshot = snapshotIndex
	pr.Next = snapshotIndex + 1
}

// SentEntries records that a MsgApp went out carrying entries entries (0
// for an empty probe or commit update) up to lastIndex, with bytes of
// payload. In StateReplicate a non-empty message moves Next past lastIndex
// and enters the inflight window. In StateProbe the flow pauses until a
// reply or heartbeat acknowledgement. It panics in StateSnapshot, where no
// MsgApp may be sent, and in StateReplicate if lastIndex is below Next.
func (pr *Progress) SentEntries(entries int, lastIndex, bytes uint64) {
	switch pr.State {
	case StateReplicate:
		if entries == 0 {
			return
		}
		if lastIndex < pr.Next {
			panic(fmt.Sprintf("tracker: sent %d entries up to %d, below next %d", entries, lastIndex, pr.Next))
		}
		pr.Next = lastIndex + 1
		pr.Inflights.Add(lastIndex, bytes)
	case StateProbe:
		pr.MsgAppFlowPaused = true
	default:
		panic(fmt.Sprintf("tracker: sent %d entries up to %d in %s", entries, lastIndex, pr.State))
	}
}

// MaybeUpdate handles an acknowledgement that the follower's log matches up
// to n. If n is above Match it raises Match to n and Next to at least n+1,
// frees the inflights up to n, unpauses the flow and returns true. A stale
// acknowledgement (n <= Match) changes nothing and returns false.
func (pr *Progress) MaybeUpdate(n uint64) bool {
	if n <= pr.Match {
		return false
	}
	pr.Match = n
	pr.Next = max(pr.Next, n+1)
	pr.MsgAppFlowPaused = false
	pr.Inflights.FreeLE(n)
	return true
}

// MaybeDecrTo handles the rejection of a MsgApp whose previous index was
// rejected; hint is the leader's final estimate of the last index where the
// logs may agree. It returns false if the rejection is stale and changes
// nothing.
//
// In StateReplicate a rejection above Match means the optimistic stream went
// wrong: Next falls back to Match+1 and the caller moves pr to StateProbe.
// In the other states only a rejection of the latest probe (at Next-1)
// counts: Next moves back to the hint, never to Match or below, and the flow
// unpauses so that the next probe can go out.
func (pr *Progress) MaybeDecrTo(rejected, hint uint64) bool {
	if pr.State == StateReplicate {
		if rejected <= pr.Match {
			return false
		}
		pr.Next = pr.Match + 1
		return true
	}
	if pr.Next-1 != rejected {
		return false
	}
	pr.Next = max(min(rejected, hint+1), pr.Match+1)
	pr.MsgAppFlowPaused = false
	return true
}

// IsPaused reports whether the leader must hold back MsgApp to this
// follower: in StateProbe while a probe is outstanding, in StateReplicate
// while the inflight window is full, and always in StateSnapshot.
func (pr *Progress) IsPaused() bool {
	switch pr.State {
	case StateProbe:
		return pr.MsgAppFlowPaused
	case StateReplicate:
		return pr.Inflights.Full()
	case StateSnapshot:
		return true
	}
	panic(fmt.Sprintf("tracker: unknown progress state %d", uint64(pr.State)))
}

// String returns a one-line summary, e.g.
// "StateReplicate match=5 next=8 inflight=2 inflight_bytes=300".
func (pr *Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s match=%d next=%d", pr.State, pr.Match, pr.Next)
	if pr.IsLearner {
		b.WriteString(" learner")
	}
	if pr.State <= StateSnapshot && pr.IsPaused() {
		b.WriteString(" paused")
	}
	if pr.PendingSnapshot > 0 {
		fmt.Fprintf(&b, " pending_snapshot=%d", pr.PendingSnapshot)
	}
	if !pr.RecentActive {
		b.WriteString(" inactive")
	}
	if n := pr.Inflights.Count(); n > 0 {
		fmt.Fprintf(&b, " inflight=%d", n)
		if pr.Inflights.Full() {
			b.WriteString("[full]")
		}
		fmt.Fprintf(&b, " inflight_bytes=%d", pr.Inflights.Bytes())
	}
	return b.String()
}

// ProgressMap maps a peer ID to its progress.
type ProgressMap map[uint64]*Progress

// String returns one "id: progress" line per peer, in ascending ID order.
func (m ProgressMap) String() string {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%d: %s\n", id, m[id])
	}
	return b.String()
}
