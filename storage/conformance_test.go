package storage

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// confOp is one step applied to both a raft.MemoryStorage and a Storage.
type confOp struct {
	name string
	do   func(ms *raft.MemoryStorage, s *Storage) (memErr, err error)
}

func opAppend(es []*raftpb.Entry) confOp {
	return confOp{"append", func(ms *raft.MemoryStorage, s *Storage) (error, error) {
		return ms.Append(es), s.SaveReady(nil, es, nil, true)
	}}
}

func opHardState(h *raftpb.HardState) confOp {
	return confOp{"hardstate", func(ms *raft.MemoryStorage, s *Storage) (error, error) {
		ms.SetHardState(h)
		return nil, s.SaveReady(h, nil, nil, false)
	}}
}

// opApplySnapshot installs a leader's snapshot whose last entry is not in
// the log (where MemoryStorage and the WAL's rule agree).
func opApplySnapshot(index, term uint64, cs *raftpb.ConfState) confOp {
	sn := &raftpb.Snapshot{Data: []byte("leader"), Metadata: &raftpb.SnapshotMetadata{Index: index, Term: term, ConfState: cs}}
	return confOp{"apply snapshot", func(ms *raft.MemoryStorage, s *Storage) (error, error) {
		return ms.ApplySnapshot(sn), s.SaveReady(nil, nil, sn, false)
	}}
}

func opCreateSnapshot(i uint64, cs *raftpb.ConfState) confOp {
	return confOp{"create snapshot", func(ms *raft.MemoryStorage, s *Storage) (error, error) {
		_, memErr := ms.CreateSnapshot(i, cs, []byte("app"))
		_, err := s.CreateSnapshot(i, cs, []byte("app"))
		return memErr, err
	}}
}

func opCompact(i uint64) confOp {
	return confOp{"compact", func(ms *raft.MemoryStorage, s *Storage) (error, error) {
		return ms.Compact(i), s.Compact(i)
	}}
}

var voters = &raftpb.ConfState{Voters: []uint64{1, 2, 3}}

// TestStorageConformsToMemoryStorage applies the same steps to a
// raft.MemoryStorage and a Storage and compares everything raft.Storage
// shows after each one; then it reopens the Storage and checks that
// recovery rebuilds the same state (from the snapshot on).
func TestStorageConformsToMemoryStorage(t *testing.T) {
	tests := []struct {
		name string
		ops  []confOp
	}{
		{"empty", nil},
		{"appends", []confOp{opAppend(ents(1, 1, 3, 10)), opHardState(hs(1, 1, 2)), opAppend(ents(1, 4, 9, 30))}},
		{"overlapping appends", []confOp{
			opAppend(ents(1, 1, 6, 10)), opAppend(ents(2, 4, 5, 20)), opAppend(ents(3, 5, 8, 5)),
			opAppend(ents(4, 2, 2, 0)), opHardState(hs(4, 0, 1)),
		}},
		{"gap refused", []confOp{opAppend(ents(1, 1, 3, 10)), opAppend(ents(1, 5, 6, 10))}},
		{"create snapshot and compact", []confOp{
			opAppend(ents(1, 1, 10, 10)), opHardState(hs(1, 0, 10)),
			opCreateSnapshot(4, voters), opCompact(3), opCompact(3), opCompact(4),
			opCreateSnapshot(4, voters), opCreateSnapshot(7, nil), opCreateSnapshot(11, nil),
			opCompact(7), opAppend(ents(2, 9, 12, 10)), opCompact(2),
		}},
		{"leader snapshot", []confOp{
			opAppend(ents(1, 1, 5, 10)), opHardState(hs(2, 0, 3)),
			opApplySnapshot(20, 2, voters), opAppend(ents(2, 21, 25, 10)), opHardState(hs(2, 0, 22)),
			opCreateSnapshot(23, nil), opCompact(22), opApplySnapshot(21, 2, voters),
			opApplySnapshot(40, 3, voters), opCompact(40),
		}},
	}
	for _, c := range cacheCases {
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				opts := c.opts
				opts.SnapshotsKept = 2
				conform(t, opts, tt.ops)
			})
		}
	}
}

// conform applies ops to a raft.MemoryStorage and to a Storage opened with
// opts, compares what they show after each one, then reopens the Storage.
func conform(t *testing.T, opts Options, ops []confOp) {
	fs := vfs.NewMem()
	ms := raft.NewMemoryStorage()
	s := mustOpen(t, fs, opts)
	defer func() { s.Close() }()
	if diff := cmp.Diff(readView(t, ms), readView(t, s), cmpOpts...); diff != "" {
		t.Fatalf("new storage: view differs (-memory +storage):\n%s", diff)
	}
	for i, op := range ops {
		memErr, err := op.do(ms, s)
		if errClass(memErr) != errClass(err) || (memErr == nil) != (err == nil) {
			t.Fatalf("step %d (%s): got error %v, MemoryStorage got %v", i, op.name, err, memErr)
		}
		if diff := cmp.Diff(readView(t, ms), readView(t, s), cmpOpts...); diff != "" {
			t.Fatalf("step %d (%s): view differs (-memory +storage):\n%s", i, op.name, diff)
		}
	}
	checkReopen(t, fs, s, ms, opts)
}

// checkReopen closes s, reopens it and checks that it shows the state of
// ms from the snapshot on (recovery keeps no entries below the snapshot).
func checkReopen(t *testing.T, fs vfs.FS, s *Storage, ms *raft.MemoryStorage, opts Options) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	opts.SnapshotsKept = 0
	r := mustOpen(t, fs, opts)
	defer r.Close()
	snap, _ := ms.Snapshot()
	if i := snap.GetMetadata().GetIndex(); i > 0 {
		if err := ms.Compact(i); err != nil && err != raft.ErrCompacted {
			t.Fatalf("MemoryStorage.Compact(%d): %v", i, err)
		}
	}
	want := readView(t, ms)
	if diff := cmp.Diff(want, readView(t, r), cmpOpts...); diff != "" {
		t.Fatalf("after reopening: view differs (-memory +storage):\n%s", diff)
	}
}

// TestStorageSnapshotInLogKeepsEntries checks the one departure from
// MemoryStorage.ApplySnapshot: a leader's snapshot whose last entry is in
// the log keeps the entries after it, in memory and after recovery.
func TestStorageSnapshotInLogKeepsEntries(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, fs, smallOpts)
	if err := s.SaveReady(hs(1, 1, 0), ents(1, 1, 8, 10), nil, true); err != nil {
		t.Fatal(err)
	}
	sn := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: 5, Term: 1, ConfState: voters}}
	if err := s.SaveReady(nil, nil, sn, false); err != nil {
		t.Fatal(err)
	}
	for round, st := range []*Storage{s, nil} {
		if st == nil {
			s.Close()
			st = mustOpen(t, fs, smallOpts)
			defer st.Close()
		}
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		term, _ := st.Term(5)
		if first != 6 || last != 8 || term != 1 {
			t.Errorf("round %d: FirstIndex, LastIndex, Term(5) = %d, %d, %d, want 6, 8, 1", round, first, last, term)
		}
	}
}
