package sim

import (
	"bytes"
	"errors"
	"hash/fnv"

	"github.com/ironraft/ironraft/internal/check"
	ironnode "github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// Snapshots and compaction.
//
// A node whose applied index is snapGap past its snapshot takes a new one
// at its applied index and compacts its durable log, keeping a random tail
// of at most snapTail entries. The snapshot holds RawNode.ConfState and, as
// the runtime writes it (ironnode.EncodeSnapshotData), an address book
// header (every member of the configuration at its simulated address,
// addrOf) and the state machine's SnapshotView. A snapshot handed out in
// Ready.Snapshot is persisted first (Replica.Persist), and Replica.Finish
// restores the state machine from it before it applies the Ready's
// CommittedEntries. A restarted node's Replica rebuilds its state machine
// from its durable snapshot (NewReplica).

// maybeCompact takes a snapshot of n at its applied index and compacts.
func (s *Sim) maybeCompact(n *node) {
	if !n.up {
		return
	}
	snap, _ := n.durable.Snapshot()
	if s.p.snapGap <= 0 || n.applied < snap.GetMetadata().GetIndex()+uint64(s.p.snapGap) {
		return
	}
	var sm bytes.Buffer
	view, err := n.kv.Snapshot()
	if err == nil {
		err = view.Write(&sm)
		view.Release()
	}
	if err != nil {
		s.fail(check.Failf(runtimeName, "node %d: state machine snapshot at %d: %v", n.id, n.applied, err))
		return
	}
	cs := n.rn.ConfState()
	data := ironnode.EncodeSnapshotData(addressBook(cs), sm.Bytes())
	created, err := n.durable.createSnapshot(n.applied, cs, data)
	if err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d: create snapshot at %d: %v", n.id, n.applied, err))
		return
	}
	s.stats.SnapCreates++
	s.snapshotData(n.id, created.GetMetadata().GetIndex(), data)
	tail := uint64(s.rng.IntN(s.p.snapTail + 1))
	if ci := n.applied - min(tail, n.applied); ci > 0 {
		// ErrCompacted (nothing new to drop) is fine.
		if err := n.durable.compact(ci); !errors.Is(err, raft.ErrCompacted) {
			s.persistErr(n, sprintf("compact to %d", ci), err)
		}
	}
	first, _ := n.durable.FirstIndex()
	s.note("n%d snapshot at %d (%s), log from %d", n.id, n.applied, check.ConfigOf(created.GetMetadata().GetConfState()), first)
}

// addrOf is node id's simulated transport address.
func addrOf(id uint64) string { return sprintf("sim:%d", id) }

// addressBook is the address book of the configuration cs: each member at
// addrOf.
func addressBook(cs *raftpb.ConfState) map[uint64]string {
	book := map[uint64]string{}
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetVotersOutgoing(), cs.GetLearners(), cs.GetLearnersNext()} {
		for _, id := range ids {
			book[id] = addrOf(id)
		}
	}
	return book
}

// snapshotData checks that every snapshot taken at index i holds the same
// state machine: they all applied the same committed prefix.
func (s *Sim) snapshotData(id, i uint64, data []byte) {
	_, sm, err := ironnode.DecodeSnapshotData(data)
	if err != nil {
		s.fail(check.Failf(runtimeName, "node %d: snapshot at index %d: %v", id, i, err))
		return
	}
	h := fnv.New64a()
	h.Write(sm)
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

// installSnapshot follows snap, persisted by this Ready, in the
// simulator's view of n (its applied index and configuration) before its
// CommittedEntries are checked; Replica.Finish restores the state machine
// from it.
func (s *Sim) installSnapshot(n *node, snap *raftpb.Snapshot) {
	md := snap.GetMetadata()
	if _, _, err := ironnode.DecodeSnapshotData(snap.GetData()); err != nil {
		s.fail(check.Failf(check.PersistenceName, "node %d: snapshot at %d: %v", n.id, md.GetIndex(), err))
		return
	}
	n.applied = md.GetIndex()
	n.cfg = check.ConfigOf(md.GetConfState())
	s.stats.SnapInstalls++
	s.note("n%d installs snapshot at %d term %d (%s)", n.id, md.GetIndex(), md.GetTerm(), n.cfg)
	// A joining node may learn from its snapshot that it is a member (the
	// leader compacted after adding it).
	s.advanceConfig(n, md.GetIndex(), n.cfg)
}

// tornPersist, with the profile's probability, persists only part of n's
// Ready and crashes n: a crash in the middle of a write. With
// MemoryStorage, the first steps of the Ready (snapshot, then entries, then
// HardState, in the documented order); with the real storage, see
// tornDiskPersist.
func (s *Sim) tornPersist(n *node, rd raft.Ready) bool {
	if s.healed || s.p.tornPersist == 0 || !rd.MustSync || s.rng.Float64() >= s.p.tornPersist {
		return false
	}
	if d, ok := n.durable.(*diskStore); ok {
		s.tornDiskPersist(n, d, rd)
		return true
	}
	ms := n.durable.(memStore)
	var steps []func()
	if rd.Snapshot != nil {
		steps = append(steps, func() { _ = ms.ApplySnapshot(rd.Snapshot) })
	}
	if len(rd.Entries) > 0 {
		steps = append(steps, func() { _ = ms.Append(rd.Entries) })
	}
	if rd.HardState != nil {
		steps = append(steps, func() { ms.SetHardState(rd.HardState) })
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

// tornDiskPersist writes n's Ready through the real storage with the disk
// crashing after 0..2 mutating file operations (a write, a sync, a
// rename...; 0..tornOpsMax-1 for a Ready with a snapshot), then tears the last write that reached the disk if it is
// not synced (MemFS.TearLastWrite: a random prefix of it survives; that may
// be the unsynced write of an earlier Ready without MustSync), and crashes
// n, which recovers from what the disk kept. The storage's error from the
// crash point is expected.
func (s *Sim) tornDiskPersist(n *node, d *diskStore, rd raft.Ready) {
	ops := 3 // a Ready without a snapshot: one WAL write, one sync
	if rd.Snapshot != nil {
		ops = tornOpsMax
	}
	k := s.rng.IntN(ops)
	d.fault.CrashAfter(k)
	err := d.SaveReady(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync)
	if err != nil && !errors.Is(err, vfs.ErrCrashed) {
		s.persistErr(n, "persist Ready (torn)", err)
	}
	torn := -1
	if d.sized.lastWrite > 0 {
		t := s.rng.IntN(d.sized.lastWrite + 1)
		if d.mem.TearLastWrite(t) == nil {
			torn = t
			s.stats.TornTears++
		}
	}
	s.stats.TornWrites++
	s.note("n%d crashes persisting its Ready (disk crash after %d ops, saved: %v, last write torn to %d of %d bytes (-1: synced))",
		n.id, k, err == nil, torn, d.sized.lastWrite)
	s.crash(n, fTornPersist)
}

// tornOpsMax bounds the mutating file operations a torn persist lets
// through: a Ready is usually one write and one sync, a snapshot adds a
// file (create, write, sync, rename, directory sync) and a WAL marker.
const tornOpsMax = 6

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
