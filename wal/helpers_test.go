package wal

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

var testMeta = Meta{ClusterID: 0xc1, NodeID: 7}

// smallOpts makes segments small so a short workload cuts several.
var smallOpts = Options{SegmentBytes: 4096}

const testDir = "wal"

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

func mustCreate(t testing.TB, fs vfs.FS, opts Options) *WAL {
	t.Helper()
	w, err := Create(fs, testDir, testMeta, opts)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return w
}

func mustOpen(t testing.TB, fs vfs.FS, opts Options) (*WAL, *Recovered) {
	t.Helper()
	w, rec, err := Open(fs, testDir, testMeta, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w, rec
}

func mustSave(t testing.TB, w *WAL, h *raftpb.HardState, es []*raftpb.Entry, sync bool) {
	t.Helper()
	if err := w.Save(h, es, sync); err != nil {
		t.Fatalf("Save(%v, %d entries from %d): %v", h, len(es), firstIndex(es), err)
	}
}

func firstIndex(es []*raftpb.Entry) uint64 {
	if len(es) == 0 {
		return 0
	}
	return es[0].Index
}

func diffRecovered(got, want *Recovered) string {
	return cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateEmpty(),
		cmpopts.IgnoreFields(Recovered{}, "LastIndex", "Terms"))
}

// equalRecovered is a fast exact comparison; diffRecovered explains a
// difference.
func equalRecovered(a, b *Recovered) bool {
	if a.Snapshot != b.Snapshot || len(a.Entries) != len(b.Entries) ||
		a.HardState.GetTerm() != b.HardState.GetTerm() || a.HardState.GetVote() != b.HardState.GetVote() ||
		a.HardState.GetCommit() != b.HardState.GetCommit() {
		return false
	}
	for i, e := range a.Entries {
		f := b.Entries[i]
		if e.Term != f.Term || e.Index != f.Index || e.Type != f.Type || string(e.Data) != string(f.Data) {
			return false
		}
	}
	return true
}
