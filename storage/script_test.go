package storage

import (
	"errors"
	"fmt"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// scriptOp is one write to a Storage, recorded from a run so that it can
// be replayed with a crash at every point.
type scriptOp struct {
	kind  string // "bootstrap", "ready", "create", "compact"
	hs    *raftpb.HardState
	ents  []*raftpb.Entry
	snap  *raftpb.Snapshot
	sync  bool
	index uint64
	cs    *raftpb.ConfState
	data  []byte
}

func (op scriptOp) apply(s *Storage) error {
	switch op.kind {
	case "bootstrap":
		return s.Bootstrap(op.cs)
	case "ready":
		return s.SaveReady(op.hs, op.ents, op.snap, op.sync)
	case "create":
		_, err := s.CreateSnapshot(op.index, op.cs, op.data)
		return err
	case "compact":
		err := s.Compact(op.index)
		if errors.Is(err, raft.ErrCompacted) {
			return nil
		}
		return err
	}
	panic("unknown op " + op.kind)
}

// handcraftedScript covers what a short cluster run may not: truncations
// of synced entries, a leader snapshot that discards the log, one that
// keeps it, and compaction across several segments.
func handcraftedScript() []scriptOp {
	r := func(h *raftpb.HardState, es []*raftpb.Entry, sync bool) scriptOp {
		return scriptOp{kind: "ready", hs: h, ents: es, sync: sync}
	}
	leaderSnap := func(index, term uint64) scriptOp {
		return scriptOp{kind: "ready", snap: &raftpb.Snapshot{Data: fmt.Appendf(nil, "leader %d", index),
			Metadata: &raftpb.SnapshotMetadata{Index: index, Term: term, ConfState: voters}}}
	}
	return []scriptOp{
		{kind: "bootstrap", cs: voters},
		r(hs(1, 1, 0), ents(1, 1, 3, 100), true),
		r(nil, ents(1, 4, 6, 100), false),
		r(hs(1, 1, 3), nil, false),
		r(hs(2, 2, 3), ents(2, 5, 7, 200), true), // truncates 5, 6 (one of them synced)
		r(hs(2, 2, 6), ents(2, 8, 20, 300), true),
		{kind: "create", index: 6, data: []byte("app 6")},
		{kind: "compact", index: 5},
		r(hs(3, 0, 12), ents(3, 18, 30, 200), true), // truncates 18..20
		{kind: "create", index: 12, data: []byte("app 12")},
		{kind: "compact", index: 12},
		leaderSnap(25, 3), // in the log: the entries after it stay
		r(hs(3, 0, 26), ents(3, 31, 35, 100), true),
		{kind: "create", index: 26, data: []byte("app 26")},
		{kind: "compact", index: 26},
		leaderSnap(60, 5), // not in the log: the log is discarded
		r(hs(5, 0, 60), ents(5, 61, 70, 400), false),
		r(hs(5, 0, 65), nil, true),
		{kind: "create", index: 65, data: []byte("app 65")},
		{kind: "compact", index: 63},
	}
}
