package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/snap"
	"github.com/ironraft/ironraft/vfs"
	"github.com/ironraft/ironraft/wal"
)

func snapFile(term, index uint64) string {
	return fmt.Sprintf("%s/snap/%016x-%016x.snap", testDir, term, index)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustCreateSnapshot(t *testing.T, s *Storage, i uint64) {
	t.Helper()
	if _, err := s.CreateSnapshot(i, nil, fmt.Appendf(nil, "app %d", i)); err != nil {
		t.Fatalf("CreateSnapshot(%d): %v", i, err)
	}
}

// bootstrapped opens a new storage on fs, bootstraps it and saves entries
// 1..30 of term 1, committed.
func bootstrapped(t *testing.T, fs vfs.FS, opts Options) *Storage {
	t.Helper()
	s := mustOpen(t, fs, opts)
	must(t, s.Bootstrap(voters))
	must(t, s.SaveReady(hs(1, 1, 30), ents(1, 1, 30, 50), nil, true))
	return s
}

func TestStorageOpenFallsBackPastCorruptNewestSnapshot(t *testing.T) {
	for _, damage := range []string{"flip", "remove"} {
		t.Run(damage, func(t *testing.T) {
			mem := vfs.NewMem()
			s := bootstrapped(t, mem, smallOpts)
			mustCreateSnapshot(t, s, 10)
			must(t, s.Compact(8))
			mustCreateSnapshot(t, s, 20)
			must(t, s.Compact(18)) // the WAL's marker moves to 10, the previous snapshot
			if m := s.walMarker(); m.Index != 10 {
				t.Fatalf("WAL marker at index %d, want 10", m.Index)
			}
			must(t, s.Close())
			if damage == "flip" {
				must(t, mem.FlipBit(snapFile(1, 20), 45, 3))
			} else {
				must(t, mem.Remove(snapFile(1, 20)))
			}
			s = mustOpen(t, mem, smallOpts)
			defer s.Close()
			got := readRecState(t, s)
			if i := got.Snap.GetMetadata().GetIndex(); i != 10 || len(got.Ents) != 20 || got.Ents[19].Index != 30 {
				t.Fatalf("after fallback: snapshot at %d, %d entries, want snapshot at 10 and entries 11..30", i, len(got.Ents))
			}
			restartRawNode(t, s, testMeta.NodeID)
			// The corrupt file was set aside: a snapshot below its index
			// can be taken again.
			mustCreateSnapshot(t, s, 15)
		})
	}
}

func TestStorageOpenRefusesFallbackPastLeaderSnapshot(t *testing.T) {
	mem := vfs.NewMem()
	s := bootstrapped(t, mem, smallOpts)
	mustCreateSnapshot(t, s, 10)
	leader := &raftpb.Snapshot{Data: []byte("leader"), Metadata: &raftpb.SnapshotMetadata{Index: 40, Term: 2, ConfState: voters}}
	must(t, s.SaveReady(hs(2, 0, 40), ents(2, 41, 45, 10), leader, true))
	must(t, s.Close())
	must(t, mem.FlipBit(snapFile(2, 40), 50, 0))
	_, err := Open(mem, testDir, testMeta, smallOpts)
	var ie *InconsistentError
	if !errors.As(err, &ie) {
		t.Fatalf("Open = %v, want an *InconsistentError", err)
	}
	if ie.Marker != (wal.SnapshotMarker{Index: 40, Term: 2}) || ie.Snapshot != (wal.SnapshotMarker{Index: 10, Term: 1}) {
		t.Errorf("InconsistentError has marker %v, snapshot %v, want {40 2}, {10 1}", ie.Marker, ie.Snapshot)
	}
}

func TestStorageOpenRefusesWhenEverySnapshotIsCorrupt(t *testing.T) {
	mem := vfs.NewMem()
	s := bootstrapped(t, mem, Options{SegmentBytes: 4096, SnapshotsKept: 1})
	mustCreateSnapshot(t, s, 10)
	must(t, s.Compact(10)) // one snapshot kept: the marker moves to it
	must(t, s.Close())
	must(t, mem.FlipBit(snapFile(1, 10), 50, 0))
	_, err := Open(mem, testDir, testMeta, smallOpts)
	var ce *snap.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Open = %v, want a *snap.CorruptError", err)
	}
}

func TestStorageOpenRefusesSnapshotsWithoutWAL(t *testing.T) {
	mem := vfs.NewMem()
	s := bootstrapped(t, mem, smallOpts)
	mustCreateSnapshot(t, s, 10)
	must(t, s.Close())
	names, err := mem.List(testDir + "/wal")
	must(t, err)
	for _, n := range names {
		must(t, mem.Remove(testDir+"/wal/"+n))
	}
	_, err = Open(mem, testDir, testMeta, smallOpts)
	var ie *InconsistentError
	if !errors.As(err, &ie) {
		t.Fatalf("Open = %v, want an *InconsistentError", err)
	}
}

