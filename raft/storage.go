package raft

import (
	"errors"
	"fmt"

	"github.com/ironraft/ironraft/raftpb"
)

// ErrCompacted is returned by Storage when the requested index precedes the
// first available entry because the log was compacted into a snapshot.
var ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")

// ErrUnavailable is returned by Storage when the requested index is beyond
// the last stored entry.
var ErrUnavailable = errors.New("raft: requested entry at index is unavailable")

// ErrSnapshotOutOfDate is returned by Storage when asked to install a
// snapshot older than the one it holds.
var ErrSnapshotOutOfDate = errors.New("raft: requested snapshot is older than the existing snapshot")

// ErrSnapshotTemporarilyUnavailable is returned by Storage.Snapshot when no
// snapshot can be produced right now; the leader will ask again later.
var ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")

// Storage is the read side of the stable log: entries, hard state and
// snapshot that the application has persisted from earlier Ready batches.
// The core never writes through it. Errors other than ErrCompacted and
// ErrUnavailable stop the node (the core panics with the error: it cannot
// make progress with an unreadable log).
//
// Entries returned by Storage must not be modified afterwards by anyone.
type Storage interface {
	// InitialState returns the persisted HardState and ConfState.
	InitialState() (*raftpb.HardState, *raftpb.ConfState, error)
	// Entries returns entries in [lo, hi), limited to maxBytes of
	// PayloadSize but always at least one entry if any is in range.
	Entries(lo, hi, maxBytes uint64) ([]*raftpb.Entry, error)
	// Term returns the term of entry i, which must be in
	// [FirstIndex()-1, LastIndex()]; the term of FirstIndex()-1 is that of
	// the snapshot.
	Term(i uint64) (uint64, error)
	// LastIndex returns the index of the last stored entry.
	LastIndex() (uint64, error)
	// FirstIndex returns the index of the first entry available through
	// Entries (older ones were compacted into the snapshot).
	FirstIndex() (uint64, error)
	// Snapshot returns the most recent snapshot. If it is temporarily
	// unavailable, it returns ErrSnapshotTemporarilyUnavailable.
	Snapshot() (*raftpb.Snapshot, error)
}

// MemoryStorage is a Storage kept in memory, for tests and the simulator.
// It is not safe for concurrent use: wrap it if several goroutines touch it.
type MemoryStorage struct {
	hardState *raftpb.HardState
	snapshot  *raftpb.Snapshot
	// ents[0] is a dummy entry holding the index and term of the snapshot.
	// Invariant: len(ents) >= 1 and ents[i].Index == ents[0].Index+i.
	ents []*raftpb.Entry
}

var _ Storage = (*MemoryStorage)(nil)

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{
		hardState: &raftpb.HardState{},
		snapshot:  &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{ConfState: &raftpb.ConfState{}}},
		ents:      []*raftpb.Entry{{}},
	}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	return ms.hardState, ms.snapshot.GetMetadata().GetConfState(), nil
}

// SetHardState saves the current HardState.
func (ms *MemoryStorage) SetHardState(st *raftpb.HardState) {
	ms.hardState = &raftpb.HardState{Term: st.GetTerm(), Vote: st.GetVote(), Commit: st.GetCommit()}
}

// SetConfState records cs as the configuration of the current snapshot, for
// bootstrapping a new cluster.
func (ms *MemoryStorage) SetConfState(cs *raftpb.ConfState) {
	md := ms.snapshot.GetMetadata()
	ms.snapshot = &raftpb.Snapshot{Data: ms.snapshot.GetData(), Metadata: &raftpb.SnapshotMetadata{
		Index: md.GetIndex(), Term: md.GetTerm(), ConfState: cs,
	}}
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxBytes uint64) ([]*raftpb.Entry, error) {
	offset := ms.ents[0].GetIndex()
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, fmt.Errorf("raft: memory storage: entries [%d, %d) out of bound, last index %d: %w",
			lo, hi, ms.lastIndex(), ErrUnavailable)
	}
	if lo >= hi {
		return nil, nil
	}
	ents := ms.ents[lo-offset : hi-offset : hi-offset]
	return limitSize(ents, maxBytes), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	offset := ms.ents[0].GetIndex()
	if i < offset {
		return 0, ErrCompacted
	}
	if i-offset >= uint64(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].GetTerm(), nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) { return ms.lastIndex(), nil }

