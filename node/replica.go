package node

import (
	"fmt"
	"log/slog"
	"math/rand/v2"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// LogStore is the durable Raft state a Replica persists into and the core
// reads from: a *storage.Storage, or another implementation of the same
// contract (the simulator's).
type LogStore interface {
	raft.Storage
	// SaveReady persists a Ready's snapshot, entries and hard state, in
	// that order, durably before it returns when mustSync is set.
	SaveReady(hs *raftpb.HardState, ents []*raftpb.Entry, sn *raftpb.Snapshot, mustSync bool) error
}

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	// Raft configures the core; its Storage must be Store and its Applied
	// is set by NewReplica (the index of Store's snapshot).
	Raft raft.Config
	// Store is the durable log.
	Store LogStore
	// StateMachine is rebuilt from Store's snapshot by NewReplica.
	StateMachine StateMachine
	// Send hands outgoing messages to the network. It must not block.
	Send func(msgs []*raftpb.Message)
	// OnResult receives the result of each proposal made through this
	// Replica (Propose, ProposeConfChange) when it is applied. May be nil.
	OnResult func(pid, index uint64, value any)
	// PIDSource seeds proposal IDs; nil draws the first one at random.
	// Proposal IDs must not repeat across restarts of a member, so that an
	// entry proposed by an earlier incarnation never completes a later
	// proposal.
	PIDSource rand.Source
	// Logger receives the runtime's logs; nil discards them.
	Logger *slog.Logger
}

// Replica is one member's Raft node, driven synchronously: the caller ticks
// it, steps messages into it and calls HandleReady, which persists, sends,
// applies and advances one Ready at a time. It owns no goroutine and is
// not safe for concurrent use. Node runs the same steps on goroutines; the
// simulator drives a Replica directly, so both share this code.
type Replica struct {
	id       uint64
	rn       *raft.RawNode
	store    LogStore
	send     func([]*raftpb.Message)
	ap       *applier
	onResult func(pid, index uint64, value any)
	nextPID  uint64
}

// NewReplica starts a replica from the durable state in cfg.Store: the
// state machine is restored from the newest snapshot, and the core hands
// out the committed entries after it again.
func NewReplica(cfg ReplicaConfig) (*Replica, error) {
	if cfg.Store == nil || cfg.StateMachine == nil || cfg.Send == nil {
		return nil, fmt.Errorf("node: ReplicaConfig needs Store, StateMachine and Send")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Replica{id: cfg.Raft.ID, store: cfg.Store, send: cfg.Send, onResult: cfg.OnResult}
	src := cfg.PIDSource
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	r.nextPID = rand.New(src).Uint64()>>1 | 1
	r.ap = &applier{id: cfg.Raft.ID, sm: cfg.StateMachine, book: newAddressBook(nil, ""),
		results: replicaResults{r}, log: log}
	sn, err := cfg.Store.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("node: read the snapshot: %w", err)
	}
	if err := r.ap.restore(sn); err != nil {
		return nil, err
	}
	rc := cfg.Raft
	rc.Storage = cfg.Store
	rc.Applied = sn.GetMetadata().GetIndex()
	if r.rn, err = raft.NewRawNode(&rc); err != nil {
		return nil, err
	}
	return r, nil
}

type replicaResults struct{ r *Replica }

func (rr replicaResults) complete(pid uint64, res proposalResult) {
	if rr.r.onResult != nil {
		rr.r.onResult(pid, res.index, res.value)
	}
}

// RawNode returns the core, for what the Replica does not wrap (Tick, Step,
// ReadIndex, TransferLeader, Status, ReportUnreachable, ReportSnapshot).
func (r *Replica) RawNode() *raft.RawNode { return r.rn }

// Applied returns the index of the last entry applied to the state machine.
func (r *Replica) Applied() uint64 {
	i, _, _ := r.ap.state()
	return i
}

// Propose proposes cmd and returns its proposal ID, which OnResult reports
// with the result once this replica applies it.
func (r *Replica) Propose(cmd []byte) (uint64, error) {
	pid := r.newPID()
	return pid, r.rn.Propose(encodeEnvelope(r.id, pid, cmd))
}

// ProposeConfChange proposes cc; addr, if not empty, is the address of the
// member it adds, recorded by every member that applies it.
func (r *Replica) ProposeConfChange(cc *raftpb.ConfChange, addr string) (uint64, error) {
	pid := r.newPID()
	cc = proto.CloneOf(cc)
	cc.Context = encodeConfContext(r.id, pid, addr)
	return pid, r.rn.ProposeConfChange(cc)
}

func (r *Replica) newPID() uint64 {
	r.nextPID++
	if r.nextPID == 0 {
		r.nextPID = 1
	}
	return r.nextPID
}

// Ready returns the next Ready and sends its MessagesBeforePersist (step 1
// of the raft.Ready contract); ok is false when there is nothing to do.
// Persist and then Finish it before calling Ready again.
func (r *Replica) Ready() (rd raft.Ready, ok bool) {
	if !r.rn.HasReady() {
		return raft.Ready{}, false
	}
	rd = r.rn.Ready()
	if len(rd.MessagesBeforePersist) > 0 {
		r.send(rd.MessagesBeforePersist)
	}
	return rd, true
}

// Persist is steps 2 and 3: persist rd, then send MessagesAfterPersist. An
// error is a storage fault: stop the replica.
func (r *Replica) Persist(rd raft.Ready) error {
	return persistReady(r.store, r.send, rd)
}

// Finish is step 4 and Advance: apply rd's snapshot and committed entries.
// It returns what the batch did; an error is fatal.
func (r *Replica) Finish(rd raft.Ready) (Applied, error) {
	b := applyBatch{snap: rd.Snapshot, ents: rd.CommittedEntries}
	r.rn.Advance()
	if changesConf(b) {
		b.cs = r.rn.ConfState()
	}
	res, err := r.ap.apply(b)
	return Applied{Index: res.index, Term: res.term, RemovedSelf: res.removedSelf}, err
}

// Applied describes what Finish applied.
type Applied struct {
	// Index and Term are the last entry applied (or snapshot installed).
	Index, Term uint64
	// RemovedSelf says a configuration without this member was applied.
	RemovedSelf bool
}

// HandleReady handles one Ready, if there is one: Ready, Persist, Finish.
func (r *Replica) HandleReady() (raft.Ready, error) {
	rd, ok := r.Ready()
	if !ok {
		return raft.Ready{}, nil
	}
	if err := r.Persist(rd); err != nil {
		return rd, err
	}
	_, err := r.Finish(rd)
	return rd, err
}

// changesConf says whether applying b changes the configuration (so the
// applier needs the core's configuration after it); the core's ConfState
// costs an allocation per call, too much for every Ready.
func changesConf(b applyBatch) bool {
	if b.snap != nil {
		return true
	}
	for _, e := range b.ents {
		if e.Type == raftpb.EntryConfChange {
			return true
		}
	}
	return false
}

// persistReady persists rd into store and then sends its
// MessagesAfterPersist.
func persistReady(store LogStore, send func([]*raftpb.Message), rd raft.Ready) error {
	if rd.HardState != nil || len(rd.Entries) > 0 || rd.Snapshot != nil {
		if err := store.SaveReady(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
			return fmt.Errorf("node: persist: %w", err)
		}
	}
	if len(rd.MessagesAfterPersist) > 0 {
		send(rd.MessagesAfterPersist)
	}
	return nil
}
