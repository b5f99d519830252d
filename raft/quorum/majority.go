package quorum

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// MajorityConfig is a set of voter IDs. A decision needs more than half of
// them: n/2+1 out of n.
type MajorityConfig map[uint64]struct{}

// String returns the voter IDs in ascending order, e.g. "(1 2 3)".
func (c MajorityConfig) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, id := range c.Slice() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	b.WriteByte(')')
	return b.String()
}

// Slice returns the voter IDs in ascending order, or nil if c is empty.
func (c MajorityConfig) Slice() []uint64 {
	if len(c) == 0 {
		return nil
	}
	ids := make([]uint64, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// smallConfigSize is the largest configuration whose acked indexes
// CommittedIndex sorts in a stack array rather than on the heap. Clusters of
// up to seven voters cover nearly every real deployment.
const smallConfigSize = 7

// CommittedIndex returns the largest index that a majority of the voters in c
// have acknowledged. Voters that l knows nothing about count as having
// acknowledged 0. An empty configuration returns math.MaxUint64, so that it
// does not constrain the other half of a joint configuration.
func (c MajorityConfig) CommittedIndex(l AckedIndexer) Index {
	n := len(c)
	if n == 0 {
		return math.MaxUint64
	}
	var stack [smallConfigSize]Index
	var acked []Index
	if n <= len(stack) {
		acked = stack[:0]
	} else {
		acked = make([]Index, 0, n)
	}
	// The map order does not matter here: the indexes are sorted before
	// anything is read from them.
	for id := range c {
		idx, _ := l.AckedIndex(id) // a missing voter has acked 0
		acked = append(acked, idx)
	}
	slices.Sort(acked)
	// With acked ascending, the n/2+1 voters at positions n-(n/2+1) .. n-1
	// have all acked at least acked[n-(n/2+1)], and no larger index has that
	// many acks.
	return acked[n-(n/2+1)]
}

// VoteResult tells the outcome of an election in c given votes, which maps a
// voter ID to whether it granted its vote. Voters absent from votes have not
// answered yet; entries for IDs outside c are ignored. An empty configuration
// wins, so that it is neutral inside a joint configuration.
func (c MajorityConfig) VoteResult(votes map[uint64]bool) VoteResult {
	if len(c) == 0 {
		return VoteWon
	}
	// Only counts are taken, so the map order does not matter.
	var granted, missing int
	for id := range c {
		v, ok := votes[id]
		switch {
		case !ok:
			missing++
		case v:
			granted++
		}
	}
	q := len(c)/2 + 1
	switch {
	case granted >= q:
		return VoteWon
	case granted+missing >= q:
		return VotePending
	default:
		return VoteLost
	}
}
