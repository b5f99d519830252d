package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

var (
	// ErrCompacted is returned (wrapped) by ReadEntries for entries below the
	// oldest one the WAL still holds: their segments were compacted away,
	// or the log was discarded by a snapshot marker.
	ErrCompacted = errors.New("wal: entries compacted")
	// ErrUnavailable is returned (wrapped) by ReadEntries for entries beyond
	// the last index.
	ErrUnavailable = errors.New("wal: entries beyond the last index")
)

// readChunk is how many entry positions ReadEntries copies under the lock
// at a time.
const readChunk = 1024

// ReadEntries reads the live entries [lo, hi) back from the segment files:
// for each index, the version the latest write (after truncations) left.
// Like raft.Storage.Entries, it returns the longest prefix whose
// raftpb.Entry.PayloadSize sum is at most maxBytes, but at least one entry.
// The entries are fresh copies.
//
// Any live entry can be read, including those at or below the snapshot
// marker whose segments were not compacted yet; lo below the oldest one is
// an error wrapping ErrCompacted, hi beyond the last index + 1 one wrapping
// ErrUnavailable. A record that does not check out (a bad checksum or
// length, another record type, an entry batch that does not hold the entry
// or holds it with another term) is a *CorruptionError.
//
// Locking: ReadEntries copies the positions of the entries (segment and
// offset of their records, kept in memory since recovery) under the WAL's
// lock, a chunk at a time, and reads the records with the lock released,
// through handles of its own opened read-only with vfs.FS.Open; so it never
// blocks a Save or an fsync for its I/O. This is safe because a record is
// never written again once its position is published: Save writes new
// records only after the last one, and a truncation only writes a record
// saying that older ones are dead. If a truncation or a snapshot marker
// that discards entries comes between two chunks, ReadEntries starts again
// from lo, so the result is always the log as of one moment. A segment that
// Compact removes meanwhile makes it return an error wrapping ErrCompacted.
// ReadEntries on a closed or failed WAL returns ErrClosed or the failure.
func (w *WAL) ReadEntries(lo, hi, maxBytes uint64) ([]*raftpb.Entry, error) {
	if lo >= hi {
		return nil, nil
	}
	r := entryReader{w: w, files: map[uint64]vfs.File{}}
	defer r.close()
	for {
		ents, restart, err := r.read(lo, hi, maxBytes)
		if !restart {
			return ents, err
		}
	}
}

// entryReader is one ReadEntries call: the segments it opened, by sequence.
type entryReader struct {
	w     *WAL
	files map[uint64]vfs.File
}

func (r *entryReader) close() {
	for _, f := range r.files {
		f.Close()
	}
}

// positions returns the positions of the entries [from, min(hi, from+n))
// and the log's generation, under the lock; gen must match the one the read
// started with (if started).
func (r *entryReader) positions(from, hi uint64, gen uint64, started bool) ([]entryPos, uint64, error) {
	w := r.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return nil, 0, err
	}
	st := &w.st
	if started && st.gen != gen {
		return nil, st.gen, nil
	}
	if from < st.first {
		return nil, 0, fmt.Errorf("wal: read entries from index %d: the oldest entry held is %d: %w", from, st.first, ErrCompacted)
	}
	if hi > st.next() {
		return nil, 0, fmt.Errorf("wal: read entries up to index %d: the last index is %d: %w", hi-1, st.next()-1, ErrUnavailable)
	}
	end := min(hi, from+readChunk)
	return append([]entryPos(nil), st.pos[from-st.first:end-st.first]...), st.gen, nil
}

