package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/snap"
	"github.com/ironraft/ironraft/wal"
)

// DefaultSnapshotsKept is the default number of snapshot files kept: two,
// so that a corrupt newest snapshot can fall back to the one before it.
const DefaultSnapshotsKept = 2

// Options configures a Storage. The zero value is valid: Open applies the
// defaults.
type Options struct {
	// SegmentBytes is the WAL's segment size (wal.Options.SegmentBytes).
	// Default wal.DefaultSegmentBytes.
	SegmentBytes int64
	// SnapshotsKept is how many snapshot files are kept, at least 1.
	// Default DefaultSnapshotsKept. With 1, a corrupt snapshot file cannot
	// be recovered from.
	SnapshotsKept int
	// Logger receives the few log lines of the storage, the WAL and the
	// snapshots (torn tails cut, corrupt snapshots skipped, failure).
	// Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.SnapshotsKept == 0 {
		o.SnapshotsKept = DefaultSnapshotsKept
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports every problem with o, without changing it.
func (o Options) Validate() error {
	var errs []error
	if o.SnapshotsKept < 0 {
		errs = append(errs, fmt.Errorf("storage: SnapshotsKept = %d, want 0 (default) or at least 1", o.SnapshotsKept))
	}
	if err := (wal.Options{SegmentBytes: o.SegmentBytes}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("storage: %w", err))
	}
	return errors.Join(errs...)
}

var (
	// ErrClosed is returned by every call on a closed Storage.
	ErrClosed = errors.New("storage: closed")
	// ErrNotEmpty is returned by Bootstrap on a storage that already holds
	// a snapshot, entries or a hard state (a restarted node: nothing to do).
	ErrNotEmpty = errors.New("storage: not empty")
)

// InconsistentError says the WAL and the snapshot files do not describe one
// state the node can start from: the node must refuse to start (and an
// operator must restore the directory, or replace the node).
type InconsistentError struct {
	// Marker is the WAL's last snapshot marker (zero if none).
	Marker wal.SnapshotMarker
	// Snapshot is the index and term of the newest loadable snapshot (zero
	// if none).
	Snapshot wal.SnapshotMarker
	// Reason says what is wrong, with the values that prove it.
	Reason string
}

func (e *InconsistentError) Error() string {
	return fmt.Sprintf("storage: WAL and snapshots disagree (WAL snapshot marker at index %d term %d, newest loadable snapshot at index %d term %d): %s",
		e.Marker.Index, e.Marker.Term, e.Snapshot.Index, e.Snapshot.Term, e.Reason)
}

// Storage is the durable Raft state of one node. It implements raft.Storage
// for the core and SaveReady, CreateSnapshot, Compact for the application.
// It is safe for concurrent use (see the package doc).
type Storage struct {
	opts Options
	log  *slog.Logger
	wal  *wal.WAL
	snap *snap.Snapshotter

	// wmu serializes the writers; held for the whole of a write, disk I/O
	// included. Lock order: wmu before mu.
	wmu sync.Mutex
	// marker is the WAL's snapshot marker. Written under wmu only.
	marker wal.SnapshotMarker
	// prev is the snapshot before the newest one that the WAL keeps the
	// entries after (a fallback target): the WAL is compacted only up to
	// it. Invariant: marker.Index <= prev.Index <= snapshot index, except
	// that marker may equal the newest snapshot (one from a leader).
	// Written under wmu only.
	prev wal.SnapshotMarker

	mu       sync.Mutex // guards what follows
	hs       *raftpb.HardState
	snapshot *raftpb.Snapshot // the newest durable snapshot; metadata never nil
	ents     memLog
	failed   error // the first fatal error; once set, every call returns it
	closed   bool
}

var _ raft.Storage = (*Storage)(nil)

// usable returns the error every call returns on a failed or closed
// Storage. Called with mu held.
func (s *Storage) usable() error {
	if s.failed != nil {
		return s.failed
	}
	if s.closed {
		return ErrClosed
	}
	return nil
}

// fail records err as the Storage's fatal error (the first one wins), logs
// it once, and returns the recorded error.
func (s *Storage) fail(op string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = fmt.Errorf("storage: %s: %w", op, err)
		s.log.Error("storage failed; the node must stop and recover from disk", "op", op, "err", err)
	}
	return s.failed
}

// InitialState implements raft.Storage: the hard state, and the
// configuration of the snapshot.
func (s *Storage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, nil, err
	}
	cs := s.snapshot.GetMetadata().GetConfState()
	if cs == nil {
		cs = &raftpb.ConfState{}
	}
	return s.hs, cs, nil
}

// Entries implements raft.Storage.
func (s *Storage) Entries(lo, hi, maxBytes uint64) ([]*raftpb.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	return s.ents.entries(lo, hi, maxBytes)
}

// Term implements raft.Storage.
func (s *Storage) Term(i uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return 0, err
	}
	return s.ents.term(i)
}

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return 0, err
	}
	return s.ents.last(), nil
}

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return 0, err
	}
	return s.ents.first(), nil
}

// Snapshot implements raft.Storage: the newest durable snapshot.
func (s *Storage) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	return s.snapshot, nil
}

// Close closes the WAL (syncing it). Later calls return ErrClosed, or the
// fatal error if the Storage failed.
func (s *Storage) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		err := s.usable()
		s.mu.Unlock()
		return err
	}
	s.closed = true
	failed := s.failed
	s.mu.Unlock()
	err := s.wal.Close()
	if failed != nil {
		return failed
	}
	if err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

func snapMeta(sn *raftpb.Snapshot) wal.SnapshotMarker {
	return wal.SnapshotMarker{Index: sn.GetMetadata().GetIndex(), Term: sn.GetMetadata().GetTerm()}
}
