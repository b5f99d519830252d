// Package tracker holds the leader's bookkeeping about its followers: the
// membership configuration in force, the replication progress of every peer
// (match, next, flow-control state and inflight window) and the votes of an
// election.
//
// The package is pure: no I/O, no clock, no randomness, and anything that
// walks the members does so in ascending ID order, so that results never
// depend on Go's map iteration order.
package tracker

import "strconv"

// StateType is the replication state of a follower as the leader sees it.
type StateType uint64

const (
	// StateProbe means the leader does not know where the follower's log
	// matches its own. It sends one MsgApp at a time and waits for the
	// answer, moving Next back on rejections until the logs match.
	StateProbe StateType = iota
	// StateReplicate means the logs match up to Match and the leader streams
	// entries optimistically, bounded by the inflight window.
	StateReplicate
	// StateSnapshot means the entries the follower needs are compacted away
	// and the leader is sending it a snapshot instead; no MsgApp goes out
	// until the snapshot is applied or fails.
	StateSnapshot
)

var stateNames = [...]string{
	StateProbe:     "StateProbe",
	StateReplicate: "StateReplicate",
	StateSnapshot:  "StateSnapshot",
}

// String returns the name of the constant, e.g. "StateProbe".
func (st StateType) String() string {
	if st < StateType(len(stateNames)) {
		return stateNames[st]
	}
	return "StateType(" + strconv.FormatUint(uint64(st), 10) + ")"
}
