package storage

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path"
	"slices"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/snap"
	"github.com/ironraft/ironraft/vfs"
	"github.com/ironraft/ironraft/wal"
)

// Names of the subdirectories of a node's data directory.
const (
	walDirName  = "wal"
	snapDirName = "snap"
)

// Open opens the durable state of the node meta in dir: it creates dir/wal
// and dir/snap if they are absent, or recovers what they hold following the
// rule in the package doc. A state that cannot be started from is an
// *InconsistentError; a WAL of another node a *wal.MismatchError; WAL
// corruption a *wal.CorruptionError (all wrapped: use errors.As).
func Open(fs vfs.FS, dir string, meta wal.Meta, opts Options) (*Storage, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := mkdirDurable(fs, dir); err != nil {
		return nil, err
	}
	sn, err := snap.New(fs, fs.Join(dir, snapDirName), opts.SnapshotsKept, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	loaded, err := sn.Load()
	if errors.Is(err, snap.ErrNoSnapshot) {
		loaded, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	s := &Storage{opts: opts, snap: sn,
		log: opts.Logger.With("node", meta.NodeID, "dir", dir)}
	walDir := fs.Join(dir, walDirName)
	wopts := wal.Options{SegmentBytes: opts.SegmentBytes, RecoverBytes: opts.CacheBytes, Logger: opts.Logger}
	var rec *wal.Recovered
	if wal.Exist(fs, walDir) {
		s.wal, rec, err = wal.Open(fs, walDir, meta, wopts)
	} else {
		if loaded != nil && loaded.GetMetadata().GetIndex() > 0 {
			return nil, &InconsistentError{Snapshot: snapMeta(loaded),
				Reason: "there are snapshot files but no WAL in " + walDir}
		}
		s.wal, err = wal.Create(fs, walDir, meta, wopts)
		rec = &wal.Recovered{HardState: &raftpb.HardState{}}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	if err := s.recover(loaded, rec); err != nil {
		s.wal.Close()
		return nil, err
	}
	return s, nil
}

// recover sets up the state in memory from the newest loadable snapshot and
// the WAL's recovered state, following the rule in the package doc.
func (s *Storage) recover(loaded *raftpb.Snapshot, rec *wal.Recovered) error {
	m := rec.Snapshot
	if loaded == nil {
		loaded = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{ConfState: &raftpb.ConfState{}}}
	}
	sm := snapMeta(loaded)
	switch {
	case m.Index > sm.Index:
		return &InconsistentError{Marker: m, Snapshot: sm, Reason: fmt.Sprintf(
			"the WAL holds no entries at or below its marker, so entries %d to %d are lost: the newest snapshot file is missing or corrupt",
			sm.Index+1, m.Index)}
	case m.Index == sm.Index && m.Term != sm.Term:
		return &InconsistentError{Marker: m, Snapshot: sm, Reason: "same index, different terms"}
	}
	s.marker, s.prev = m, m
	s.ents = newMemLog(m.Index, m.Term, uint64(s.opts.CacheBytes))
	s.ents.load(rec)
	s.hs = rec.HardState
	s.snapshot = loaded
	if sm.Index == m.Index {
		return nil
	}
	if t, err := s.ents.term(sm.Index); err == nil && t == sm.Term {
		s.ents.compact(sm.Index)
		return nil
	}
	// The snapshot is not in the log: a crash came between the snapshot file
	// and its marker in SaveReady (or the log's suffix was superseded).
	// Finish the job: the snapshot wins and the WAL discards its log.
	s.log.Warn("storage: snapshot not in the WAL's log; discarding the log and recording the snapshot in the WAL",
		"snapshot_index", sm.Index, "snapshot_term", sm.Term, "wal_last_index", s.ents.last)
	if err := s.wal.SaveSnapshotMarker(sm.Index, sm.Term); err != nil {
		return fmt.Errorf("storage: open: record snapshot at index %d in the WAL: %w", sm.Index, err)
	}
	s.marker, s.prev = sm, sm
	s.ents = newMemLog(sm.Index, sm.Term, uint64(s.opts.CacheBytes))
	return nil
}

// mkdirDurable creates dir and its missing parents and syncs the parent of
// each directory it creates, top-down, so the new directories survive a
// crash.
func mkdirDurable(fs vfs.FS, dir string) error {
	var missing []string // deepest first
	for d := dir; ; d = path.Dir(d) {
		_, err := fs.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("storage: stat %s: %w", d, err)
		}
		missing = append(missing, d)
		if path.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fs.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("storage: create directory %s: %w", dir, err)
	}
	for _, d := range slices.Backward(missing) {
		if err := fs.SyncDir(path.Dir(d)); err != nil {
			return fmt.Errorf("storage: sync directory %s: %w", path.Dir(d), err)
		}
	}
	return nil
}
