package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/ironraft/ironraft/transport/memtransport"
)

// TestRemovedFollowerStopsWhenLeaderLinkIsSlow removes a follower whose
// link from the leader delays every message: the leader's farewell append
// (raft's sendFarewell), sent after it applied the removal, is still
// queued when the leader drops the removed peer, and must not be dropped
// with the queue, or the follower never learns of its removal.
func TestRemovedFollowerStopsWhenLeaderLinkIsSlow(t *testing.T) {
	c, net := memCluster(t)
	c.bootstrap(3)
	var a acked
	c.load(&a, "one", 5)
	lead := c.leader()
	f := c.other(lead.id)
	net.SetLinkFaults(lead.id, f, memtransport.Faults{Delay: 30 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := lead.n.RemoveMember(ctx, f); err != nil {
		t.Fatalf("RemoveMember(%d) = %v", f, err)
	}
	removed := c.members[f]
	waitRemoved(t, removed)
}