func (ms *MemoryStorage) lastIndex() uint64 {
	return ms.ents[0].GetIndex() + uint64(len(ms.ents)) - 1
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) { return ms.ents[0].GetIndex() + 1, nil }

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (*raftpb.Snapshot, error) { return ms.snapshot, nil }

// ApplySnapshot replaces the contents of the storage with snap. A snapshot
// older than the current one is refused with ErrSnapshotOutOfDate.
func (ms *MemoryStorage) ApplySnapshot(snap *raftpb.Snapshot) error {
	if snap.GetMetadata().GetIndex() < ms.snapshot.GetMetadata().GetIndex() {
		return ErrSnapshotOutOfDate
	}
	ms.snapshot = snap
	ms.ents = []*raftpb.Entry{{Term: snap.GetMetadata().GetTerm(), Index: snap.GetMetadata().GetIndex()}}
	return nil
}

// CreateSnapshot records a snapshot at index i (which must be applied, at
// most LastIndex) with the given configuration and data, and returns it.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	if i <= ms.snapshot.GetMetadata().GetIndex() {
		return nil, ErrSnapshotOutOfDate
	}
	offset := ms.ents[0].GetIndex()
	if i > ms.lastIndex() {
		return nil, fmt.Errorf("raft: memory storage: snapshot index %d beyond last index %d: %w", i, ms.lastIndex(), ErrUnavailable)
	}
	if cs == nil {
		cs = ms.snapshot.GetMetadata().GetConfState()
	}
	ms.snapshot = &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
		Index: i, Term: ms.ents[i-offset].GetTerm(), ConfState: cs,
	}}
	return ms.snapshot, nil
}

// Compact discards entries before compactIndex, which must not exceed the
// last index. Compacting at or below the first index returns ErrCompacted.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	offset := ms.ents[0].GetIndex()
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		return fmt.Errorf("raft: memory storage: compact index %d beyond last index %d: %w", compactIndex, ms.lastIndex(), ErrUnavailable)
	}
	i := compactIndex - offset
	ents := make([]*raftpb.Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = &raftpb.Entry{Index: ms.ents[i].GetIndex(), Term: ms.ents[i].GetTerm()}
	ents = append(ents, ms.ents[i+1:]...)
	ms.ents = ents
	return nil
}

// Append appends entries to the storage, replacing any existing suffix that
// they overlap. Entries before the first index are ignored. The entries must
// be contiguous and must not leave a gap after the last index.
func (ms *MemoryStorage) Append(entries []*raftpb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	first := ms.ents[0].GetIndex() + 1
	last := entries[0].GetIndex() + uint64(len(entries)) - 1
	if last < first {
		return nil
	}
	if first > entries[0].GetIndex() {
		entries = entries[first-entries[0].GetIndex():]
	}
	offset := entries[0].GetIndex() - ms.ents[0].GetIndex()
	switch {
	case uint64(len(ms.ents)) > offset:
		// Keep a copy of the prefix so slices handed out earlier stay intact.
		ents := make([]*raftpb.Entry, offset, offset+uint64(len(entries)))
		copy(ents, ms.ents[:offset])
		ms.ents = append(ents, entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return fmt.Errorf("raft: memory storage: append at index %d leaves a gap after last index %d",
			entries[0].GetIndex(), ms.lastIndex())
	}
	return nil
}

// limitSize returns the longest prefix of ents whose PayloadSize sum is at
// most maxBytes, but at least one entry.
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
