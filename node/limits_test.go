package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// The node's bounds refuse at once, with their errors, and count what they
// drop: an inbound batch over MaxInboxMessages, a command over
// MaxCommandBytes, and proposals over MaxPendingBytes.
func TestLimitsRefuseAtOnce(t *testing.T) {
	tr := &handTransport{sent: make(chan *raftpb.Message, 16)}
	n, err := Bootstrap(Config{ID: 1, ClusterID: 1, DataDir: "d", FS: vfs.NewMem(), Transport: tr,
		StateMachine: nopSM{}, TickInterval: time.Hour, // never elects: proposals stay pending
		MaxInboxMessages: 2, MaxCommandBytes: 8, MaxPendingBytes: 10},
		[]Member{{ID: 1, Addr: "a"}, {ID: 2, Addr: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()

	batch := []*raftpb.Message{
		{Type: raftpb.MsgHeartbeat, From: 2, To: 1, Term: 1},
		{Type: raftpb.MsgHeartbeat, From: 2, To: 1, Term: 1},
		{Type: raftpb.MsgHeartbeat, From: 2, To: 1, Term: 1},
	}
	if err := tr.h.Receive(context.Background(), batch); !errors.Is(err, errInboxFull) {
		t.Errorf("Receive of 3 messages with MaxInboxMessages 2 = %v, want errInboxFull", err)
	}
	if got := testutil.ToFloat64(n.m.inboxDropped); got != 3 {
		t.Errorf("inbox_dropped_total = %v, want 3", got)
	}

	if _, err := n.Propose(context.Background(), make([]byte, 9)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Propose of 9 bytes with MaxCommandBytes 8 = %v, want ErrTooLarge", err)
	}

	// No leader: proposals wait for one. Pending bytes are counted by the
	// waits; 8 fit under 10, 8 more do not.
	first := &proposal{pid: 1, size: 8, ch: make(chan proposalResult, 1)}
	if err := n.waits.add(first, n.cfg.MaxPendingProposals, n.cfg.MaxPendingBytes); err != nil {
		t.Fatalf("first pending proposal refused: %v", err)
	}
	second := &proposal{pid: 2, size: 8, ch: make(chan proposalResult, 1)}
	if err := n.waits.add(second, n.cfg.MaxPendingProposals, n.cfg.MaxPendingBytes); !errors.Is(err, ErrOverloaded) {
		t.Errorf("proposal past MaxPendingBytes = %v, want ErrOverloaded", err)
	}
	if !n.waits.remove(1) {
		t.Errorf("the first proposal was not pending")
	}
	if err := n.waits.add(second, n.cfg.MaxPendingProposals, n.cfg.MaxPendingBytes); err != nil {
		t.Errorf("proposal after the first left = %v, want room", err)
	}
}
