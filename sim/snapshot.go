package sim

import (
	"hash/fnv"

	"github.com/ironraft/ironraft/internal/check"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// Snapshots and compaction.
//
// A node whose applied index is snapGap past its snapshot takes a new one
// at its applied index (with RawNode.ConfState and the serialized state
// machine) and compacts its durable log, keeping a random tail of at most
// snapTail entries. A snapshot handed out in Ready.Snapshot is persisted
// first, and the state machine is restored from it before the Ready's
// CommittedEntries are applied. A restarted node rebuilds its state
// machine from its durable snapshot (node.start).

// maybeCompact takes a snapshot of n at its applied index and compacts.
func (s *Sim) maybeCompact(n *node) {
	if s.p.snapGap <= 0 || !n.up {
		return
	}
	snap, _ := n.durable.Snapshot()
	if n.applied < snap.GetMetadata().GetIndex()+uint64(s.p.snapGap) {
		return
	}
	data := n.kv.encode()
	created, err := n.durable.CreateSnapshot(n.applied, n.rn.ConfState(), data)
	if err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d: create snapshot at %d: %v", n.id, n.applied, err))
		return
	}
	s.stats.SnapCreates++
	s.snapshotData(n.id, created.GetMetadata().GetIndex(), data)
	tail := uint64(s.rng.IntN(s.p.snapTail + 1))
	if ci := n.applied - min(tail, n.applied); ci > 0 {
		// ErrCompacted (nothing new to drop) is fine.
		_ = n.durable.Compact(ci)
	}
	first, _ := n.durable.FirstIndex()
	s.note("n%d snapshot at %d (%s), log from %d", n.id, n.applied, check.ConfigOf(created.GetMetadata().GetConfState()), first)
}

// snapshotData checks that every snapshot taken at index i holds the same
// state machine: they all applied the same committed prefix.
func (s *Sim) snapshotData(id, i uint64, data []byte) {
	h := fnv.New64a()
	h.Write(data)
	sum := h.Sum64()
	if prev, ok := s.snapHash[i]; ok && prev.sum != sum {
		s.fail(check.Failf(check.StateMachineSafetyName, "node %d took a snapshot at index %d whose state differs from node %d's there",
			id, i, prev.node))
		return
	}
	s.snapHash[i] = snapSum{node: id, sum: sum}
}

type snapSum struct{ node, sum uint64 }

// checkSnapshotInstall checks a snapshot that n's Ready asks to install:
// never at or below the node's commit index (the core refuses those, or
// commits up to the snapshot if it holds its last entry), except the
// initial one a joining node with commit 0 gets; and its last entry is
// the committed one.
func (s *Sim) checkSnapshotInstall(n *node, snap *raftpb.Snapshot) {
	hs, _, _ := n.durable.InitialState()
	md := snap.GetMetadata()
	s.stats.ContractChecks++
	if commit := hs.GetCommit(); commit > 0 && md.GetIndex() <= commit && !s.opts.SkipMembershipRules {
		s.fail(check.Failf(check.SnapshotInstallName, "node %d installs a snapshot at index %d (term %d) at or below its commit index %d",
			n.id, md.GetIndex(), md.GetTerm(), commit))
	}
	if md.GetIndex() > 0 {
		s.fail(s.ledger.Snapshot(n.id, md.GetIndex(), md.GetTerm()))
	}
}

// installSnapshot restores n's state machine from snap, persisted by this
// Ready, before its CommittedEntries are applied.
func (s *Sim) installSnapshot(n *node, snap *raftpb.Snapshot) {
	md := snap.GetMetadata()
	kv, err := decodeKV(snap.GetData())
	if err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d: snapshot at %d: %v", n.id, md.GetIndex(), err))
		return
	}
	n.kv, n.applied = kv, md.GetIndex()
	n.cfg = check.ConfigOf(md.GetConfState())
	s.stats.SnapInstalls++
	s.note("n%d installs snapshot at %d term %d (%s)", n.id, md.GetIndex(), md.GetTerm(), n.cfg)
	// A joining node may learn from its snapshot that it is a member (the
	// leader compacted after adding it).
	s.advanceConfig(n, md.GetIndex(), n.cfg)
}

// tornPersist, with the profile's probability, persists only the first
// steps of n's Ready (snapshot, then entries, then HardState, in the
// documented order) and crashes n: a crash in the middle of a write.
func (s *Sim) tornPersist(n *node, rd raft.Ready) bool {
	if s.healed || s.p.tornPersist == 0 || !rd.MustSync || s.rng.Float64() >= s.p.tornPersist {
		return false
	}
	var steps []func()
	if rd.Snapshot != nil {
		steps = append(steps, func() { _ = n.durable.ApplySnapshot(rd.Snapshot) })
	}
	if len(rd.Entries) > 0 {
		steps = append(steps, func() { _ = n.durable.Append(rd.Entries) })
	}
	if rd.HardState != nil {
		steps = append(steps, func() { n.durable.SetHardState(rd.HardState) })
	}
	if len(steps) == 0 {
		return false
	}
	k := s.rng.IntN(len(steps))
	for _, f := range steps[:k] {
		f()
	}
	s.note("n%d crashes after persisting %d of the %d parts of its Ready", n.id, k, len(steps))
	s.crash(n, fTornPersist)
	return true
}

// reportSnap tells the sender of a MsgSnap (if it is still the incarnation
// that sent it) whether it arrived.
func (s *Sim) reportSnap(m *raftpb.Message, inc uint64, ok bool) {
	if m.Type != raftpb.MsgSnap {
		return
	}
	from := s.node(m.From)
	if !from.up || from.inc != inc {
		return
	}
	from.rn.ReportSnapshot(m.To, ok)
}
