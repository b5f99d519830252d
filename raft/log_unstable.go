package raft

import (
	"fmt"

	"github.com/ironraft/ironraft/raftpb"
)

// unstable holds the part of the log that the application has not yet
// persisted: a snapshot and/or entries that follow it.
//
// Invariant: if snapshot != nil, offset == snapshot index + 1.
// Invariant: entries[i].Index == offset + i.
type unstable struct {
	snapshot *raftpb.Snapshot
	entries  []*raftpb.Entry
	offset   uint64
}

// maybeFirstIndex returns the first index of the log if the unstable part
// knows it (only when it holds a snapshot).
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.GetMetadata().GetIndex() + 1, true
	}
	return 0, false
}

// maybeLastIndex returns the last index if the unstable part holds it.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.GetMetadata().GetIndex(), true
	}
	return 0, false
}

// maybeTerm returns the term of entry i if the unstable part holds it.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.GetMetadata().GetIndex() == i {
			return u.snapshot.GetMetadata().GetTerm(), true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].GetTerm(), true
}

// stableTo marks entries up to (i, t) as persisted. If the entry at i was
// replaced since (its term differs), nothing is marked.
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	n := i + 1 - u.offset
	u.entries = u.entries[n:]
	if len(u.entries) == 0 {
		u.entries = nil
	}
	u.offset = i + 1
}

// stableSnapTo drops the snapshot if it is the one at index i.
func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.GetMetadata().GetIndex() == i {
		u.snapshot = nil
	}
}

// restore replaces the unstable part with snapshot s.
func (u *unstable) restore(s *raftpb.Snapshot) {
	u.offset = s.GetMetadata().GetIndex() + 1
	u.entries = nil
	u.snapshot = s
}

// truncateAndAppend appends ents, replacing any unstable suffix they
// overlap. ents must be contiguous.
func (u *unstable) truncateAndAppend(ents []*raftpb.Entry) {
	first := ents[0].GetIndex()
	switch {
	case first == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case first <= u.offset:
		// Everything unstable is replaced; the storage holds the prefix.
		u.offset = first
		u.entries = append([]*raftpb.Entry(nil), ents...)
	default:
		keep := u.slice(u.offset, first)
		u.entries = append(append(make([]*raftpb.Entry, 0, len(keep)+len(ents)), keep...), ents...)
	}
}

// slice returns entries [lo, hi) of the unstable part. The result must not
// be appended to.
func (u *unstable) slice(lo, hi uint64) []*raftpb.Entry {
	if lo > hi || lo < u.offset || hi > u.offset+uint64(len(u.entries)) {
		panic(fmt.Sprintf("raft: unstable.slice[%d,%d) out of bound [%d,%d]",
			lo, hi, u.offset, u.offset+uint64(len(u.entries))))
	}
	return u.entries[lo-u.offset : hi-u.offset : hi-u.offset]
}
