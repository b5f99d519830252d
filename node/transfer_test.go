package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ironraft/ironraft/node"
)

// TestProposeOnLeaderDuringTransferDoesNotNameItself proposes on a leader
// that is handing leadership to a member it cannot reach: the core refuses
// proposals until the transfer ends, and the *NotLeaderError must not name
// this member as the leader (a client would retry it in a loop).
func TestProposeOnLeaderDuringTransferDoesNotNameItself(t *testing.T) {
	c, _ := memCluster(t)
	c.bootstrap(3)
	var a acked
	c.load(&a, "one", 3)
	lead := c.leader()
	var to uint64
	for id := range c.members {
		if id != lead.id {
			to = id
			break
		}
	}
	lead.gate.set(map[uint64]bool{to: true})
	c.members[to].gate.set(map[uint64]bool{lead.id: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	go lead.n.TransferLeadership(tctx, to)
	deadline := time.Now().Add(5 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := lead.n.Propose(pctx, []byte("k=v"))
		pcancel()
		var nl *node.NotLeaderError
		if errors.As(err, &nl) && !errors.Is(err, context.DeadlineExceeded) {
			if nl.Leader == lead.id {
				t.Fatalf("Propose on the leader during a transfer = %v: names this member", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Propose on the leader during a transfer = %v, want a refusal", err)
		}
	}
}
