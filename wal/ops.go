package wal

import (
	"fmt"
)

// SaveSnapshotMarker records that a snapshot at (index, term) is durable
// elsewhere, and returns once the record is durable. It applies Raft's rule
// for installing a snapshot: if the log holds the entry at index with term,
// the entries after it are kept, otherwise the whole log is discarded and
// the next entry saved must have index+1. Markers never go back.
//
// A marker that discards entries after the current marker is preceded, in
// the same write, by a truncation of them: replay then discards them too
// even if compaction has removed the segment holding the entry at index by
// then, when it could no longer compare that entry's term (see
// logState.discards).
func (w *WAL) SaveSnapshotMarker(index, term uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	m := SnapshotMarker{Index: index, Term: term}
	if err := w.st.checkMarker(m); err != nil {
		return fmt.Errorf("wal: save snapshot marker: %w", err)
	}
	w.buf = w.buf[:0]
	var truncateAt uint64
	if w.st.discards(m) && w.st.next() > w.st.marker.Index+1 {
		truncateAt = w.st.marker.Index + 1
		w.buf = appendFrame(w.buf, recTruncate, func(b []byte) []byte { return appendTruncate(b, truncateAt) })
	}
	w.buf = appendFrame(w.buf, recSnapshot, func(b []byte) []byte { return appendSnapshot(b, m) })
	if _, err := w.write(w.buf); err != nil {
		return err
	}
	if truncateAt != 0 {
		w.st.truncate(truncateAt)
	}
	w.st.applyMarker(m)
	return w.waitSynced(w.writtenGen)
}

// Compact removes the oldest segments whose entries are all at or below
// index, which must not be above the snapshot marker. The last segment is
// never removed. Segments are removed oldest first, so a crash part way
// leaves a valid WAL.
func (w *WAL) Compact(index uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if index > w.st.marker.Index {
		return fmt.Errorf("wal: compact to index %d: above the snapshot marker at index %d", index, w.st.marker.Index)
	}
	// The live entries of segment k are all below the first index of every
	// later segment (each was cut when the log ended just before its first
	// index), so segments 0..k may go when some later one starts at or
	// below index+1.
	k, minFirst := -1, w.st.next()
	for j := len(w.segs) - 1; j > 0; j-- {
		minFirst = min(minFirst, w.segs[j].first)
		if minFirst <= index+1 {
			k = j - 1
			break
		}
	}
	if k < 0 {
		return nil
	}
	removed := 0
	for _, s := range w.segs[:k+1] {
		if err := w.fs.Remove(w.fs.Join(w.dir, s.name())); err != nil {
			w.dropSegments(removed)
			return fmt.Errorf("wal: compact to index %d: %w", index, err)
		}
		removed++
	}
	w.dropSegments(removed)
	if err := w.fs.SyncDir(w.dir); err != nil {
		return w.fail("fsync directory", w.dir, err)
	}
	return nil
}

// dropSegments forgets the n oldest segments and the positions of the
// entries in them.
func (w *WAL) dropSegments(n int) {
	if n == 0 {
		return
	}
	lastGone := w.segs[n-1].seq
	w.segs = append(w.segs[:0], w.segs[n:]...)
	i := 0
	for i < len(w.st.pos) && w.st.pos[i].seq <= lastGone {
		i++
	}
	w.st.first += uint64(i)
	w.st.pos = append(w.st.pos[:0], w.st.pos[i:]...)
}

// Close syncs the last segment and closes the WAL. Later calls return
// ErrClosed (or the failure, if the WAL failed). Closing a failed WAL
// releases its files and returns the failure.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.usable()
	}
	for w.syncing {
		w.synced.Wait()
	}
	var err error
	if w.failed == nil {
		err = w.waitSynced(w.writtenGen)
	}
	w.closed = true
	w.closeRetired()
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wal: close %s: %w", w.f.Name(), cerr)
	}
	if err == nil {
		err = w.failed
	}
	w.synced.Broadcast()
	return err
}

// LastIndex returns the index of the last entry (the snapshot marker's index
// when no entry follows it).
func (w *WAL) LastIndex() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st.next() - 1
}

// Segments returns the names of the segment files, oldest first.
func (w *WAL) Segments() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, len(w.segs))
	for i, s := range w.segs {
		names[i] = s.name()
	}
	return names
}

// Sync returns once everything saved so far is durable. Concurrent calls
// (and concurrent Saves with sync) share fsyncs: appenders that must assign
// indexes in order can Save without sync under their own lock, then Sync
// outside it and still be group-committed.
func (w *WAL) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	return w.waitSynced(w.writtenGen)
}
