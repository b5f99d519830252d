package node

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// request is work run on the raft loop, with the core in hand.
type request struct {
	fn func(rn *raft.RawNode)
}

// readWait is a read fence waiting for its ReadState.
type readWait struct {
	// ch receives the read index (or dropped); size one.
	ch chan readResult
	// tick is the raft loop's tick count when the request was made.
	tick int64
}

type readResult struct {
	index   uint64
	dropped bool
}

// raftState is what the raft loop owns besides the core.
type raftState struct {
	// inReady: a Ready is with the persist loop.
	inReady bool
	// pendingApply is a batch waiting for room in applyc; no new Ready is
	// taken until it is queued, so batches stay in order.
	pendingApply *applyBatch
	ticks        int64
	lastTick     time.Time
	reads        map[uint64]readWait
	// removedAt is the tick at which the node saw its own removal (-1).
	removedAt int64
	// early is how many of the persisting Ready's CommittedEntries went to
	// the apply loop before its persistence (applyEarly).
	early int
	// snapStepped: a MsgSnap was stepped while a Ready was with the persist
	// loop. The core may have installed its configuration at once, ahead
	// of the Ready's committed entries, so ConfState after that Ready's
	// Advance is not theirs.
	snapStepped bool
	soft        raft.SoftState
}

func (n *Node) raftLoop() {
	// lastTick is taken before the ticker starts, so that each tick of the
	// ticker finds one tick due (unless another case delivered it).
	rs := &raftState{lastTick: time.Now(), reads: map[uint64]readWait{}, removedAt: -1}
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	n.rs = rs
	for {
		switch {
		case rs.inReady:
			// The leader's appends for what was proposed since the Ready
			// being persisted leave now, not after its fsync.
			if msgs := n.rn.MessagesBeforeAdvance(); len(msgs) > 0 {
				n.send(msgs)
			}
		case rs.pendingApply == nil && n.rn.HasReady():
			n.handOut(rs, n.rn.Ready())
		}
		var applyc chan applyBatch
		var next applyBatch
		if rs.pendingApply != nil {
			applyc, next = n.applyc, *rs.pendingApply
		}
		select {
		case <-n.stopc:
			return
		// Every case that may serve a read (stepping a request, running
		// one, or Advance, whose commit of the leader's own entries may
		// release reads waiting for it) first delivers the ticks that are
		// due: after a pause of the process, the ticker's tick may be
		// picked after them, and a lease read must not be served from a
		// clock that stopped.
		case <-ticker.C:
			n.tick(rs, time.Now())
			n.stepInbox()
		case msgs := <-n.recvc:
			n.tick(rs, time.Now())
			n.step(msgs)
			n.stepInbox()
		case <-n.propSig:
			n.propMu.Lock()
			q := n.propQ
			n.propQ = nil
			n.propMu.Unlock()
			for _, p := range q {
				n.propose(p)
			}
		case r := <-n.reqc:
			n.tick(rs, time.Now())
			r.fn(n.rn)
		case <-n.reportc:
			for _, r := range n.takeReports() {
				if r.snapshot {
					n.rn.ReportSnapshot(r.peer, r.ok)
				} else {
					n.rn.ReportUnreachable(r.peer)
				}
			}
		case rd := <-n.persistDone:
			n.tick(rs, time.Now())
			b := applyBatch{snap: rd.Snapshot, ents: rd.CommittedEntries[rs.early:], committedAt: time.Now(),
				noSnapshot: rs.snapStepped}
			rs.early, rs.snapStepped = 0, false
			n.rn.Advance()
			rs.inReady = false
			if b.snap == nil && len(b.ents) == 0 {
				continue
			}
			if changesConf(b) {
				b.cs = n.rn.ConfState()
			}
			select {
			case n.applyc <- b:
			default:
				rs.pendingApply = &b
			}
		case applyc <- next:
			rs.pendingApply = nil
		}
	}
}

// handOut takes care of a new Ready: observe its soft and hard state and
// read states, send MessagesBeforePersist, and pass it to the persist loop.
func (n *Node) handOut(rs *raftState, rd raft.Ready) {
	if hs := rd.HardState; hs != nil {
		if hs.Term != n.term.Load() {
			n.term.Store(hs.Term)
		}
		n.m.term.Set(float64(hs.Term))
		n.m.commit.Set(float64(hs.Commit))
	}
	if ss := rd.SoftState; ss != nil {
		if ss.Lead != rs.soft.Lead {
			n.m.leaderChanges.Inc()
			n.log.Info("leader changed", "term", n.term.Load(), "leader", ss.Lead, "role", ss.RaftState.String())
		}
		rs.soft = *ss
		n.setLeader(ss.Lead)
		isLeader := 0.0
		if ss.RaftState == raft.StateLeader {
			isLeader = 1
		}
		n.m.isLeader.Set(isLeader)
		n.m.leader.Set(float64(ss.Lead))
	}
	for _, r := range rd.ReadStates {
		w, ok := rs.reads[r.ID]
		if !ok {
			continue // its caller gave up
		}
		delete(rs.reads, r.ID)
		w.ch <- readResult{index: r.Index, dropped: r.Dropped}
	}
	if len(rd.MessagesBeforePersist) > 0 {
		n.send(rd.MessagesBeforePersist)
	}
	rs.early = n.applyEarly(rd)
	rs.inReady = true
	n.persistc <- rd // never blocks: size one, and !inReady before
}

