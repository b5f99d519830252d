package node

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/transport"
	"github.com/ironraft/ironraft/vfs"
)

// handTransport is a transport the test plays the leader through: it hands
// the node's messages to sent and delivers what the test gives deliver.
type handTransport struct {
	h    transport.Handler
	sent chan *raftpb.Message
}

func (t *handTransport) Start(h transport.Handler) error { t.h = h; return nil }
func (t *handTransport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		select {
		case t.sent <- m:
		default: // the test waits for a few only
		}
	}
}
func (t *handTransport) AddPeer(uint64, string) error { return nil }
func (t *handTransport) RemovePeer(uint64)            {}
func (t *handTransport) Close() error                 { return nil }

func (t *handTransport) deliver(tb testing.TB, m *raftpb.Message) {
	tb.Helper()
	if err := t.h.Receive(context.Background(), []*raftpb.Message{m}); err != nil {
		tb.Fatalf("Receive(%s) = %v", m.Type, err)
	}
}

// csSM records the applied index and configuration the runtime holds each
// time it takes a state-machine snapshot: the snapshot is stored with them.
type csSM struct {
	nopSM
	n     *Node
	mu    sync.Mutex
	taken []snapState
}

type snapState struct {
	index uint64
	cs    *raftpb.ConfState
}

func (s *csSM) Snapshot() (SnapshotView, error) {
	i, _, cs := s.n.ap.state()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taken = append(s.taken, snapState{i, cs})
	return nopView{}, nil
}

// TestSnapshotSteppedDuringPersistDoesNotLendItsConfState makes a follower
// step a leader's snapshot while it persists a Ready whose committed
// entries include a configuration change. The core installs the snapshot's
// configuration at once; the batch of committed entries (up to index 20)
// must not take it as its configuration, or the runtime stores a snapshot
// at index 20 with the configuration of index 30.
func TestSnapshotSteppedDuringPersistDoesNotLendItsConfState(t *testing.T) {
	fs := vfs.NewFault(vfs.NewMem())
	var hookMu sync.Mutex
	var armed bool
	blocked, release := make(chan struct{}), make(chan struct{})
	fs.SetHook(func(op vfs.Op, name string) error {
		if op != vfs.OpSync {
			return nil
		}
		hookMu.Lock()
		a := armed
		armed = false
		hookMu.Unlock()
		if a {
			close(blocked)
			<-release
		}
		return nil
	})
	tr := &handTransport{sent: make(chan *raftpb.Message, 64)}
	sm := &csSM{}
	n, err := Join(Config{ID: 2, ClusterID: 1, DataDir: "/d", FS: fs, Transport: tr, StateMachine: sm,
		TickInterval: time.Hour, ElectionTicks: 10, HeartbeatTicks: 1, SnapshotEntries: 5},
		[]Member{{ID: 1, Addr: "a"}})
	if err != nil {
		t.Fatalf("Join = %v", err)
	}
	sm.n = n
	defer n.Stop()

	noop := func(i uint64) *raftpb.Entry { return &raftpb.Entry{Index: i, Term: 1} }
	snap := func(i uint64, cs *raftpb.ConfState) *raftpb.Message {
		return &raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: 2, Term: 1, Snapshot: &raftpb.Snapshot{
			Data:     EncodeSnapshotData(map[uint64]string{1: "a", 2: "b"}, nil),
			Metadata: &raftpb.SnapshotMetadata{Index: i, Term: 1, ConfState: cs}}}
	}
	waitAck := func(index uint64) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-tr.sent:
				if m.Type == raftpb.MsgAppResp && !m.Reject && m.MatchIndex >= index {
					return
				}
			case <-deadline:
				t.Fatalf("no append ack for index %d", index)
			}
		}
	}
	// The cluster {1, 2} as of index 10, then entries 11-20, a learner 3
	// added at 12.
	tr.deliver(t, snap(10, &raftpb.ConfState{Voters: []uint64{1, 2}}))
	waitAck(10)
	cc, err := proto.Marshal(&raftpb.ConfChange{Changes: []*raftpb.ConfChangeSingle{
		{Type: raftpb.ConfChangeAddLearnerNode, NodeId: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	ents := []*raftpb.Entry{noop(11), {Index: 12, Term: 1, Type: raftpb.EntryConfChange, Data: cc}}
	for i := uint64(13); i <= 20; i++ {
		ents = append(ents, noop(i))
	}
	tr.deliver(t, &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1,
		PrevLogIndex: 10, PrevLogTerm: 1, Entries: ents, Commit: 10})
	waitAck(20)
	// 11-20 committed, with new entries 21-22 whose fsync blocks.
	hookMu.Lock()
	armed = true
	hookMu.Unlock()
	tr.deliver(t, &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 1,
		PrevLogIndex: 20, PrevLogTerm: 1, Entries: []*raftpb.Entry{noop(21), noop(22)}, Commit: 20})
	<-blocked
	// Meanwhile the leader sends a snapshot at 30, whose configuration
	// also has learner 4 (added at some index in 21-30).
	tr.deliver(t, snap(30, &raftpb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3, 4}}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for stepped := false; !stepped; {
		if err := n.run(ctx, func(rn *raft.RawNode) {
			n.stepInbox()
			stepped = rn.Status().LastIndex == 30
		}); err != nil {
			t.Fatalf("run = %v", err)
		}
	}
	close(release)
	select {
	case err := <-first(n.waits.waitApplied(30)):
		if err != nil {
			t.Fatalf("waiting to apply index 30: %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("applied index %d, want 30", n.waits.appliedIndex())
	}
	want := map[uint64][]uint64{20: {3}}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	for _, s := range sm.taken {
		if l, ok := want[s.index]; ok && !proto.Equal(s.cs, &raftpb.ConfState{Voters: []uint64{1, 2}, Learners: l}) {
			t.Errorf("snapshot at index %d taken with configuration %v, want learners %v", s.index, s.cs, l)
		}
	}
}

func first(ch <-chan error, _ func()) <-chan error { return ch }
