package server

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A watch that requires a leader (clientv3.WithRequireLeader) ends with
// "no leader" once its member has been cut off from the leader for a few
// election timeouts, so the client can move to another member.
func TestWatchRequiringLeaderEndsWhenLeaderLost(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	i := c.follower(t)
	cli := c.client(t, i)
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctxT(t)))
	defer cancel()
	wch := cli.Watch(ctx, "rl/k")
	if _, err := cli.Put(ctx, "rl/k", "1"); err != nil {
		t.Fatal(err)
	}
	if evs := collect(t, wch, 1); string(evs[0].Kv.Value) != "1" {
		t.Fatalf("watch event %v, want rl/k=1", evs[0])
	}
	for _, j := range c.running() {
		if j != i {
			c.stop(t, j)
		}
	}
	deadline := time.After(testWait)
	for {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("watch channel closed without the no-leader error")
			}
			if err := wr.Err(); err != nil {
				if !strings.Contains(err.Error(), "no leader") {
					t.Fatalf("watch ended with %v, want etcd's no leader error", err)
				}
				return
			}
		case <-deadline:
			t.Fatalf("the watch requiring a leader still runs %v after its member lost the leader", testWait)
		}
	}
}
