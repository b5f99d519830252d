package storage

import (
	"fmt"
	"sort"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/wal"
)

// memLog is what Storage keeps in memory of the log: its bounds, the term
// of every entry (as runs, which is small), and a cache of the newest
// entries bounded by Options.CacheBytes. Older entries are read from the
// WAL (see Storage.Entries).
//
// Invariants: offset <= last; runs[0].Index == offset and runs are
// increasing by Index, all at most last (the run of offset gives the term
// of the entry before the first one: the snapshot's, or the last compacted
// one); cache holds the entries last-len(cache)+1..last, all above offset,
// whose PayloadSize sum is cacheBytes, at most limit (0: no bound). Slices
// handed out by cached are never written again: truncation copies the
// prefix it keeps, and eviction only moves the start of cache.
type memLog struct {
	offset, last uint64
	runs         []wal.TermRun
	cache        []*raftpb.Entry
	cacheBytes   uint64
	limit        uint64
	// evicted counts the entries dropped from the front of cache since its
	// array was last reallocated, so that the array is reallocated (and the
	// dropped entries freed) once they outnumber the cached ones.
	evicted int
	// gen is incremented whenever entries at existing indexes are replaced
	// or removed (truncation, compaction, a snapshot), not by appends or
	// evictions: a read of the WAL made while it did not change is still
	// the log's.
	gen uint64
}

func newMemLog(index, term, limit uint64) memLog {
	return memLog{offset: index, last: index, runs: []wal.TermRun{{Index: index, Term: term}}, limit: limit}
}

func (l *memLog) first() uint64 { return l.offset + 1 }

// cacheFirst is the index of the oldest cached entry (last+1 if none is).
func (l *memLog) cacheFirst() uint64 { return l.last + 1 - uint64(len(l.cache)) }

func (l *memLog) term(i uint64) (uint64, error) {
	if i < l.offset {
		return 0, raft.ErrCompacted
	}
	if i > l.last {
		return 0, raft.ErrUnavailable
	}
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].Index > i }) - 1
	return l.runs[k].Term, nil
}

// checkRange returns the error raft.Storage.Entries returns for [lo, hi),
// if any.
func (l *memLog) checkRange(lo, hi uint64) error {
	if lo <= l.offset {
		return raft.ErrCompacted
	}
	if hi > l.last+1 {
		return fmt.Errorf("storage: entries [%d, %d) out of bound, last index %d: %w",
			lo, hi, l.last, raft.ErrUnavailable)
	}
	return nil
}

// cached returns the entries [lo, hi), all cached, limited to maxBytes.
func (l *memLog) cached(lo, hi, maxBytes uint64) []*raftpb.Entry {
	cf := l.cacheFirst()
	return limitSize(l.cache[lo-cf:hi-cf:hi-cf], maxBytes)
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
	if lo <= l.offset {
		return fmt.Errorf("storage: entries from index %d would replace compacted entries (first index %d)", lo, l.first())
	}
	if lo > l.last+1 {
		return fmt.Errorf("storage: entries from index %d leave a gap after the last index %d", lo, l.last)
	}
	return nil
}

// append appends ents, replacing the suffix from ents[0].Index on, and
// evicts the oldest cached entries beyond the limit. The caller checked
// them with checkAppend.
func (l *memLog) append(ents []*raftpb.Entry) {
	if len(ents) == 0 {
		return
	}
	lo := ents[0].GetIndex()
	if lo <= l.last {
		l.gen++
		k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].Index >= lo })
		l.runs = l.runs[:k]
		if cf := l.cacheFirst(); lo > cf {
			// Copy the prefix so slices handed out earlier stay intact.
			keep := lo - cf
			prefix := make([]*raftpb.Entry, keep, keep+uint64(len(ents)))
			copy(prefix, l.cache[:keep])
			l.cache, l.evicted = prefix, 0
		} else {
			l.cache, l.evicted = nil, 0
		}
		l.cacheBytes = raftpb.EntriesSize(l.cache)
		l.last = lo - 1
	}
	l.push(ents)
}

// push appends entries that follow last.
func (l *memLog) push(ents []*raftpb.Entry) {
	for _, e := range ents {
		if l.runs[len(l.runs)-1].Term != e.GetTerm() {
			l.runs = append(l.runs, wal.TermRun{Index: e.GetIndex(), Term: e.GetTerm()})
		}
	}
	l.last = ents[len(ents)-1].GetIndex()
	l.cache = append(l.cache, ents...)
	l.cacheBytes += raftpb.EntriesSize(ents)
	l.evict()
}

// evict drops the oldest cached entries while the cache is over its limit.
func (l *memLog) evict() {
	if l.limit == 0 {
		return
	}
	n := 0
	for n < len(l.cache) && l.cacheBytes > l.limit {
		l.cacheBytes -= l.cache[n].PayloadSize()
		n++
	}
	l.dropFront(n)
}

// dropFront drops the n oldest cached entries.
func (l *memLog) dropFront(n int) {
	if n == 0 {
		return
	}
	l.cache = l.cache[n:]
	l.evicted += n
	if l.evicted > len(l.cache) {
		l.cache, l.evicted = append([]*raftpb.Entry(nil), l.cache...), 0
	}
}

// applySnapshot applies Raft's rule for installing a snapshot up to (index,
// term), the rule the WAL applies to its marker: if the log holds that entry
// the entries after it are kept, otherwise the log is emptied.
func (l *memLog) applySnapshot(index, term uint64) {
	if t, err := l.term(index); err == nil && t == term {
		l.compact(index)
		return
	}
	gen := l.gen
	*l = newMemLog(index, term, l.limit)
	l.gen = gen + 1
}

// compact makes the entry at i (offset <= i <= last) the one before the
// first.
func (l *memLog) compact(i uint64) {
	l.gen++
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].Index > i }) - 1
	runs := make([]wal.TermRun, 0, len(l.runs)-k)
	runs = append(runs, wal.TermRun{Index: i, Term: l.runs[k].Term})
	l.runs = append(runs, l.runs[k+1:]...)
	if cf := l.cacheFirst(); i >= cf {
		n := int(i - cf + 1)
		l.cacheBytes -= raftpb.EntriesSize(l.cache[:n])
		l.dropFront(n)
	}
	l.offset = i
}

// load sets up the log recovered from the WAL after its marker: the terms
// of every entry, and the newest entries (all of them, or those within the
// WAL's RecoverBytes).
func (l *memLog) load(rec *wal.Recovered) {
	if rec.LastIndex <= l.offset {
		return
	}
	for _, r := range rec.Terms {
		if r.Index <= l.offset || r.Index > rec.LastIndex || r.Index <= l.runs[len(l.runs)-1].Index {
			panic(fmt.Sprintf("storage: WAL recovered term runs %v that do not follow its marker at index %d", rec.Terms, l.offset))
		}
		l.runs = append(l.runs, r)
	}
	if n := len(rec.Entries); n > 0 && rec.Entries[n-1].GetIndex() != rec.LastIndex {
		panic(fmt.Sprintf("storage: WAL recovered entries up to index %d, but its last index is %d",
			rec.Entries[n-1].GetIndex(), rec.LastIndex))
	}
	l.last = rec.LastIndex
	l.cache = append([]*raftpb.Entry(nil), rec.Entries...)
	l.cacheBytes = raftpb.EntriesSize(l.cache)
	l.evict()
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
