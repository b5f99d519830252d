package wal

import (
	"errors"
	"fmt"
	iofs "io/fs"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// Recovered is the state Open read back.
type Recovered struct {
	// HardState is the last hard state saved (zero if none was).
	HardState *raftpb.HardState
	// Snapshot is the last snapshot marker saved (zero if none was).
	Snapshot SnapshotMarker
	// Entries are the log's entries after the snapshot marker, consecutive
	// and ending at LastIndex: all of them, from Snapshot.Index+1, unless
	// Options.RecoverBytes is set, in which case only the newest ones whose
	// PayloadSize sum is at most RecoverBytes (the others can be read with
	// ReadEntries).
	Entries []*raftpb.Entry
	// LastIndex is the index of the last entry (Snapshot.Index when no
	// entry follows the marker).
	LastIndex uint64
	// Terms are the terms of the entries after the snapshot marker, as runs
	// (empty when there is none).
	Terms []TermRun
}

// TermRun says that the entries from Index up to the next run's Index (or
// the last index) have term Term.
type TermRun struct {
	Index, Term uint64
}

// Exist reports whether dir holds at least one segment.
func Exist(fs vfs.FS, dir string) bool {
	names, err := fs.List(dir)
	if err != nil {
		return false
	}
	for _, n := range names {
		if _, _, ok := parseSegmentName(n); ok {
			return true
		}
	}
	return false
}

// Open recovers the WAL in dir and opens it for appending. It reads every
// segment, checks that the segments form one sequence and that every header
// belongs to meta, replays the records, and cuts a torn tail of the last
// segment back to its last valid record (zeroing the torn bytes and syncing
// before it returns). Corruption anywhere else is a *CorruptionError, a
// segment of another node a *MismatchError; no data is skipped.
func Open(fs vfs.FS, dir string, meta Meta, opts Options) (*WAL, *Recovered, error) {
	if err := errors.Join(meta.validate(), opts.Validate()); err != nil {
		return nil, nil, err
	}
	opts = opts.withDefaults()
	names, err := fs.List(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil, fmt.Errorf("wal: open %s: %w", dir, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	w := newWAL(fs, dir, meta, opts)
	if err := w.removeTemps(names); err != nil {
		return nil, nil, err
	}
	segs, err := listSegments(names)
	if err != nil {
		return nil, nil, err
	}
	w.st.keep, w.st.keepBytes = true, uint64(opts.RecoverBytes)
	var lastScan scanResult
	for i, s := range segs {
		if lastScan, err = w.replaySegment(s, i == 0, i == len(segs)-1); err != nil {
			return nil, nil, err
		}
		w.segs = append(w.segs, s)
	}
	rec, err := w.recovered()
	if err != nil {
		return nil, nil, err
	}
	if err := w.openLast(lastScan); err != nil {
		return nil, nil, err
	}
	w.st.keep, w.st.keepBytes = false, 0
	w.st.dropEnts()
	w.st.ents = nil
	return w, rec, nil
}

// listSegments parses the segment names (sorted by sequence, as List sorts
// names) and checks that they form one sequence.
func listSegments(names []string) ([]segment, error) {
	var segs []segment
	for _, n := range names {
		seq, first, ok := parseSegmentName(n)
		if !ok {
			continue
		}
		if len(segs) > 0 {
			prev := segs[len(segs)-1]
			if seq != prev.seq+1 {
				return nil, &CorruptionError{Offset: -1, Reason: fmt.Sprintf(
					"segment %s follows %s: sequence %d is missing", n, prev.name(), prev.seq+1)}
			}
		}
		segs = append(segs, segment{seq: seq, first: first})
	}
	if len(segs) == 0 {
		return nil, ErrNotFound
	}
	return segs, nil
}

// replaySegment reads segment s, checks its header and replays its records
// into w.st.
func (w *WAL) replaySegment(s segment, first, last bool) (scanResult, error) {
	name := s.name()
	data, err := readFile(w.fs, w.fs.Join(w.dir, name))
	if err != nil {
		return scanResult{}, fmt.Errorf("wal: read segment %s: %w", name, err)
	}
	h, err := decodeSegmentHeader(data)
	if err != nil {
		return scanResult{}, &CorruptionError{Segment: name, Offset: 0, Reason: err.Error()}
	}
	if h.meta != w.meta {
		return scanResult{}, &MismatchError{Segment: name, Want: w.meta, Got: h.meta}
	}
	if h.seq != s.seq || h.first != s.first {
		return scanResult{}, &CorruptionError{Segment: name, Offset: 0, Reason: fmt.Sprintf(
			"header says sequence %d, first index %d, unlike its name", h.seq, h.first)}
	}
	if first {
		w.st.first = h.first
	} else if h.first != w.st.next() {
		return scanResult{}, &CorruptionError{Segment: name, Offset: 0, Reason: fmt.Sprintf(
			"segment starts at index %d, but the segments before it end at index %d", h.first, w.st.next()-1)}
	}
	return scanRecords(name, data, last, func(off int64, typ byte, payload []byte) error {
		return w.replay(s.seq, off, typ, payload)
	})
}

// replay applies one record to w.st; an error is a corruption reason.
func (w *WAL) replay(seq uint64, off int64, typ byte, payload []byte) error {
	switch typ {
	case recEntries:
		ents, err := decodeEntries(payload)
		if err != nil {
			return err
		}
		if err := w.st.checkAppend(ents[0].Index); err != nil {
			return fmt.Errorf("entry batch: %w", err)
		}
		for _, e := range ents {
			w.st.append(entryPos{term: e.Term, seq: seq, off: off}, e)
		}
	case recHardState:
		hs, err := decodeHardState(payload)
		if err != nil {
			return err
		}
		w.st.hs = hardState{hs.Term, hs.Vote, hs.Commit}
	case recSnapshot:
		m, err := decodeSnapshot(payload)
		if err != nil {
			return err
		}
		if err := w.st.checkMarker(m); err != nil {
			return err
		}
		w.st.applyMarker(m)
	case recTruncate:
		i, err := decodeTruncate(payload)
		if err != nil {
			return err
		}
		if err := w.st.checkTruncate(i); err != nil {
			return err
		}
		w.st.truncate(i)
	}
	return nil
}

// recovered checks that the entries after the snapshot marker are all
// present and returns them (the newest of them, if they are bounded).
func (w *WAL) recovered() (*Recovered, error) {
	st := &w.st
	m := st.marker
	if st.first > m.Index+1 {
		return nil, &CorruptionError{Offset: -1, Reason: fmt.Sprintf(
			"entries %d to %d are missing: the snapshot marker is at index %d and the oldest segment %s starts at index %d",
			m.Index+1, st.first-1, m.Index, w.segs[0].name(), st.first)}
	}
	rec := &Recovered{HardState: st.hs.proto(), Snapshot: m, LastIndex: st.next() - 1}
	kept := st.kept()
	if keptFirst := st.next() - uint64(len(kept)); keptFirst <= m.Index {
		kept = kept[m.Index+1-keptFirst:]
	}
	if len(kept) > 0 {
		rec.Entries = append([]*raftpb.Entry(nil), kept...)
	}
	rec.Terms = st.termRuns(m.Index + 1)
	return rec, nil
}

// openLast opens the last segment for appending after its last valid
// record, first zeroing a torn tail so that it can never be mistaken for
// records later.
func (w *WAL) openLast(sc scanResult) error {
	last := w.segs[len(w.segs)-1]
	name := w.fs.Join(w.dir, last.name())
	f, err := w.fs.OpenReadWrite(name)
	if err != nil {
		return fmt.Errorf("wal: open segment %s: %w", name, err)
	}
	if sc.dirtyEnd > sc.end {
		w.log.Warn("wal: cutting a torn tail off the last segment",
			"segment", last.name(), "offset", sc.end, "bytes", sc.dirtyEnd-sc.end)
		if _, err := f.WriteAt(make([]byte, sc.dirtyEnd-sc.end), sc.end); err != nil {
			f.Close()
			return fmt.Errorf("wal: zero the torn tail of %s: %w", name, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("wal: fsync %s after zeroing its torn tail: %w", name, err)
		}
	}
	// The records carried into the segment end somewhere at or after its
	// header; treating the header's end as the prefix's only lets a segment
	// that holds nothing but carried records be cut once more.
	w.f, w.off, w.prefixEnd = f, sc.end, segmentHeaderBytes
	return nil
}