// applyEarly hands the apply loop the committed entries of rd that earlier
// Readys persisted, so they are applied while rd is being persisted rather
// than after (etcd's server does the same): the leader's committed entries
// usually travel in a Ready that also carries new proposals, and would
// otherwise wait for that fsync. It stops before any entry rd itself
// writes (it may replace a stale one at the same index) and before a
// configuration change (whose configuration the core applies at Advance),
// and sends nothing if rd has a snapshot or the apply queue is full. It
// returns how many entries it handed over.
func (n *Node) applyEarly(rd raft.Ready) int {
	if rd.Snapshot != nil || len(rd.CommittedEntries) == 0 || n.rs.pendingApply != nil {
		return 0
	}
	limit, err := n.store.LastIndex()
	if err != nil {
		return 0
	}
	if len(rd.Entries) > 0 {
		limit = min(limit, rd.Entries[0].Index-1)
	}
	k := 0
	for _, e := range rd.CommittedEntries {
		if e.Index > limit || e.Type == raftpb.EntryConfChange {
			break
		}
		k++
	}
	if k == 0 {
		return 0
	}
	select {
	case n.applyc <- applyBatch{ents: rd.CommittedEntries[:k], committedAt: time.Now()}:
		return k
	default:
		return 0
	}
}

// send hands messages to the transport.
func (n *Node) send(msgs []*raftpb.Message) {
	n.tr.Send(msgs)
}

// step steps inbound messages into the core.
func (n *Node) step(msgs []*raftpb.Message) {
	n.inboxLen.Add(-int64(len(msgs)))
	for _, m := range msgs {
		if m.Type == raftpb.MsgSnap && n.rs.inReady {
			n.rs.snapStepped = true
		}
		if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
			n.log.Debug("message refused", "from", m.From, "type", m.Type.String(), "err", err)
		}
	}
}

// stepInbox steps whatever is queued, without waiting.
func (n *Node) stepInbox() {
	for {
		select {
		case msgs := <-n.recvc:
			n.step(msgs)
		default:
			return
		}
	}
}

// tick delivers the ticks due at now: one per TickInterval since the last,
// so that a loop delayed by a slow disk or a pause does not make time run
// slow for the core (which a lease read relies on), up to an election
// timeout's worth at once. It does nothing if no tick is due.
func (n *Node) tick(rs *raftState, now time.Time) {
	k := int(now.Sub(rs.lastTick) / n.cfg.TickInterval)
	if k < 1 {
		return
	}
	if k > n.cfg.ElectionTicks {
		k = n.cfg.ElectionTicks
		rs.lastTick = now
	} else {
		rs.lastTick = rs.lastTick.Add(time.Duration(k) * n.cfg.TickInterval)
	}
	for range k {
		n.rn.Tick()
		rs.ticks++
	}
	// Read requests whose ReadState never came (lost with a message) are
	// reported dropped after two election timeouts; their callers retry.
	for id, w := range rs.reads {
		if rs.ticks-w.tick > int64(2*n.cfg.ElectionTicks) {
			delete(rs.reads, id)
			w.ch <- readResult{dropped: true}
		}
	}
	n.dropRemovedPeers(rs.ticks)
	if n.removed.Load() {
		if rs.removedAt < 0 {
			rs.removedAt = rs.ticks
		}
		// Stay long enough to hand leadership over and let the others
		// learn the commit of the removal.
		if rs.ticks-rs.removedAt > int64(2*n.cfg.ElectionTicks) {
			n.fail(ErrRemoved)
		}
	}
}

// propose hands p to the core; a refusal completes it at once.
func (n *Node) propose(p *proposal) {
	if !n.waits.has(p.pid) {
		return // its caller gave up before it reached the core
	}
	err := n.rn.Propose(p.data)
	if err == nil {
		return
	}
	if !n.waits.remove(p.pid) {
		return
	}
	n.m.proposalsFailed.Inc()
	switch {
	case errors.Is(err, raft.ErrUncommittedLogFull):
		err = ErrOverloaded
	case errors.Is(err, raft.ErrProposalDropped):
		lead := n.rn.Status().Lead
		if lead == n.id {
			// This leader refuses proposals while it hands leadership
			// over (a transfer, or its own removal): the next leader is
			// not known yet.
			err = fmt.Errorf("%w: %w", &NotLeaderError{}, err)
		} else {
			err = &NotLeaderError{Leader: lead, LeaderAddr: n.book.get(lead)}
		}
	}
	p.ch <- proposalResult{err: err}
}

