package storage

import (
	"fmt"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// memLog is the log in memory, laid out as raft.MemoryStorage lays it out.
//
// Invariant: len(ents) >= 1; ents[0] is a dummy entry holding the index and
// term of the entry before the first one (the snapshot's, or the last
// compacted one); ents[i].Index == ents[0].Index+i. Slices handed out by
// entries are never written again: truncation copies the prefix it keeps.
type memLog struct {
	ents []*raftpb.Entry
}

func newMemLog(index, term uint64) memLog {
	return memLog{ents: []*raftpb.Entry{{Index: index, Term: term}}}
}

func (l *memLog) offset() uint64 { return l.ents[0].GetIndex() }
func (l *memLog) first() uint64  { return l.offset() + 1 }
func (l *memLog) last() uint64   { return l.offset() + uint64(len(l.ents)) - 1 }

func (l *memLog) term(i uint64) (uint64, error) {
	if i < l.offset() {
		return 0, raft.ErrCompacted
	}
	if i > l.last() {
		return 0, raft.ErrUnavailable
	}
	return l.ents[i-l.offset()].GetTerm(), nil
}

func (l *memLog) entries(lo, hi, maxBytes uint64) ([]*raftpb.Entry, error) {
	if lo <= l.offset() {
		return nil, raft.ErrCompacted
	}
	if hi > l.last()+1 {
		return nil, fmt.Errorf("storage: entries [%d, %d) out of bound, last index %d: %w",
			lo, hi, l.last(), raft.ErrUnavailable)
	}
	if lo >= hi {
		return nil, nil
	}
	ents := l.ents[lo-l.offset() : hi-l.offset() : hi-l.offset()]
	return limitSize(ents, maxBytes), nil
}

// checkAppend reports whether ents (consecutive, non-empty) may be appended:
// they must start after the first index's predecessor and leave no gap.
func (l *memLog) checkAppend(ents []*raftpb.Entry) error {
	lo := ents[0].GetIndex()
	for i, e := range ents {
		if e.GetIndex() != lo+uint64(i) {
			return fmt.Errorf("storage: entry %d of %d has index %d, want %d (entries must be consecutive)",
				i, len(ents), e.GetIndex(), lo+uint64(i))
		}
	}
	if lo <= l.offset() {
		return fmt.Errorf("storage: entries from index %d would replace compacted entries (first index %d)", lo, l.first())
	}
	if lo > l.last()+1 {
		return fmt.Errorf("storage: entries from index %d leave a gap after the last index %d", lo, l.last())
	}
	return nil
}

// append appends ents, replacing the suffix from ents[0].Index on. The
// caller checked them with checkAppend.
func (l *memLog) append(ents []*raftpb.Entry) {
	if len(ents) == 0 {
		return
	}
	keep := ents[0].GetIndex() - l.offset()
	if keep < uint64(len(l.ents)) {
		// Copy the prefix so slices handed out earlier stay intact.
		prefix := make([]*raftpb.Entry, keep, keep+uint64(len(ents)))
		copy(prefix, l.ents[:keep])
		l.ents = prefix
	}
	l.ents = append(l.ents, ents...)
}

// applySnapshot applies Raft's rule for installing a snapshot up to (index,
// term), the rule the WAL applies to its marker: if the log holds that entry
// the entries after it are kept, otherwise the log is emptied.
func (l *memLog) applySnapshot(index, term uint64) {
	if t, err := l.term(index); err == nil && t == term && index >= l.offset() {
		l.compact(index)
		return
	}
	*l = newMemLog(index, term)
}

// compact makes the entry at i (offset <= i <= last) the dummy entry.
func (l *memLog) compact(i uint64) {
	k := i - l.offset()
	ents := make([]*raftpb.Entry, 1, uint64(len(l.ents))-k)
	ents[0] = &raftpb.Entry{Index: l.ents[k].GetIndex(), Term: l.ents[k].GetTerm()}
	l.ents = append(ents, l.ents[k+1:]...)
}

// limitSize returns the longest prefix of ents whose PayloadSize sum is at
// most maxBytes, but at least one entry (as raft.MemoryStorage does).
func limitSize(ents []*raftpb.Entry, maxBytes uint64) []*raftpb.Entry {
	if len(ents) == 0 {
		return ents
	}
	size := ents[0].PayloadSize()
	for i := 1; i < len(ents); i++ {
		size += ents[i].PayloadSize()
		if size > maxBytes {
			return ents[:i]
		}
	}
	return ents
}