func TestStorageOpenWrongNodeID(t *testing.T) {
	mem := vfs.NewMem()
	must(t, bootstrapped(t, mem, smallOpts).Close())
	_, err := Open(mem, testDir, wal.Meta{ClusterID: testMeta.ClusterID, NodeID: 2}, smallOpts)
	var me *wal.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Open with node ID 2 = %v, want a *wal.MismatchError", err)
	}
}

// TestStorageFsyncErrorIsFatal fails one fsync (of a WAL segment, of a
// snapshot file) and checks that the call and every later one return it.
func TestStorageFsyncErrorIsFatal(t *testing.T) {
	for _, target := range []string{"/wal/", "/snap/"} {
		t.Run(strings.Trim(target, "/"), func(t *testing.T) {
			f := vfs.NewFault(vfs.NewMem())
			s := bootstrapped(t, f, smallOpts)
			f.SetHook(func(op vfs.Op, name string) error {
				if op == vfs.OpSync && strings.Contains(name, target) {
					return vfs.ErrInjected
				}
				return nil
			})
			var err error
			if target == "/wal/" {
				err = s.SaveReady(hs(1, 1, 31), ents(1, 31, 31, 10), nil, true)
			} else {
				_, err = s.CreateSnapshot(10, nil, nil)
			}
			if !errors.Is(err, vfs.ErrInjected) {
				t.Fatalf("write with a failing fsync = %v, want an error wrapping vfs.ErrInjected", err)
			}
			f.SetHook(nil)
			_, _, e1 := s.InitialState()
			_, e2 := s.Entries(1, 2, 100)
			_, e3 := s.Term(1)
			_, e4 := s.LastIndex()
			_, e5 := s.FirstIndex()
			_, e6 := s.Snapshot()
			e7 := s.SaveReady(hs(1, 1, 30), nil, nil, true)
			e8 := s.Compact(5)
			_, e9 := s.CreateSnapshot(10, nil, nil)
			e10 := s.Close()
			for i, e := range []error{e1, e2, e3, e4, e5, e6, e7, e8, e9, e10} {
				if e != err {
					t.Errorf("call %d after the failure = %v, want the failure %v", i+1, e, err)
				}
			}
		})
	}
}

func TestStorageBootstrapTwice(t *testing.T) {
	mem := vfs.NewMem()
	s := mustOpen(t, mem, smallOpts)
	must(t, s.Bootstrap(voters))
	if err := s.Bootstrap(voters); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("second Bootstrap = %v, want ErrNotEmpty", err)
	}
	must(t, s.Close())
	s = mustOpen(t, mem, smallOpts)
	defer s.Close()
	if err := s.Bootstrap(voters); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("Bootstrap after reopening = %v, want ErrNotEmpty", err)
	}
	_, cs, _ := s.InitialState()
	if len(cs.GetVoters()) != 3 {
		t.Fatalf("InitialState configuration = %v, want voters 1, 2, 3", cs)
	}
}

func TestStorageBadArgumentsAreNotFatal(t *testing.T) {
	s := bootstrapped(t, vfs.NewMem(), smallOpts)
	defer s.Close()
	mustCreateSnapshot(t, s, 10)
	tests := []struct {
		name string
		err  error
		want error // nil: any error
	}{
		{"compact above the snapshot", s.Compact(11), nil},
		{"create an old snapshot", func() error { _, err := s.CreateSnapshot(10, nil, nil); return err }(), raft.ErrSnapshotOutOfDate},
		{"create beyond the last index", func() error { _, err := s.CreateSnapshot(31, nil, nil); return err }(), raft.ErrUnavailable},
		{"entries with a gap", s.SaveReady(nil, ents(1, 32, 33, 1), nil, true), nil},
		{"an old leader snapshot", s.SaveReady(nil, nil, &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: 5, Term: 1}}, true), raft.ErrSnapshotOutOfDate},
	}
	for _, tt := range tests {
		if tt.err == nil || (tt.want != nil && !errors.Is(tt.err, tt.want)) {
			t.Errorf("%s: got %v, want an error wrapping %v", tt.name, tt.err, tt.want)
		}
	}
	if _, err := s.LastIndex(); err != nil {
		t.Fatalf("LastIndex after refused calls = %v, want no error", err)
	}
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	err := Options{SegmentBytes: 10, SnapshotsKept: -1, CacheBytes: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "SegmentBytes") || !strings.Contains(err.Error(), "SnapshotsKept") ||
		!strings.Contains(err.Error(), "CacheBytes") {
		t.Fatalf("Validate() = %v, want both problems", err)
	}
	if _, err := Open(vfs.NewMem(), testDir, testMeta, Options{SnapshotsKept: -1}); err == nil {
		t.Fatal("Open with bad options succeeded")
	}
}

// TestStorageConcurrentReadsDuringWrites runs raft.Storage reads while a
// writer appends, snapshots and compacts (for the race detector).
func TestStorageConcurrentReadsDuringWrites(t *testing.T) {
	for _, c := range cacheCases {
		t.Run(c.name, func(t *testing.T) { concurrentReadsDuringWrites(t, c.opts) })
	}
}

