package raft

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ironraft/ironraft/raftpb"
)

// testNet is a small synchronous network of RawNodes for unit tests: each
// Ready is handled per its contract (persist to MemoryStorage, then send
// the after-persist messages), and messages are delivered in FIFO order
// unless dropped by the filter.
type testNet struct {
	t       testing.TB
	ids     []uint64
	nodes   map[uint64]*RawNode
	storage map[uint64]*MemoryStorage
	applied map[uint64][]*raftpb.Entry
	reads   map[uint64][]ReadState
	queue   []*raftpb.Message
	// drop, if set, discards the messages for which it returns true.
	drop func(m *raftpb.Message) bool
	// sent records every message delivered or dropped, in order.
	sent []*raftpb.Message
	// hold lists nodes whose Ready is not handled (a stalled process).
	hold map[uint64]bool
}

// newTestNet bootstraps voters 1..n, each configured by cfg (which may be
// nil) before NewRawNode.
func newTestNet(t testing.TB, n int, cfg func(c *Config)) *testNet {
	tn := &testNet{t: t, nodes: map[uint64]*RawNode{}, storage: map[uint64]*MemoryStorage{},
		applied: map[uint64][]*raftpb.Entry{}, reads: map[uint64][]ReadState{}}
	for i := 1; i <= n; i++ {
		tn.ids = append(tn.ids, uint64(i))
	}
	for _, id := range tn.ids {
		ms := NewMemoryStorage()
		ms.SetConfState(&raftpb.ConfState{Voters: tn.ids})
		tn.storage[id] = ms
		tn.start(id, cfg)
	}
	return tn
}

func (tn *testNet) start(id uint64, cfg func(c *Config)) {
	c := &Config{ID: id, Storage: tn.storage[id], Rand: rand.NewPCG(id, 7)}
	if cfg != nil {
		cfg(c)
	}
	rn, err := NewRawNode(c)
	if err != nil {
		tn.t.Fatalf("NewRawNode(%d) = %v", id, err)
	}
	tn.nodes[id] = rn
}

// setLog replaces the stored log of id with entries of the given terms
// (indexes 1..) and its hard state with term, before the node starts.
func (tn *testNet) setLog(id uint64, term uint64, terms ...uint64) {
	ms := NewMemoryStorage()
	ms.SetConfState(&raftpb.ConfState{Voters: tn.ids})
	var ents []*raftpb.Entry
	for i, tm := range terms {
		ents = append(ents, &raftpb.Entry{Index: uint64(i + 1), Term: tm, Data: []byte{byte(tm)}})
	}
	if err := ms.Append(ents); err != nil {
		tn.t.Fatal(err)
	}
	ms.SetHardState(&raftpb.HardState{Term: term})
	tn.storage[id] = ms
	tn.start(id, nil)
}

// process handles every pending Ready of every node once.
func (tn *testNet) process() bool {
	progress := false
	for _, id := range tn.ids {
		if tn.hold[id] {
			continue
		}
		rn := tn.nodes[id]
		for rn.HasReady() {
			progress = true
			rd := rn.Ready()
			tn.queue = append(tn.queue, rd.MessagesBeforePersist...)
			ms := tn.storage[id]
			if rd.Snapshot != nil {
				if err := ms.ApplySnapshot(rd.Snapshot); err != nil {
					tn.t.Fatal(err)
				}
			}
			if err := ms.Append(rd.Entries); err != nil {
				tn.t.Fatal(err)
			}
			if rd.HardState != nil {
				ms.SetHardState(rd.HardState)
			}
			tn.queue = append(tn.queue, rd.MessagesAfterPersist...)
			tn.applied[id] = append(tn.applied[id], rd.CommittedEntries...)
			tn.reads[id] = append(tn.reads[id], rd.ReadStates...)
			rn.Advance()
		}
	}
	return progress
}

// deliver delivers the queued messages once and reports whether any were.
func (tn *testNet) deliver() bool {
	msgs := tn.queue
	tn.queue = nil
	for _, m := range msgs {
		tn.sent = append(tn.sent, m)
		if tn.drop != nil && tn.drop(m) {
			continue
		}
		if rn, ok := tn.nodes[m.To]; ok { // forged messages name unknown nodes
			_ = rn.Step(m)
		}
	}
	return len(msgs) > 0
}

// stabilize processes and delivers until nothing is left.
func (tn *testNet) stabilize() {
	for i := 0; i < 10000; i++ {
		p := tn.process()
		d := tn.deliver()
		if !p && !d {
			return
		}
	}
	tn.t.Fatal("testNet: no quiescence after 10000 rounds")
}

// tick ticks every node n times, stabilizing after each tick.
func (tn *testNet) tick(n int, ids ...uint64) {
	if len(ids) == 0 {
		ids = tn.ids
	}
	for i := 0; i < n; i++ {
		for _, id := range ids {
			tn.nodes[id].Tick()
		}
		tn.stabilize()
	}
}

// isolate drops every message to or from the given nodes.
func (tn *testNet) isolate(ids ...uint64) {
	tn.drop = func(m *raftpb.Message) bool {
		return slices.Contains(ids, m.From) != slices.Contains(ids, m.To)
	}
}

func (tn *testNet) heal() { tn.drop = nil }

func (tn *testNet) raft(id uint64) *raft { return tn.nodes[id].raft }

// leader returns the single node in the leader role, or None.
func (tn *testNet) leader() uint64 {
	lead := None
	for _, id := range tn.ids {
		if tn.raft(id).state == StateLeader {
			if lead != None {
				tn.t.Fatalf("two leaders: %d and %d", lead, id)
			}
			lead = id
		}
	}
	return lead
}

// sentOfType returns the recorded messages of type t.
func (tn *testNet) sentOfType(t raftpb.MessageType) []*raftpb.Message {
	var out []*raftpb.Message
	for _, m := range tn.sent {
		if m.Type == t {
			out = append(out, m)
		}
	}
	return out
}

func TestTestNetElectAndReplicate(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	if err := tn.nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	if got := tn.leader(); got != 1 {
		t.Fatalf("leader = %d, want 1", got)
	}
	for i := 0; i < 10; i++ {
		if err := tn.nodes[uint64(1+i%3)].Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	tn.stabilize()
	for _, id := range tn.ids {
		if got := len(tn.applied[id]); got != 11 {
			t.Errorf("node %d applied %d entries, want 11", id, got)
		}
	}
}

func pcg(seed uint64) *rand.PCG { return rand.NewPCG(seed, seed) }
