package storage

import (
	"slices"
	"testing"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// A joining node starts empty and receives the leader's initial snapshot
// (index 0, the bootstrap configuration) when the leader never compacted.
// Storage must accept it, even after the node saved a term, and keep it
// across a reopen.
func TestStorageJoiningNodeSavesInitialSnapshot(t *testing.T) {
	mem := vfs.NewMem()
	s := mustOpen(t, mem, smallOpts)
	must(t, s.SaveReady(hs(3, 0, 0), nil, nil, true))
	initial := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
	must(t, s.SaveReady(nil, nil, initial, true))
	must(t, s.SaveReady(hs(3, 0, 2), ents(1, 1, 2, 10), nil, true))
	check := func(s *Storage) {
		t.Helper()
		_, cs, err := s.InitialState()
		if err != nil || !slices.Equal(cs.GetVoters(), []uint64{1, 2, 3}) {
			t.Fatalf("InitialState() configuration = %v, %v; want voters 1 2 3", cs, err)
		}
		if last, _ := s.LastIndex(); last != 2 {
			t.Fatalf("LastIndex() = %d, want 2", last)
		}
	}
	check(s)
	must(t, s.Close())
	s = mustOpen(t, mem.Crash(), smallOpts)
	defer s.Close()
	check(s)
	// A second initial snapshot, or one once entries exist, is refused.
	if err := s.SaveReady(nil, nil, initial, true); err == nil {
		t.Fatal("a second index-0 snapshot was accepted after entries")
	}
}
