package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/ironraft/ironraft/node"
)

// The scenarios run on any transport: newCluster builds the cluster.
type clusterFactory func(t *testing.T) *cluster

func scenarios() map[string]func(t *testing.T, newCluster clusterFactory) {
	return map[string]func(t *testing.T, newCluster clusterFactory){
		"LeaderCrashFailover":     testLeaderCrashFailover,
		"FollowerRestartFromDisk": testFollowerRestartFromDisk,
		"MinorityPartition":       testMinorityPartition,
		"MajorityPartition5":      testMajorityPartition5,
		"JoinThroughSnapshot":     testJoinThroughSnapshot,
		"RemoveMembersAndLeader":  testRemoveMembersAndLeader,
		"TransferLeadership":      testTransferLeadership,
		"RollingRestart":          testRollingRestart,
	}
}

func TestScenariosMemTransport(t *testing.T) {
	for name, f := range scenarios() {
		t.Run(name, func(t *testing.T) {
			f(t, func(t *testing.T) *cluster { c, _ := memCluster(t); return c })
		})
	}
}

func testLeaderCrashFailover(t *testing.T, newCluster clusterFactory) {
	c := newCluster(t)
	c.bootstrap(3)
	var a acked
	c.load(&a, "before", 20)
	old := c.leader()
	c.stop(old.id)
	lead := c.leader()
	if lead.id == old.id {
		t.Fatalf("stopped leader %d still leads", old.id)
	}
	c.load(&a, "after", 20)
	c.restart(old.id)
	c.load(&a, "back", 10)
	c.checkAcked(&a)
}

func testFollowerRestartFromDisk(t *testing.T, newCluster clusterFactory) {
	c := newCluster(t)
	c.bootstrap(3)
	var a acked
	c.load(&a, "one", 20)
	lead := c.leader()
	f := uint64(1)
	if f == lead.id {
		f = 2
	}
	c.stop(f)
	c.load(&a, "two", 20)
	c.restart(f)
	c.load(&a, "three", 5)
	c.checkAcked(&a)
}

