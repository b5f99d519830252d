package quorum

// JointConfig is a membership configuration made of two majorities. Index 0
// is the incoming configuration; index 1 is the outgoing one and is empty
// unless a joint membership change is in progress. A decision needs a
// majority in each half; an empty half agrees with everything.
type JointConfig [2]MajorityConfig

// String returns the incoming configuration, followed by "&&" and the
// outgoing one when c is joint, e.g. "(1 2 3)&&(1 2 4)".
func (c JointConfig) String() string {
	if len(c[1]) > 0 {
		return c[0].String() + "&&" + c[1].String()
	}
	return c[0].String()
}

// IDs returns a new set holding every voter of either half.
func (c JointConfig) IDs() map[uint64]struct{} {
	ids := make(map[uint64]struct{}, len(c[0])+len(c[1]))
	for _, half := range c {
		for id := range half {
			ids[id] = struct{}{}
		}
	}
	return ids
}

// CommittedIndex returns the largest index acknowledged by a majority of both
// halves, that is the smaller of the two halves' committed indexes.
func (c JointConfig) CommittedIndex(l AckedIndexer) Index {
	return min(c[0].CommittedIndex(l), c[1].CommittedIndex(l))
}

// VoteResult tells the outcome of an election that must be won in both
// halves: lost if either half lost, pending if either is still pending, and
// won otherwise.
func (c JointConfig) VoteResult(votes map[uint64]bool) VoteResult {
	r0, r1 := c[0].VoteResult(votes), c[1].VoteResult(votes)
	switch {
	case r0 == VoteLost || r1 == VoteLost:
		return VoteLost
	case r0 == VotePending || r1 == VotePending:
		return VotePending
	default:
		return VoteWon
	}
}
