package raft

import (
	"testing"

	"github.com/ironraft/ironraft/raftpb"
)

// cluster is a minimal synchronous test network: every Ready is persisted
// to MemoryStorage and its messages delivered in order.
type smokeCluster struct {
	nodes   map[uint64]*RawNode
	ids     []uint64
	st      map[uint64]*MemoryStorage
	inbox   []*raftpb.Message
	applied map[uint64][]*raftpb.Entry
}

func newSmokeCluster(t *testing.T, n int) *smokeCluster {
	c := &smokeCluster{nodes: map[uint64]*RawNode{}, st: map[uint64]*MemoryStorage{}, applied: map[uint64][]*raftpb.Entry{}}
	var voters []uint64
	for i := 1; i <= n; i++ {
		voters = append(voters, uint64(i))
	}
	for _, id := range voters {
		ms := NewMemoryStorage()
		ms.SetConfState(&raftpb.ConfState{Voters: voters})
		rn, err := NewRawNode(&Config{ID: id, Storage: ms})
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[id], c.st[id] = rn, ms
		c.ids = append(c.ids, id)
	}
	return c
}

func (c *smokeCluster) stabilize(t *testing.T) {
	for i := 0; i < 1000; i++ {
		progress := false
		for _, id := range c.ids {
			rn := c.nodes[id]
			for rn.HasReady() {
				progress = true
				rd := rn.Ready()
				c.inbox = append(c.inbox, rd.MessagesBeforePersist...)
				if rd.HardState != nil {
					c.st[id].SetHardState(rd.HardState)
				}
				if err := c.st[id].Append(rd.Entries); err != nil {
					t.Fatal(err)
				}
				c.inbox = append(c.inbox, rd.MessagesAfterPersist...)
				c.applied[id] = append(c.applied[id], rd.CommittedEntries...)
				rn.Advance()
			}
		}
		msgs := c.inbox
		c.inbox = nil
		for _, m := range msgs {
			progress = true
			if err := c.nodes[m.To].Step(m); err != nil {
				t.Logf("step %v: %v", m, err)
			}
		}
		if !progress {
			return
		}
	}
	t.Fatal("no quiescence")
}

func TestSmokeElectAndReplicate(t *testing.T) {
	c := newSmokeCluster(t, 3)
	if err := c.nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	c.stabilize(t)
	if st := c.nodes[1].Status(); st.RaftState != StateLeader {
		t.Fatalf("node 1 state = %v, want leader", st.RaftState)
	}
	for i := 0; i < 10; i++ {
		if err := c.nodes[uint64(1+i%3)].Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.stabilize(t)
	for _, id := range c.ids {
		if got := len(c.applied[id]); got != 11 {
			t.Errorf("node %d applied %d entries, want 11", id, got)
		}
	}
	id, err := c.nodes[2].ReadIndex()
	if err != nil {
		t.Fatal(err)
	}
	c.stabilize(t)
	_ = id
}
