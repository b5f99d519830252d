package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
	"github.com/ironraft/ironraft/wal"
)

// testNode is one member of a test cluster: a RawNode persisting through a
// Storage, and a state machine that hashes the data it applies.
type testNode struct {
	id      uint64
	rn      *raft.RawNode
	s       *Storage
	applied uint64
	state   uint64
	script  []scriptOp // every write to s, in order
}

func (n *testNode) do(op scriptOp) {
	n.script = append(n.script, op)
	if err := op.apply(n.s); err != nil {
		panic(fmt.Sprintf("node %d: %s: %v", n.id, op.kind, err))
	}
}

func encodeState(state, applied uint64) []byte {
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, state), applied)
}

func applyData(state uint64, data []byte) uint64 {
	h := fnv.New64a()
	h.Write(binary.LittleEndian.AppendUint64(nil, state))
	h.Write(data)
	return h.Sum64()
}

func raftConfig(id uint64, s raft.Storage, applied uint64) *raft.Config {
	return &raft.Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: s, Applied: applied,
		MaxSizePerMsg: 4096, MaxInflightMsgs: 16}
}

// testCluster runs three nodes over one MemFS, with messages carried
// synchronously and a partition that cuts one node off.
type testCluster struct {
	t     testing.TB
	nodes map[uint64]*testNode
	queue []*raftpb.Message
	cut   uint64 // the partitioned node, 0 for none
	// snapEvery makes each node snapshot when it has applied this many
	// entries past its last snapshot, compacting to keepTail below it.
	snapEvery, keepTail uint64
}

func newTestCluster(t testing.TB, fs vfs.FS) *testCluster {
	c := &testCluster{t: t, nodes: map[uint64]*testNode{}, snapEvery: 8, keepTail: 3}
	for id := uint64(1); id <= 3; id++ {
		s, err := Open(fs, fmt.Sprintf("data/n%d", id), wal.Meta{ClusterID: 0xc1, NodeID: id}, smallOpts)
		if err != nil {
			t.Fatalf("Open node %d: %v", id, err)
		}
		n := &testNode{id: id, s: s}
		n.do(scriptOp{kind: "bootstrap", cs: voters})
		if n.rn, err = raft.NewRawNode(raftConfig(id, s, 0)); err != nil {
			t.Fatalf("NewRawNode %d: %v", id, err)
		}
		c.nodes[id] = n
	}
	return c
}

// handle processes every Ready of n: persist, send, apply, advance, then
// snapshot and compact by the cluster's policy.
func (c *testCluster) handle(n *testNode) {
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		c.send(n, rd.MessagesBeforePersist)
		n.do(scriptOp{kind: "ready", hs: rd.HardState, ents: rd.Entries, snap: rd.Snapshot, sync: rd.MustSync})
		if rd.Snapshot != nil {
			md := rd.Snapshot.GetMetadata()
			n.state = binary.LittleEndian.Uint64(rd.Snapshot.GetData())
			n.applied = md.GetIndex()
		}
		c.send(n, rd.MessagesAfterPersist)
		for _, e := range rd.CommittedEntries {
			if e.GetType() == raftpb.EntryNormal && len(e.GetData()) > 0 {
				n.state = applyData(n.state, e.GetData())
			}
			n.applied = e.GetIndex()
		}
		n.rn.Advance()
		sn, _ := n.s.Snapshot()
		if si := sn.GetMetadata().GetIndex(); n.applied >= si+c.snapEvery {
			n.do(scriptOp{kind: "create", index: n.applied, cs: n.rn.ConfState(), data: encodeState(n.state, n.applied)})
			if n.applied > c.keepTail {
				n.do(scriptOp{kind: "compact", index: n.applied - c.keepTail})
			}
		}
	}
}

func (c *testCluster) send(from *testNode, msgs []*raftpb.Message) {
	for _, m := range msgs {
		if m.GetType() == raftpb.MsgSnap {
			from.rn.ReportSnapshot(m.GetTo(), c.cut != m.GetTo() && c.cut != from.id)
		}
		c.queue = append(c.queue, m)
	}
}

// stabilize delivers messages and handles Readies until nothing is left.
func (c *testCluster) stabilize() {
	for range 10000 {
		for id := uint64(1); id <= 3; id++ {
			c.handle(c.nodes[id])
		}
		if len(c.queue) == 0 {
			return
		}
		q := c.queue
		c.queue = nil
		for _, m := range q {
			if m.GetTo() == c.cut || m.GetFrom() == c.cut {
				continue
			}
			if err := c.nodes[m.GetTo()].rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
				c.t.Fatalf("node %d: Step(%v): %v", m.GetTo(), m.GetType(), err)
			}
		}
	}
	c.t.Fatal("cluster did not stabilize")
}

func (c *testCluster) tick(n int) {
	for range n {
		for id := uint64(1); id <= 3; id++ {
			c.nodes[id].rn.Tick()
		}
		c.stabilize()
	}
}

func (c *testCluster) propose(id uint64, count int) {
	for i := range count {
		if err := c.nodes[id].rn.Propose(fmt.Appendf(nil, "n%d-%d", id, i)); err != nil {
			c.t.Fatalf("node %d: Propose: %v", id, err)
		}
		c.stabilize()
	}
}

// recordClusterScripts runs a three-node cluster — election, writes, a
// partition during which the leader snapshots and compacts past the cut
// node, a heal that sends that node a snapshot, a change of leader — and
// returns every node's writes.
func recordClusterScripts(t testing.TB) map[uint64][]scriptOp {
	c := newTestCluster(t, vfs.NewMem())
	if err := c.nodes[1].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	c.stabilize()
	c.propose(1, 10)
	c.cut = 3
	c.propose(1, 25)
	c.cut = 0
	c.tick(3) // heartbeats: node 3 needs a snapshot
	c.propose(1, 5)
	if err := c.nodes[1].rn.TransferLeader(2); err != nil {
		t.Fatal(err)
	}
	c.tick(25)
	c.propose(2, 10)
	leaderSnaps := 0
	for _, op := range c.nodes[3].script {
		if op.snap != nil {
			leaderSnaps++
		}
	}
	if hs, _, _ := c.nodes[1].s.InitialState(); leaderSnaps == 0 || hs.GetTerm() < 2 {
		t.Fatalf("the run lacks what it is for: node 3 got %d snapshots from a leader, node 1 is at term %d", leaderSnaps, hs.GetTerm())
	}
	out := map[uint64][]scriptOp{}
	for id, n := range c.nodes {
		out[id] = n.script
		if n.applied < 40 {
			t.Fatalf("node %d applied only up to %d", id, n.applied)
		}
		n.s.Close()
	}
	return out
}