// read makes one attempt at ReadEntries; restart says that the log changed
// under it.
func (r *entryReader) read(lo, hi, maxBytes uint64) (ents []*raftpb.Entry, restart bool, err error) {
	var gen, size uint64
	var batch []*raftpb.Entry // the last entry batch decoded
	var batchPos entryPos
	for next := lo; next < hi; {
		pos, g, err := r.positions(next, hi, gen, next > lo)
		if err != nil {
			return nil, false, err
		}
		if next > lo && g != gen {
			return nil, true, nil
		}
		gen = g
		if pos == nil {
			return nil, true, nil
		}
		for _, p := range pos {
			if batch == nil || p.seq != batchPos.seq || p.off != batchPos.off {
				if batch, err = r.readBatch(p); err != nil {
					return nil, false, err
				}
				batchPos = p
			}
			e, err := r.entryOf(batch, p, next)
			if err != nil {
				return nil, false, err
			}
			size += e.PayloadSize()
			if len(ents) > 0 && size > maxBytes {
				return ents, false, nil
			}
			ents = append(ents, e)
			next++
		}
	}
	return ents, false, nil
}

// entryOf returns the entry at index from batch, the batch record at p,
// checking that it is there with the term the index says.
func (r *entryReader) entryOf(batch []*raftpb.Entry, p entryPos, index uint64) (*raftpb.Entry, error) {
	first := batch[0].GetIndex()
	if index < first || index-first >= uint64(len(batch)) {
		return nil, r.corrupt(p, fmt.Sprintf("entry batch holds entries %d to %d, not entry %d",
			first, first+uint64(len(batch))-1, index))
	}
	e := batch[index-first]
	if e.GetTerm() != p.term {
		return nil, r.corrupt(p, fmt.Sprintf("entry %d has term %d, but the log has it with term %d", index, e.GetTerm(), p.term))
	}
	return e, nil
}

func (r *entryReader) corrupt(p entryPos, reason string) error {
	return &CorruptionError{Segment: r.segmentName(p.seq), Offset: p.off, Reason: reason}
}

// segmentName returns the name of segment seq, or a placeholder if the WAL
// no longer knows it.
func (r *entryReader) segmentName(seq uint64) string {
	w := r.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.segs {
		if s.seq == seq {
			return s.name()
		}
	}
	return fmt.Sprintf("%016x-*%s", seq, segmentSuffix)
}

// readBatch reads and decodes the entry batch record at p.
func (r *entryReader) readBatch(p entryPos) ([]*raftpb.Entry, error) {
	f, err := r.file(p.seq)
	if err != nil {
		return nil, err
	}
	var hdr [frameHeaderBytes]byte
	if _, err := f.ReadAt(hdr[:], p.off); err != nil {
		if err == io.EOF {
			return nil, r.corrupt(p, "record header extends past the end of the segment")
		}
		return nil, fmt.Errorf("wal: read segment %s: %w", f.Name(), err)
	}
	length := binary.LittleEndian.Uint32(hdr[:])
	if length == 0 || length > maxRecordBytes {
		return nil, r.corrupt(p, fmt.Sprintf("record length %d, want 1 to %d", length, maxRecordBytes))
	}
	frame := make([]byte, frameHeaderBytes+int(length))
	if n, err := f.ReadAt(frame, p.off); n < len(frame) {
		if err == io.EOF || err == nil {
			return nil, r.corrupt(p, "record extends past the end of the segment")
		}
		return nil, fmt.Errorf("wal: read segment %s: %w", f.Name(), err)
	}
	typ, payload, _, err := decodeFrame(frame)
	if err != nil {
		return nil, r.corrupt(p, err.Error())
	}
	if typ != recEntries {
		return nil, r.corrupt(p, fmt.Sprintf("record type %d, want an entry batch (%d)", typ, recEntries))
	}
	batch, err := decodeEntries(payload)
	if err != nil {
		return nil, r.corrupt(p, err.Error())
	}
	return batch, nil
}

// file returns a read-only handle of segment seq, opening it if needed.
func (r *entryReader) file(seq uint64) (vfs.File, error) {
	if f, ok := r.files[seq]; ok {
		return f, nil
	}
	name := r.segmentName(seq)
	f, err := r.w.fs.Open(r.w.fs.Join(r.w.dir, name))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, fmt.Errorf("wal: read entries: segment %s is gone: %w", name, ErrCompacted)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: read entries: open segment %s: %w", name, err)
	}
	r.files[seq] = f
	return f, nil
}
