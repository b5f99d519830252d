package raft

import (
	"errors"
	"fmt"

	"github.com/ironraft/ironraft/raftpb"
)

// raftLog is the node's view of the log: the stable part in Storage plus
// the unstable tail not yet persisted.
//
// Invariant: applied <= applying <= committed <= lastIndex().
type raftLog struct {
	storage  Storage
	unstable unstable
	// committed is the highest index known to be committed.
	committed uint64
	// applying is the highest index handed out for application in a Ready.
	applying uint64
	// applied is the highest index the application acknowledged applying.
	applied uint64
	// maxApplyingBytes bounds the committed entries of one Ready.
	maxApplyingBytes uint64
}

func newLog(storage Storage, maxApplyingBytes uint64) *raftLog {
	first, err := storage.FirstIndex()
	if err != nil {
		panic(fmt.Sprintf("raft: storage: first index: %v", err))
	}
	last, err := storage.LastIndex()
	if err != nil {
		panic(fmt.Sprintf("raft: storage: last index: %v", err))
	}
	return &raftLog{
		storage:          storage,
		unstable:         unstable{offset: last + 1},
		committed:        first - 1,
		applying:         first - 1,
		applied:          first - 1,
		maxApplyingBytes: maxApplyingBytes,
	}
}

// errConflictsWithCommitted is returned by maybeAppend for entries that
// would replace committed ones: only a broken or malicious leader sends
// them, and they are refused.
var errConflictsWithCommitted = errors.New("entries conflict with committed entries")

// maybeAppend appends ents after (prevIndex, prevTerm) if the log holds that
// entry, truncating any conflicting suffix, and raises the commit index to
// min(committed, last new index). It returns the last index of the log that
// is now known to match the leader's, the first index whose entry it
// replaced (0 if it replaced none), and whether the append was accepted.
func (l *raftLog) maybeAppend(prevIndex, prevTerm, committed uint64, ents []*raftpb.Entry) (lastNew, replacedFrom uint64, ok bool, err error) {
	if !l.matchTerm(prevIndex, prevTerm) {
		return 0, 0, false, nil
	}
	lastNew = prevIndex + uint64(len(ents))
	ci := l.findConflict(ents)
	switch {
	case ci == 0:
	case ci <= l.committed:
		return 0, 0, false, fmt.Errorf("%w: entry %d, commit index %d", errConflictsWithCommitted, ci, l.committed)
	default:
		if ci <= l.lastIndex() {
			replacedFrom = ci
		}
		l.append(ents[ci-(prevIndex+1):]...)
	}
	l.commitTo(min(committed, lastNew))
	return lastNew, replacedFrom, true, nil
}

// append adds ents to the unstable tail and returns the new last index.
func (l *raftLog) append(ents ...*raftpb.Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].GetIndex() - 1; after < l.committed {
		panic(fmt.Sprintf("raft: appending after %d would truncate committed index %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents whose term
// differs from the log's, or the first entry beyond the log; 0 if all of
// ents are already in the log.
func (l *raftLog) findConflict(ents []*raftpb.Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.GetIndex(), e.GetTerm()) {
			return e.GetIndex()
		}
	}
	return 0
}

// findConflictByTerm returns the largest (index, term) of the log with
// index <= i and term <= t. A follower sends it as a hint with a rejection
// so the leader can skip all entries of a conflicting term at once; the
// leader uses it the same way on its own log to pick the next probe.
func (l *raftLog) findConflictByTerm(i, t uint64) (uint64, uint64) {
	for ; i > 0; i-- {
		ourTerm, err := l.term(i)
		if err != nil {
			// Compacted (or unavailable): the hint cannot go lower.
			return i, 0
		}
		if ourTerm <= t {
			return i, ourTerm
		}
	}
	return 0, 0
}

// unstableEntries returns the entries not yet persisted.
func (l *raftLog) unstableEntries() []*raftpb.Entry {
	return l.unstable.entries
}

// stableLastIndex returns the last index the application has persisted and
// that the unstable tail does not replace.
func (l *raftLog) stableLastIndex() uint64 {
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot.GetMetadata().GetIndex() - 1
	}
	last, err := l.storage.LastIndex()
	if err != nil {
		panic(fmt.Sprintf("raft: storage: last index: %v", err))
	}
	return min(last, l.unstable.offset-1)
}

// nextCommittedEnts returns the committed entries to apply next: persisted,
// not yet handed out, and within maxApplyingBytes.
func (l *raftLog) nextCommittedEnts() []*raftpb.Entry {
	if l.unstable.snapshot != nil {
		return nil // apply the snapshot first
	}
	lo, hi := l.applying+1, l.maxAppliableIndex()+1
	if lo >= hi {
		return nil
	}
	ents, err := l.slice(lo, hi, l.maxApplyingBytes)
	if err != nil {
		panic(fmt.Sprintf("raft: committed entries [%d, %d) unavailable: %v", lo, hi, err))
	}
	return ents
}

// hasNextCommittedEnts reports whether nextCommittedEnts would return any.
func (l *raftLog) hasNextCommittedEnts() bool {
	if l.unstable.snapshot != nil {
		return false // apply the snapshot first
	}
	return l.applying < l.maxAppliableIndex()
}

