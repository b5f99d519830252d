// Package quorum holds the vote and commit arithmetic of Raft: given who is
// in a configuration and what each voter has acknowledged or voted, it says
// which index is committed and whether an election is won, lost or pending.
//
// A configuration is either a single majority configuration or, during a
// membership change, a joint configuration of two majorities (the incoming
// and the outgoing one) that must both agree.
//
// The package is pure: no I/O, no clock, no randomness, and no result depends
// on Go's map iteration order.
package quorum

import (
	"math"
	"strconv"
)

// Index is a log index. The value math.MaxUint64 stands for "no limit" (it is
// what an empty configuration commits) and prints as "∞".
type Index uint64

// String returns the decimal form of i, or "∞" for math.MaxUint64.
func (i Index) String() string {
	if i == math.MaxUint64 {
		return "∞"
	}
	return strconv.FormatUint(uint64(i), 10)
}

// AckedIndexer tells the highest log index a voter has acknowledged as
// durably appended. Implementations belong to the callers (the progress
// tracker implements it over its match indexes).
type AckedIndexer interface {
	// AckedIndex returns the index acknowledged by voterID, and whether
	// anything is known about that voter at all.
	AckedIndex(voterID uint64) (idx Index, found bool)
}

// MapAckIndexer is an AckedIndexer backed by a map from voter ID to index. It
// is handy in tests and for one-off computations.
type MapAckIndexer map[uint64]Index

var _ AckedIndexer = MapAckIndexer(nil)

// AckedIndex implements AckedIndexer.
func (m MapAckIndexer) AckedIndex(voterID uint64) (Index, bool) {
	idx, ok := m[voterID]
	return idx, ok
}

// VoteResult is the outcome of an election as far as the votes received so
// far can tell. The zero value is deliberately invalid.
type VoteResult uint8

const (
	// VotePending means the outcome depends on votes not yet received.
	VotePending VoteResult = 1 + iota
	// VoteLost means the election cannot be won whatever the missing votes are.
	VoteLost
	// VoteWon means the election is won whatever the missing votes are.
	VoteWon
)

// String returns the name of the constant, e.g. "VoteWon".
func (v VoteResult) String() string {
	switch v {
	case VotePending:
		return "VotePending"
	case VoteLost:
		return "VoteLost"
	case VoteWon:
		return "VoteWon"
	}
	return "VoteResult(" + strconv.Itoa(int(v)) + ")"
}
