package wal

import (
	"fmt"

	"github.com/ironraft/ironraft/raftpb"
)

// entryPos locates one entry on disk: the entry batch record holding it.
type entryPos struct {
	term uint64
	seq  uint64 // segment sequence number
	off  int64  // offset of the entry batch record in the segment
}

// hardState is raftpb.HardState as a comparable value.
type hardState struct{ term, vote, commit uint64 }

func (h hardState) proto() *raftpb.HardState {
	return &raftpb.HardState{Term: h.term, Vote: h.vote, Commit: h.commit}
}

// logState is the log the records describe: the same rules apply when Save
// writes records and when recovery replays them, so that the WAL's view at
// run time is exactly what recovery will rebuild.
//
// Invariants: next() > marker.Index; pos holds the live entries
// first..next()-1, consecutive; ents[head:] (when kept) holds the newest
// of them, a suffix of pos, whose PayloadSize sum entsBytes is at most
// keepBytes unless keepBytes is 0 (no bound); ents[:head] are nil.
type logState struct {
	first uint64
	pos   []entryPos
	ents  []*raftpb.Entry // only during recovery; ents[head:] are the newest live entries
	head  int
	keep  bool // keep ents
	// keepBytes bounds ents (0: keep every live entry): the oldest are
	// dropped once their PayloadSize sum exceeds it.
	keepBytes uint64
	entsBytes uint64
	// gen counts the changes that replace or discard live entries
	// (truncations, markers that discard the log): positions copied under
	// the lock stay valid while it is unchanged.
	gen    uint64
	marker SnapshotMarker
	hs     hardState
}

func (s *logState) next() uint64 { return s.first + uint64(len(s.pos)) }

// term returns the term of the live entry at index, if it is known.
func (s *logState) term(index uint64) (uint64, bool) {
	if index < s.first || index >= s.next() {
		return 0, false
	}
	return s.pos[index-s.first].term, true
}

// termRuns returns the terms of the live entries from index lo on, as runs.
func (s *logState) termRuns(lo uint64) []TermRun {
	var runs []TermRun
	for i := max(lo, s.first); i < s.next(); i++ {
		if t := s.pos[i-s.first].term; len(runs) == 0 || runs[len(runs)-1].Term != t {
			runs = append(runs, TermRun{Index: i, Term: t})
		}
	}
	return runs
}

// checkTruncate reports whether a truncation at index is allowed.
func (s *logState) checkTruncate(index uint64) error {
	if index <= s.marker.Index {
		return fmt.Errorf("truncation at index %d is at or below the snapshot at index %d", index, s.marker.Index)
	}
	if index >= s.next() {
		return fmt.Errorf("truncation at index %d is beyond the last index %d", index, s.next()-1)
	}
	return nil
}

// truncate discards the entries at index and above.
func (s *logState) truncate(index uint64) {
	s.gen++
	if index <= s.first {
		s.first, s.pos = index, s.pos[:0]
		s.dropEnts()
		return
	}
	if kept := s.kept(); len(kept) > 0 {
		entsFirst := s.next() - uint64(len(kept))
		if index <= entsFirst {
			s.dropEnts()
		} else {
			cut := s.head + int(index-entsFirst)
			for _, e := range s.ents[cut:] {
				s.entsBytes -= e.PayloadSize()
			}
			clear(s.ents[cut:])
			s.ents = s.ents[:cut]
		}
	}
	s.pos = s.pos[:index-s.first]
}

// kept returns the kept entries: the newest live ones.
func (s *logState) kept() []*raftpb.Entry { return s.ents[s.head:] }

// dropEnts forgets the kept entries.
func (s *logState) dropEnts() {
	clear(s.ents)
	s.ents, s.head, s.entsBytes = s.ents[:0], 0, 0
}

// checkAppend reports whether entries may be appended starting at index.
func (s *logState) checkAppend(index uint64) error {
	if index != s.next() {
		return fmt.Errorf("entries start at index %d, want %d (the last index is %d)", index, s.next(), s.next()-1)
	}
	return nil
}

func (s *logState) append(p entryPos, e *raftpb.Entry) {
	s.pos = append(s.pos, p)
	if !s.keep {
		return
	}
	s.ents = append(s.ents, e)
	s.entsBytes += e.PayloadSize()
	if s.keepBytes == 0 || s.entsBytes <= s.keepBytes {
		return
	}
	for s.head < len(s.ents) && s.entsBytes > s.keepBytes {
		s.entsBytes -= s.ents[s.head].PayloadSize()
		s.ents[s.head] = nil
		s.head++
	}
	if s.head > len(s.ents)/2 {
		// Move the kept entries to the front (amortized: at most once per
		// as many appends as there are kept entries).
		k := copy(s.ents, s.ents[s.head:])
		clear(s.ents[k:])
		s.ents, s.head = s.ents[:k], 0
	}
}

// checkMarker reports whether m may follow the current snapshot marker.
func (s *logState) checkMarker(m SnapshotMarker) error {
	if m.Index < s.marker.Index || (m.Index == s.marker.Index && m.Term != s.marker.Term) {
		return fmt.Errorf("snapshot marker (index %d, term %d) does not follow (index %d, term %d)",
			m.Index, m.Term, s.marker.Index, s.marker.Term)
	}
	if m.Index > 0 && m.Term == 0 {
		return fmt.Errorf("snapshot marker at index %d has term 0", m.Index)
	}
	return nil
}

// applyMarker applies Raft's rule for installing a snapshot (§7): if the log
// holds the snapshot's last entry with the snapshot's term, the entries after
// it are kept; otherwise the whole log is discarded and the next entry is the
// one after the snapshot. Entries at or below the marker stay in pos until
// compaction removes their segments, but are never truncated or returned.
func (s *logState) applyMarker(m SnapshotMarker) {
	discard := s.discards(m)
	s.marker = m
	if !discard {
		return
	}
	s.gen++
	s.first, s.pos = m.Index+1, s.pos[:0]
	s.dropEnts()
}

// discards reports whether applying m discards the log: m is a new marker
// and the log does not hold the entry at its index with its term.
//
// A marker below the first live index keeps the log. At run time that is
// only the current marker again (first <= marker.Index+1 always holds
// there). During recovery it is the first segment's carried marker (next >
// marker.Index held when the segment was cut), or a marker written later
// whose entry was in a segment compaction removed since: that one kept the
// log when it was written, because a marker that discards live entries is
// written after a truncation of them (see WAL.SaveSnapshotMarker), which
// brings first down to at most its index.
func (s *logState) discards(m SnapshotMarker) bool {
	if m == s.marker {
		return false
	}
	if t, ok := s.term(m.Index); ok && t == m.Term {
		return false
	}
	return m.Index >= s.first
}
