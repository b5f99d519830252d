package storage

import (
	"errors"
	"fmt"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/wal"
)

// begin takes the writers' lock and checks that the Storage is usable; the
// caller unlocks wmu.
func (s *Storage) begin() error {
	s.wmu.Lock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usable()
}

// SaveReady persists what a raft.Ready hands out, in the order its contract
// requires: snap (if not nil) first, durably (snapshot file, then WAL
// marker); then ents, replacing any suffix of the log from ents[0].Index on,
// and hs (if not nil), in one WAL write, made durable before SaveReady
// returns if mustSync is set. Pass rd.HardState, rd.Entries, rd.Snapshot and
// rd.MustSync.
//
// A snapshot not newer than the stored one is refused with
// raft.ErrSnapshotOutOfDate, and entries that would leave a gap or replace
// compacted entries with an error, before anything is written. Any error
// from the disk is fatal (see the package doc).
func (s *Storage) SaveReady(hs *raftpb.HardState, ents []*raftpb.Entry, sn *raftpb.Snapshot, mustSync bool) error {
	defer s.wmu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	if sn != nil {
		if err := s.saveSnapshot(sn); err != nil {
			return err
		}
	}
	if len(ents) > 0 {
		s.mu.Lock()
		err := s.ents.checkAppend(ents)
		if err == nil && ents[0].GetIndex() <= s.ents.last {
			s.startRewrite()
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if hs == nil && len(ents) == 0 && !mustSync {
		return nil
	}
	if err := s.wal.Save(hs, ents, mustSync); err != nil {
		return s.fail("save to the WAL", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ents.append(ents)
	s.rewriting = false
	if hs != nil {
		s.hs = &raftpb.HardState{Term: hs.GetTerm(), Vote: hs.GetVote(), Commit: hs.GetCommit()}
	}
	return nil
}

// saveSnapshot stores a snapshot from a leader: the file, then the WAL
// marker, which the WAL needs before it accepts the entries after the
// snapshot. Called with wmu held.
func (s *Storage) saveSnapshot(sn *raftpb.Snapshot) error {
	md := sn.GetMetadata()
	if md == nil {
		return errors.New("storage: save snapshot: no metadata")
	}
	s.mu.Lock()
	cur := snapMeta(s.snapshot)
	empty := len(s.snapshot.GetMetadata().GetConfState().GetVoters()) == 0 && s.ents.last == 0
	s.mu.Unlock()
	if md.GetIndex() == 0 && cur.Index == 0 && empty && len(md.GetConfState().GetVoters()) > 0 {
		// A joining node gets the leader's initial snapshot (index 0, the
		// bootstrap configuration) when the leader never compacted: like
		// Bootstrap, it is a snapshot file and no WAL marker.
		if err := s.syncThenSaveSnapshot(sn); err != nil {
			return err
		}
		s.mu.Lock()
		s.snapshot = sn
		s.mu.Unlock()
		return nil
	}
	if md.GetIndex() <= cur.Index {
		return fmt.Errorf("storage: save snapshot at index %d, not above the stored one at index %d: %w",
			md.GetIndex(), cur.Index, raft.ErrSnapshotOutOfDate)
	}
	if err := s.syncThenSaveSnapshot(sn); err != nil {
		return err
	}
	s.mu.Lock()
	s.startRewrite()
	s.mu.Unlock()
	if err := s.wal.SaveSnapshotMarker(md.GetIndex(), md.GetTerm()); err != nil {
		return s.fail("save snapshot marker", err)
	}
	s.marker, s.prev = snapMeta(sn), cur
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshot = sn
	s.ents.applySnapshot(md.GetIndex(), md.GetTerm())
	s.rewriting = false
	return nil
}

// startRewrite marks the start of a write that may replace or discard
// entries in the WAL before it does so in ents (see Storage.rewriting).
// Called with wmu and mu held; the writer clears rewriting when it updates
// ents, or never if it fails (and every read fails from then on).
func (s *Storage) startRewrite() {
	s.rewriting = true
	s.ents.gen++
}

// syncThenSaveSnapshot makes every earlier WAL write durable (a no-op
// when they all are: the WAL does not fsync with nothing to sync), then
// saves sn. So a snapshot on disk implies that everything written before
// it is on disk too, and what a crash leaves is always the state after
// some prefix of the writes. Any error is fatal.
func (s *Storage) syncThenSaveSnapshot(sn *raftpb.Snapshot) error {
	if err := s.wal.Sync(); err != nil {
		return s.fail("sync the WAL before a snapshot", err)
	}
	if err := s.snap.Save(sn); err != nil {
		return s.fail("save snapshot", err)
	}
	return nil
}

// CreateSnapshot stores a snapshot the application made of its state up to
// index (which it has applied: the caller's job to check) with configuration
// cs (nil: the current snapshot's) and data, and returns it. It writes the
// snapshot file only (see the package doc). An index not above the current
// snapshot's is refused with raft.ErrSnapshotOutOfDate, one beyond the last
// index with raft.ErrUnavailable; a disk error is fatal.
func (s *Storage) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	defer s.wmu.Unlock()
	if err := s.begin(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	cur := s.snapshot
	term, err := s.ents.term(index)
	last := s.ents.last
	s.mu.Unlock()
	if index <= snapMeta(cur).Index {
		return nil, fmt.Errorf("storage: create snapshot at index %d, not above the stored one at index %d: %w",
			index, snapMeta(cur).Index, raft.ErrSnapshotOutOfDate)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: create snapshot at index %d, last index %d: %w", index, last, err)
	}
	if cs == nil {
		cs = cur.GetMetadata().GetConfState()
	}
	sn := &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{Index: index, Term: term, ConfState: cs}}
	if err := s.syncThenSaveSnapshot(sn); err != nil {
		return nil, err
	}
	s.prev = snapMeta(cur)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshot = sn
	return sn, nil
}

// Compact discards the entries before index from memory (the entry at index
// stays readable through Term only, as with raft.MemoryStorage) and deletes
// the WAL segments that hold only entries at or below both index and the
// previous snapshot (the newest one if SnapshotsKept is 1), so that a
// fallback to the previous snapshot still finds its entries. Compacting at or
// below the first index's predecessor returns raft.ErrCompacted; above the
// snapshot's index, an error: entries in no snapshot must stay readable.
func (s *Storage) Compact(index uint64) error {
	defer s.wmu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	s.mu.Lock()
	offset, newest := s.ents.offset, snapMeta(s.snapshot)
	s.mu.Unlock()
	if index <= offset {
		return raft.ErrCompacted
	}
	if index > newest.Index {
		return fmt.Errorf("storage: compact to index %d: above the snapshot at index %d", index, newest.Index)
	}
	target := s.prev
	if s.opts.SnapshotsKept == 1 {
		target = newest
	}
	if target.Index > s.marker.Index {
		// The WAL's log holds the entry at target (it was in the log when
		// the snapshot was made, and committed entries are never replaced),
		// so the marker keeps the entries after it.
		if err := s.wal.SaveSnapshotMarker(target.Index, target.Term); err != nil {
			return s.fail("save snapshot marker", err)
		}
		s.marker = target
	}
	if err := s.wal.Compact(min(index, s.marker.Index)); err != nil {
		return s.fail("compact the WAL", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ents.compact(index)
	return nil
}

// Bootstrap stores cs as the configuration of a new cluster's member, as a
// snapshot at index 0, term 0 with no data (raft.NewRawNode reads it back
// through InitialState). It returns ErrNotEmpty if the Storage holds a
// snapshot, entries or a hard state: a restarted node has nothing to do.
func (s *Storage) Bootstrap(cs *raftpb.ConfState) error {
	defer s.wmu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	if len(cs.GetVoters()) == 0 {
		return fmt.Errorf("storage: bootstrap with configuration %v: no voters", cs)
	}
	s.mu.Lock()
	cur, last, hs := s.snapshot.GetMetadata(), s.ents.last, s.hs
	s.mu.Unlock()
	if cur.GetIndex() > 0 || len(cur.GetConfState().GetVoters()) > 0 || last > 0 ||
		hs.GetTerm() != 0 || hs.GetVote() != 0 || hs.GetCommit() != 0 {
		return ErrNotEmpty
	}
	sn := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{ConfState: cs}}
	if err := s.snap.Save(sn); err != nil {
		return s.fail("bootstrap", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshot = sn
	return nil
}

// walMarker returns the WAL's snapshot marker as Storage tracks it, for
// tests.
func (s *Storage) walMarker() wal.SnapshotMarker {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.marker
}
