package storage

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
	"github.com/ironraft/ironraft/wal"
)

var testMeta = wal.Meta{ClusterID: 0xc1, NodeID: 1}

// smallOpts makes WAL segments small so that short workloads cut several.
var smallOpts = Options{SegmentBytes: 4096}

// cacheCases are the option sets the conformance and crash tests run with:
// every entry cached (the default bound is far above the tests' logs), a
// cache of a few entries, and none at all (every read goes to the WAL).
var cacheCases = []struct {
	name string
	opts Options
}{
	{"cache=default", smallOpts},
	{"cache=300", Options{SegmentBytes: 4096, CacheBytes: 300}},
	{"cache=1", Options{SegmentBytes: 4096, CacheBytes: 1}},
}

const testDir = "data/n1"

func ents(term, lo, hi uint64, dataBytes int) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		var data []byte
		if dataBytes > 0 {
			data = []byte(strings.Repeat(fmt.Sprintf("%d.%d/", term, i), dataBytes)[:dataBytes])
		}
		out = append(out, &raftpb.Entry{Term: term, Index: i, Data: data})
	}
	return out
}

func hs(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: term, Vote: vote, Commit: commit}
}

func mustOpen(t testing.TB, fs vfs.FS, opts Options) *Storage {
	t.Helper()
	s, err := Open(fs, testDir, testMeta, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// errClass names the sentinel an error wraps, for comparing errors of two
// storages.
func errClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, raft.ErrCompacted):
		return "compacted"
	case errors.Is(err, raft.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, raft.ErrSnapshotOutOfDate):
		return "out of date"
	}
	return "other"
}

type termResult struct {
	I, Term uint64
	Err     string
}

type entriesResult struct {
	Lo, Hi, MaxBytes uint64
	Ents             []*raftpb.Entry
	Err              string
}

// view is everything raft.Storage shows, read exhaustively.
type view struct {
	HS          *raftpb.HardState
	CS          *raftpb.ConfState
	First, Last uint64
	Snap        *raftpb.Snapshot
	Terms       []termResult
	Entries     []entriesResult
}

func readView(t testing.TB, s raft.Storage) view {
	t.Helper()
	var v view
	var err error
	if v.HS, v.CS, err = s.InitialState(); err != nil {
		t.Fatalf("InitialState: %v", err)
	}
	if v.First, err = s.FirstIndex(); err != nil {
		t.Fatalf("FirstIndex: %v", err)
	}
	if v.Last, err = s.LastIndex(); err != nil {
		t.Fatalf("LastIndex: %v", err)
	}
	if v.Snap, err = s.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	top := v.Last + 2
	for i := uint64(0); i <= top; i++ {
		term, err := s.Term(i)
		v.Terms = append(v.Terms, termResult{i, term, errClass(err)})
	}
	for lo := uint64(0); lo <= top; lo++ {
		for hi := lo; hi <= top; hi++ {
			for _, mb := range []uint64{0, 40, 1 << 30} {
				es, err := s.Entries(lo, hi, mb)
				v.Entries = append(v.Entries, entriesResult{lo, hi, mb, es, errClass(err)})
			}
		}
	}
	return v
}

var cmpOpts = []cmp.Option{protocmp.Transform(), cmpopts.EquateEmpty()}