// maxAppliableIndex is the highest committed index that is also persisted:
// entries are applied only once they are durable.
func (l *raftLog) maxAppliableIndex() uint64 {
	return min(l.committed, l.stableLastIndex())
}

// snapshot returns the unstable snapshot if any, otherwise Storage's.
func (l *raftLog) snapshot() (*raftpb.Snapshot, error) {
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(fmt.Sprintf("raft: storage: first index: %v", err))
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(fmt.Sprintf("raft: storage: last index: %v", err))
	}
	return i
}

// commitTo raises the commit index to tocommit. It never lowers it.
func (l *raftLog) commitTo(tocommit uint64) {
	if l.committed >= tocommit {
		return
	}
	if l.lastIndex() < tocommit {
		panic(fmt.Sprintf("raft: commit index %d beyond last index %d", tocommit, l.lastIndex()))
	}
	l.committed = tocommit
}

// appliedTo records that entries up to i were applied.
func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if l.committed < i || i < l.applied {
		panic(fmt.Sprintf("raft: applied index %d out of range [%d, %d]", i, l.applied, l.committed))
	}
	l.applied = i
	l.applying = max(l.applying, i)
}

// acceptApplying records that entries up to i were handed out to apply.
func (l *raftLog) acceptApplying(i uint64) {
	if l.committed < i {
		panic(fmt.Sprintf("raft: applying index %d beyond committed %d", i, l.committed))
	}
	l.applying = i
}

func (l *raftLog) stableTo(i, t uint64) { l.unstable.stableTo(i, t) }

// snapshotApplied records that snapshot i was persisted and applied.
func (l *raftLog) snapshotApplied(i uint64) {
	l.unstable.stableSnapTo(i)
	if i > l.applied {
		l.applied = i
	}
	if i > l.applying {
		l.applying = i
	}
}

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		panic(fmt.Sprintf("raft: term of last index %d: %v", l.lastIndex(), err))
	}
	return t
}

// term returns the term of entry i; ErrCompacted or ErrUnavailable if the
// log does not hold it.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err == nil || errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return t, err
	}
	panic(fmt.Sprintf("raft: storage: term of %d: %v", i, err))
}

// entries returns entries from i to the end, within maxBytes.
func (l *raftLog) entries(i, maxBytes uint64) ([]*raftpb.Entry, error) {
	if i > l.lastIndex() {
		return nil, nil
	}
	return l.slice(i, l.lastIndex()+1, maxBytes)
}

// isUpToDate reports whether a log ending at (lasti, term) is at least as
// up to date as ours (paper §5.4.1).
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && lasti >= l.lastIndex())
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	ourTerm, err := l.term(i)
	return err == nil && ourTerm == t
}

// maybeCommit commits up to maxIndex if that entry is of term t; the core
// passes the leader's current term (paper §5.4.2).
func (l *raftLog) maybeCommit(maxIndex, t uint64) bool {
	if maxIndex > l.committed && l.zeroTermOnErr(l.term(maxIndex)) == t {
		l.commitTo(maxIndex)
		return true
	}
	return false
}

// restore replaces the log with snapshot s.
func (l *raftLog) restore(s *raftpb.Snapshot) {
	l.committed = s.GetMetadata().GetIndex()
	l.unstable.restore(s)
}

// slice returns entries [lo, hi) within maxBytes (at least one). The result
// must not be appended to.
func (l *raftLog) slice(lo, hi, maxBytes uint64) ([]*raftpb.Entry, error) {
	if err := l.mustCheckOutOfBounds(lo, hi); err != nil {
		return nil, err
	}
	if lo == hi {
		return nil, nil
	}
	var ents []*raftpb.Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxBytes)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		} else if errors.Is(err, ErrUnavailable) {
			panic(fmt.Sprintf("raft: entries [%d, %d) unavailable from storage", lo, min(hi, l.unstable.offset)))
		} else if err != nil {
			panic(fmt.Sprintf("raft: storage: entries: %v", err))
		}
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil // size limit reached
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		u := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(ents) > 0 {
			ents = append(append(make([]*raftpb.Entry, 0, len(ents)+len(u)), ents...), u...)
		} else {
			ents = u
		}
	}
	return limitSize(ents, maxBytes), nil
}

// mustCheckOutOfBounds returns ErrCompacted if lo precedes the log, and
// panics if [lo, hi) is malformed or beyond the end.
func (l *raftLog) mustCheckOutOfBounds(lo, hi uint64) error {
	if lo > hi {
		panic(fmt.Sprintf("raft: invalid slice %d > %d", lo, hi))
	}
	fi := l.firstIndex()
	if lo < fi {
		return ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("raft: slice[%d,%d) out of bound [%d,%d]", lo, hi, fi, l.lastIndex()))
	}
	return nil
}

func (l *raftLog) zeroTermOnErr(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0
	}
	panic(fmt.Sprintf("raft: unexpected error: %v", err))
}

// hasPendingSnapshot reports whether a received snapshot awaits persistence.
func (l *raftLog) hasPendingSnapshot() bool { return l.unstable.snapshot != nil }