func testMinorityPartition(t *testing.T, newCluster clusterFactory) {
	c := newCluster(t)
	c.bootstrap(3)
	var a acked
	c.load(&a, "one", 10)
	old := c.leader()
	var others []uint64
	for id := range c.members {
		if id != old.id {
			others = append(others, id)
		}
	}
	// The leader alone in the minority: the others elect a new one.
	c.partition(others, []uint64{old.id})
	waitFor(t, 10*time.Second, "a new leader in the majority", func() bool {
		l, _ := c.members[others[0]].n.Leader()
		return l != 0 && l != old.id
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := old.n.Propose(ctx, []byte("lost=1"))
	cancel()
	if err == nil {
		t.Fatalf("a proposal on the cut-off leader succeeded")
	}
	for _, id := range others {
		m := c.members[id]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := propose(ctx, m, "maj-"+string(rune('a'+id))+"=1"); err != nil {
			t.Fatalf("Propose on %d in the majority = %v", id, err)
		}
		cancel()
		a.mu.Lock()
		a.kv["maj-"+string(rune('a'+id))] = "1"
		a.mu.Unlock()
	}
	c.heal()
	c.load(&a, "healed", 10)
	c.checkAcked(&a)
}

func testMajorityPartition5(t *testing.T, newCluster clusterFactory) {
	c := newCluster(t)
	c.bootstrap(5)
	var a acked
	c.load(&a, "one", 10)
	lead := c.leader()
	minority := []uint64{lead.id}
	var majority []uint64
	for id := range c.members {
		if id == lead.id {
			continue
		}
		if len(minority) < 2 {
			minority = append(minority, id)
		} else {
			majority = append(majority, id)
		}
	}
	c.partition(minority, majority)
	waitFor(t, 10*time.Second, "a leader in the majority", func() bool {
		l, _ := c.members[majority[0]].n.Leader()
		for _, id := range majority {
			if l == id {
				return true
			}
		}
		return false
	})
	m := c.members[majority[1]]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := propose(ctx, m, "majority=yes"); err != nil {
		t.Fatalf("Propose in the majority = %v", err)
	}
	a.mu.Lock()
	a.kv["majority"] = "yes"
	a.mu.Unlock()
	// Then the majority loses one member to the minority side: no quorum
	// anywhere, nothing commits.
	c.partition(append(minority, majority[0]), majority[1:])
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if _, err := c.members[majority[1]].n.Propose(short, []byte("noquorum=1")); err == nil {
		t.Fatalf("a proposal committed without a quorum")
	}
	c.heal()
	c.load(&a, "healed", 10)
	c.checkAcked(&a)
}

func testJoinThroughSnapshot(t *testing.T, newCluster clusterFactory) {
	c := newCluster(t)
	c.tweak = func(cfg *node.Config) {
		cfg.SnapshotEntries = 20
		cfg.SnapshotTrailingEntries = 5
	}
	c.bootstrap(3)
	var a acked
	c.load(&a, "old", 80)
	lead := c.leader()
	j := c.join(4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := lead.n.AddVoter(ctx, 4, j.addr); err != nil {
		t.Fatalf("AddVoter(4) = %v", err)
	}
	c.load(&a, "new", 10)
	c.checkAcked(&a)
	if j.sm.restoreCount() == 0 {
		t.Fatalf("member 4 caught up without a snapshot")
	}
	voters := 0
	for _, m := range lead.n.Members() {
		if !m.Learner {
			voters++
		}
	}
	if voters != 4 {
		t.Fatalf("Members() = %v, want 4 voters", lead.n.Members())
	}
}

func testRemoveMembersAndLeader(t *testing.T, newCluster clusterFactory) {
	c := newCluster(t)
	c.bootstrap(5)
	var a acked
	c.load(&a, "one", 10)
	lead := c.leader()
	f := c.other(lead.id)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := lead.n.RemoveMember(ctx, f); err != nil {
		t.Fatalf("RemoveMember(%d) = %v", f, err)
	}
	removed := c.members[f]
	waitRemoved(t, removed)
	c.stop(f)
	delete(c.members, f)
	c.load(&a, "two", 10)
	// The leader removes itself.
	if err := lead.n.RemoveMember(ctx, lead.id); err != nil {
		t.Fatalf("RemoveMember(leader %d) = %v", lead.id, err)
	}
	waitRemoved(t, lead)
	c.stop(lead.id)
	delete(c.members, lead.id)
	newLead := c.leader()
	if newLead.id == lead.id {
		t.Fatalf("removed leader still leads")
	}
	c.load(&a, "three", 10)
	c.checkAcked(&a)
	if got := len(newLead.n.Members()); got != 3 {
		t.Fatalf("Members() = %v, want 3", newLead.n.Members())
	}
}

func testTransferLeadership(t *testing.T, newCluster clusterFactory) {
	c := newCluster(t)
	c.bootstrap(3)
	var a acked
	c.load(&a, "one", 10)
	lead := c.leader()
	to := c.other(lead.id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lead.n.TransferLeadership(ctx, to); err != nil {
		t.Fatalf("TransferLeadership(%d) = %v", to, err)
	}
	if got := c.leader(); got.id != to {
		t.Fatalf("leader after transfer = %d, want %d", got.id, to)
	}
	// A follower refuses: it is not the leader.
	if err := lead.n.TransferLeadership(ctx, lead.id); !node.IsNotLeader(err) {
		t.Fatalf("TransferLeadership on a follower = %v, want *NotLeaderError", err)
	}
	c.load(&a, "two", 10)
	c.checkAcked(&a)
}

func testRollingRestart(t *testing.T, newCluster clusterFactory) {
	c := newCluster(t)
	c.bootstrap(3)
	var a acked
	for id := uint64(1); id <= 3; id++ {
		c.load(&a, "before-"+string(rune('0'+id)), 10)
		c.stop(id)
		c.load(&a, "during-"+string(rune('0'+id)), 5)
		c.restart(id)
		c.leader()
	}
	c.load(&a, "after", 10)
	c.checkAcked(&a)
}
