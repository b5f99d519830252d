package node

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

// applyBatch is the work of one Ready for the state machine: a snapshot to
// restore, then committed entries, and the configuration after both.
type applyBatch struct {
	snap *raftpb.Snapshot
	ents []*raftpb.Entry
	// cs is the configuration after the batch (the core's, right after the
	// Ready's Advance).
	cs *raftpb.ConfState
	// committedAt is when this member learned the entries were committed.
	committedAt time.Time
	// noSnapshot: cs may be ahead of the entries (a snapshot the core
	// installed while their Ready was persisted lent it its
	// configuration), so no snapshot may be taken at the batch's end.
	noSnapshot bool
}

// applied is what a batch did that the rest of the runtime reacts to.
type appliedBatch struct {
	// index and term are the last entry applied (or the snapshot's).
	index, term uint64
	// removedSelf: the batch applied a configuration without this member.
	removedSelf bool
}

// proposalResult completes a Propose or a configuration change made on this
// member.
type proposalResult struct {
	index       uint64
	value       any
	err         error
	committedAt time.Time
}

// resultSink receives the results of the proposals this member made.
type resultSink interface {
	// complete delivers the result of proposal pid; proposals not waited
	// for any more are ignored.
	complete(pid uint64, r proposalResult)
}

// peerSink learns about members being added or removed.
type peerSink interface {
	addPeer(id uint64, addr string)
	removePeer(id uint64)
}

// applier applies committed batches to the state machine. One goroutine
// owns it (the apply loop of Node, or the caller of Replica).
type applier struct {
	id      uint64
	sm      StateMachine
	book    *addressBook
	results resultSink
	peers   peerSink
	log     *slog.Logger

	// mu guards applied, appliedTerm and cs for readers on other
	// goroutines (Members, Status, snapshots).
	mu          sync.Mutex
	applied     uint64
	appliedTerm uint64
	cs          *raftpb.ConfState

	// Since the last snapshot (for the automatic snapshot trigger).
	sinceSnapEntries, sinceSnapBytes uint64
}

// restore replaces the state machine's state with snapshot sn's.
func (a *applier) restore(sn *raftpb.Snapshot) error {
	book, data, err := decodeSnapshotHeader(sn.GetData())
	if err != nil {
		return fmt.Errorf("node: snapshot at index %d: %w", sn.GetMetadata().GetIndex(), err)
	}
	if sn.GetMetadata().GetIndex() > 0 || len(data) > 0 {
		if err := a.sm.Restore(bytes.NewReader(data)); err != nil {
			return fmt.Errorf("node: restore the state machine from the snapshot at index %d: %w", sn.GetMetadata().GetIndex(), err)
		}
	}
	if err := a.book.merge(book, a.peers); err != nil {
		return err
	}
	md := sn.GetMetadata()
	a.mu.Lock()
	a.applied, a.appliedTerm, a.cs = md.GetIndex(), md.GetTerm(), md.GetConfState()
	a.mu.Unlock()
	a.sinceSnapEntries, a.sinceSnapBytes = 0, 0
	return nil
}

// apply runs one batch. An error is fatal: the log holds something the
// runtime cannot apply, or the state machine refused a snapshot.
func (a *applier) apply(b applyBatch) (appliedBatch, error) {
	if b.snap != nil {
		if err := a.restore(b.snap); err != nil {
			return appliedBatch{}, err
		}
	}
	var out appliedBatch
	cmds := make([]Command, 0, len(b.ents))
	pids := make([]uint64, 0, len(b.ents))
	flush := func() {
		if len(cmds) == 0 {
			return
		}
		res := a.sm.Apply(cmds)
		if len(res) != len(cmds) {
			panic(fmt.Sprintf("node: StateMachine.Apply returned %d results for %d commands", len(res), len(cmds)))
		}
		for i, pid := range pids {
			if pid != 0 {
				a.results.complete(pid, proposalResult{index: cmds[i].Index, value: res[i], committedAt: b.committedAt})
			}
		}
		cmds, pids = cmds[:0], pids[:0]
	}
	for _, e := range b.ents {
		a.sinceSnapEntries++
		a.sinceSnapBytes += uint64(len(e.Data))
		switch {
		case e.Type == raftpb.EntryConfChange:
			flush()
			removed, err := a.applyConfChange(e, b.committedAt)
			if err != nil {
				return appliedBatch{}, err
			}
			out.removedSelf = out.removedSelf || removed
		case len(e.Data) == 0:
			// A leader's no-op.
		default:
			env, err := decodeEnvelope(e.Data)
			if err != nil {
				return appliedBatch{}, fmt.Errorf("node: entry %d (term %d): %w", e.Index, e.Term, err)
			}
			cmds = append(cmds, Command{Index: e.Index, Term: e.Term, Data: env.cmd})
			pid := uint64(0)
			if env.origin == a.id {
				pid = env.pid
			}
			pids = append(pids, pid)
		}
	}
	flush()
	a.mu.Lock()
	if k := len(b.ents); k > 0 {
		a.applied, a.appliedTerm = b.ents[k-1].Index, b.ents[k-1].Term
	}
	if b.cs != nil {
		a.cs = b.cs
	}
	out.index, out.term = a.applied, a.appliedTerm
	a.mu.Unlock()
	return out, nil
}

// applyConfChange updates the address book for a configuration change
// entry (the core applied the change itself) and completes its proposal.
func (a *applier) applyConfChange(e *raftpb.Entry, committedAt time.Time) (removedSelf bool, err error) {
	var cc raftpb.ConfChange
	if err := proto.Unmarshal(e.Data, &cc); err != nil {
		return false, fmt.Errorf("node: configuration change entry %d: %w", e.Index, err)
	}
	var origin, pid uint64
	var addr string
	if len(cc.Context) > 0 {
		if origin, pid, addr, err = decodeConfContext(cc.Context); err != nil {
			return false, fmt.Errorf("node: configuration change entry %d: %w", e.Index, err)
		}
	}
	for _, ch := range cc.Changes {
		switch ch.Type {
		case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
			if addr != "" {
				if err := a.book.set(ch.NodeId, addr, a.peers); err != nil {
					return false, err
				}
			}
		case raftpb.ConfChangeRemoveNode:
			if ch.NodeId == a.id {
				removedSelf = true
			} else if err := a.book.remove(ch.NodeId, a.peers); err != nil {
				return false, err
			}
		}
	}
	a.log.Info("applied configuration change", "index", e.Index, "term", e.Term, "change", cc.String())
	if origin == a.id && pid != 0 {
		a.results.complete(pid, proposalResult{index: e.Index, committedAt: committedAt})
	}
	return removedSelf, nil
}

// state returns the applied index and the configuration as of it.
func (a *applier) state() (uint64, uint64, *raftpb.ConfState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied, a.appliedTerm, a.cs
}