func concurrentReadsDuringWrites(t *testing.T, opts Options) {
	s := bootstrapped(t, vfs.NewMem(), opts)
	defer s.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				first, _ := s.FirstIndex()
				last, _ := s.LastIndex()
				es, err := s.Entries(first, last+1, 1<<20)
				for i, e := range es {
					if e.Index != first+uint64(i) {
						t.Errorf("Entries(%d, %d)[%d] has index %d", first, last+1, i, e.Index)
					}
				}
				if err != nil && !errors.Is(err, raft.ErrCompacted) && !errors.Is(err, raft.ErrUnavailable) {
					t.Errorf("Entries(%d, %d): %v", first, last+1, err)
				}
				s.Term(last)
				s.Snapshot()
			}
		}()
	}
	for i := uint64(31); i < 200; i += 10 {
		// Each append truncates the last 3 entries of the one before.
		must(t, s.SaveReady(hs(1, 1, i+9), ents(1, i-3, i+9, 20), nil, true))
		mustCreateSnapshot(t, s, i)
		must(t, s.Compact(i-5))
	}
	close(done)
	wg.Wait()
}

// TestStorageCacheIsBounded checks that a small CacheBytes bounds the
// entries in memory, after writes and after recovery, while every entry
// stays readable (from the WAL).
func TestStorageCacheIsBounded(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{SegmentBytes: 4096, CacheBytes: 500}
	s := mustOpen(t, fs, opts)
	must(t, s.SaveReady(hs(1, 1, 0), ents(1, 1, 100, 40), nil, true))
	must(t, s.SaveReady(hs(2, 1, 0), ents(2, 90, 120, 40), nil, true))
	want := append(ents(1, 1, 89, 40), ents(2, 90, 120, 40)...)
	for round := range 2 {
		if round == 1 {
			must(t, s.Close())
			s = mustOpen(t, fs, opts)
		}
		s.mu.Lock()
		cached, bytes := len(s.ents.cache), s.ents.cacheBytes
		s.mu.Unlock()
		if bytes > 500 || cached == 0 || bytes != raftpb.EntriesSize(s.ents.cache) {
			t.Fatalf("round %d: %d entries (%d bytes) cached, want a few within 500 bytes", round, cached, bytes)
		}
		got, err := s.Entries(1, 121, 1<<30)
		must(t, err)
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Fatalf("round %d: Entries (-want +got):\n%s", round, diff)
		}
		for i := uint64(1); i <= 120; i++ {
			if term, err := s.Term(i); err != nil || term != want[i-1].Term {
				t.Fatalf("round %d: Term(%d) = %d, %v, want %d", round, i, term, err, want[i-1].Term)
			}
		}
	}
	must(t, s.Close())
}

// TestStorageRecoverLeaderSnapshotReplacingLogAfterCompaction is the
// simulator's sequence (churnhunt, CountLearnerVotes, seed 11): a leader's
// snapshot whose term differs from the log's at its index discards the log,
// whose last entries are in a segment that starts just after the snapshot;
// the entries after it are saved again, and a later Compact removes the
// segment holding the entry at the snapshot's index. Recovery must still
// discard the old entries, as SaveReady did, not refuse the WAL.
func TestStorageRecoverLeaderSnapshotReplacingLogAfterCompaction(t *testing.T) {
	mem := vfs.NewMem()
	s := bootstrapped(t, mem, smallOpts)
	// Save uncommitted entries of term 1 until the WAL cuts a segment; the
	// new one starts at f.
	var f uint64
	for i := uint64(31); f == 0; i++ {
		must(t, s.SaveReady(nil, ents(1, i, i, 200), nil, true))
		if len(s.wal.Segments()) > 1 {
			f = i
		}
	}
	must(t, s.SaveReady(nil, ents(1, f+1, f+1, 200), nil, true))
	leader := &raftpb.Snapshot{Data: []byte("leader"), Metadata: &raftpb.SnapshotMetadata{Index: f - 1, Term: 2, ConfState: voters}}
	must(t, s.SaveReady(hs(2, 0, f-1), nil, leader, true))
	must(t, s.SaveReady(nil, ents(2, f, f+2, 50), nil, true))
	mustCreateSnapshot(t, s, f+1)
	must(t, s.Compact(f+1))
	if got := len(s.wal.Segments()); got != 1 {
		t.Fatalf("WAL segments after Compact(%d) = %d, want 1", f+1, got)
	}
	want := readView(t, s)
	must(t, s.Close())
	s, err := Open(mem.Crash(), testDir, testMeta, smallOpts)
	if err != nil {
		t.Fatalf("Open = %v, want the state before the crash", err)
	}
	defer s.Close()
	if d := cmp.Diff(want, readView(t, s), cmpOpts...); d != "" {
		t.Fatalf("state after Open (-want +got):\n%s", d)
	}
}
