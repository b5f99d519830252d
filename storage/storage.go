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

// DefaultCacheBytes is the default bound of the entries kept in memory.
const DefaultCacheBytes = 64 << 20

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
	// CacheBytes bounds the newest entries kept in memory, by the sum of
	// their raftpb.Entry.PayloadSize; older ones are read from the WAL's
	// segments. Default DefaultCacheBytes; not negative.
	CacheBytes int64
	// Logger receives the few log lines of the storage, the WAL and the
	// snapshots (torn tails cut, corrupt snapshots skipped, failure).
	// Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.SnapshotsKept == 0 {
		o.SnapshotsKept = DefaultSnapshotsKept
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
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
	if o.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("storage: CacheBytes = %d, want 0 (default) or positive", o.CacheBytes))
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
	// rewriting is set while a write that replaces or discards entries
	// has changed, or may have changed, the WAL but not yet ents: the WAL
	// is then ahead of ents, and Entries does not read it optimistically.
	rewriting bool
	failed    error // the first fatal error; once set, every call returns it
	closed    bool
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
	return s.failLocked(op, err)
}

// failLocked is fail with mu held.
func (s *Storage) failLocked(op string, err error) error {
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

// Entries implements raft.Storage. Entries older than the cache are read
// from the WAL without holding the lock (see the package doc).
func (s *Storage) Entries(lo, hi, maxBytes uint64) ([]*raftpb.Entry, error) {
	for attempt := 0; ; attempt++ {
		// The log may change under an optimistic read; after a few tries,
		// hold off the writers.
		exclusive := attempt >= optimisticReads
		if exclusive {
			s.wmu.Lock()
		}
		ents, done, err := s.readEntries(lo, hi, maxBytes, exclusive)
		if exclusive {
			s.wmu.Unlock()
		}
		if done || exclusive {
			return ents, err
		}
	}
}

// optimisticReads is how many times Entries reads the WAL while writes may
// change the log before it excludes them.
const optimisticReads = 3

// readEntries is one attempt at Entries; done is false if a write changed
// the log while it read the WAL (never when exclusive: wmu is held).
func (s *Storage) readEntries(lo, hi, maxBytes uint64, exclusive bool) (ents []*raftpb.Entry, done bool, err error) {
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return nil, true, err
	}
	if err := s.ents.checkRange(lo, hi); err != nil || lo >= hi {
		s.mu.Unlock()
		return nil, true, err
	}
	cf := s.ents.cacheFirst()
	if lo < cf && s.rewriting {
		s.mu.Unlock()
		return nil, false, nil
	}
	if lo >= cf {
		defer s.mu.Unlock()
		return s.ents.cached(lo, hi, maxBytes), true, nil
	}
	gen := s.ents.gen
	s.mu.Unlock()

	walHi := min(hi, cf)
	ents, werr := s.wal.ReadEntries(lo, walHi, maxBytes)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, true, err
	}
	if s.ents.gen != gen {
		return nil, false, nil
	}
	if werr != nil {
		if !exclusive && (errors.Is(werr, wal.ErrCompacted) || errors.Is(werr, wal.ErrUnavailable)) {
			// A write in progress changed the WAL, not yet the memLog.
			return nil, false, nil
		}
		return nil, true, s.failLocked("read entries from the WAL", werr)
	}
	if uint64(len(ents)) < walHi-lo || walHi == hi {
		return ents, true, nil
	}
	if s.ents.cacheFirst() > walHi {
		return nil, false, nil // evicted meanwhile
	}
	return limitSize(append(ents, s.ents.cached(walHi, hi, 1<<63)...), maxBytes), true, nil
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
	return s.ents.last, nil
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