// persistLoop persists the Readys the raft loop hands out, one at a time.
func (n *Node) persistLoop() {
	for {
		select {
		case <-n.stopc:
			return
		case rd := <-n.persistc:
			start := time.Now()
			if err := persistReady(n.store, n.send, rd); err != nil {
				n.fail(err)
				return
			}
			if rd.MustSync {
				n.m.fsyncSeconds.Observe(time.Since(start).Seconds())
			}
			select {
			case n.persistDone <- rd:
			case <-n.stopc:
				return
			}
		}
	}
}

// applyLoop applies committed batches and starts snapshots.
func (n *Node) applyLoop() {
	for {
		select {
		case <-n.stopc:
			return
		case b := <-n.applyc:
			if b.snap != nil {
				n.log.Info("installing snapshot", "index", b.snap.GetMetadata().GetIndex(), "term", b.snap.GetMetadata().GetTerm())
			}
			res, err := n.ap.apply(b)
			if err != nil {
				n.fail(err)
				return
			}
			n.waits.setApplied(res.index)
			n.m.applied.Set(float64(res.index))
			if !b.committedAt.IsZero() {
				n.m.commitToApply.Observe(time.Since(b.committedAt).Seconds())
			}
			if res.removedSelf {
				n.removed.Store(true)
			}
			if !b.noSnapshot {
				n.maybeSnapshot(res)
			}
		}
	}
}

// snapshotJob is a point-in-time view of the state machine to store.
type snapshotJob struct {
	view        SnapshotView
	index, term uint64
	cs          *raftpb.ConfState
	book        map[uint64]string
}

// maybeSnapshot starts a snapshot when enough was applied since the last
// one and none is being written.
func (n *Node) maybeSnapshot(res appliedBatch) {
	a := n.ap
	if a.sinceSnapEntries < n.cfg.SnapshotEntries+n.snapJitter && a.sinceSnapBytes < n.cfg.SnapshotLogBytes {
		return
	}
	if len(n.snapc) > 0 {
		return // one is being written; try again after the next batch
	}
	_, _, cs := a.state()
	view, err := a.sm.Snapshot()
	if err != nil {
		n.log.Warn("state machine snapshot failed", "index", res.index, "err", err)
		return
	}
	a.sinceSnapEntries, a.sinceSnapBytes = 0, 0
	n.snapJitter = snapshotJitter(n.cfg.SnapshotEntries)
	n.snapc <- snapshotJob{view: view, index: res.index, term: res.term, cs: cs, book: n.book.snapshot()}
}

// snapshotJitter draws how many entries past SnapshotEntries this member
// waits before its next snapshot, up to an eighth more, so that the members
// of a cluster, which apply the same entries, do not all write their
// snapshots at the same moment and compete for the disk and the CPU with
// the log's fsyncs.
func snapshotJitter(entries uint64) uint64 {
	if entries < 8 {
		return 0
	}
	return rand.Uint64N(entries / 8)
}

// stopWriter fails writes once the node stops, so a long snapshot write
// does not delay Stop.
type stopWriter struct {
	buf   *bytes.Buffer
	stopc <-chan struct{}
}

func (w stopWriter) Write(p []byte) (int, error) {
	select {
	case <-w.stopc:
		return 0, ErrStopped
	default:
		return w.buf.Write(p)
	}
}

func (n *Node) snapshotLoop() {
	for {
		select {
		case <-n.stopc:
			return
		case j := <-n.snapc:
			n.writeSnapshot(j)
		}
	}
}

func (n *Node) writeSnapshot(j snapshotJob) {
	start := time.Now()
	buf := bytes.NewBuffer(encodeSnapshotHeader(j.book))
	err := j.view.Write(stopWriter{buf: buf, stopc: n.stopc})
	j.view.Release()
	if err != nil {
		if !errors.Is(err, ErrStopped) {
			n.log.Warn("writing a snapshot failed", "index", j.index, "err", err)
		}
		return
	}
	if _, err := n.store.CreateSnapshot(j.index, j.cs, buf.Bytes()); err != nil {
		// Storage faults are fatal to the storage, which fails the next
		// persist; an out-of-date snapshot (one from a leader arrived
		// meanwhile) is harmless.
		n.log.Warn("storing a snapshot failed", "index", j.index, "err", err)
		return
	}
	n.m.snapshotSeconds.Observe(time.Since(start).Seconds())
	n.m.snapshotBytes.Set(float64(buf.Len()))
	n.log.Info("snapshot stored", "index", j.index, "term", j.term, "bytes", buf.Len(), "took", time.Since(start))
	if j.index <= n.cfg.SnapshotTrailingEntries {
		return
	}
	first, err := n.store.FirstIndex()
	compactTo := j.index - n.cfg.SnapshotTrailingEntries
	if err != nil || compactTo < first {
		return
	}
	if err := n.store.Compact(compactTo); err != nil && !errors.Is(err, raft.ErrCompacted) {
		n.log.Warn("compacting the log failed", "index", compactTo, "err", err)
	}
}
