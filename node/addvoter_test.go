package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ironraft/ironraft/transport/memtransport"
)

// TestAddVoterUnderLoadWithSlowLearnerLink adds a voter whose link from
// the leader is slower than the voters' while proposals commit without a
// pause: the learner's match never equals the leader's commit index of
// the moment, but it does reach the commit index the leader had when the
// wait began, and AddVoter must then promote it.
func TestAddVoterUnderLoadWithSlowLearnerLink(t *testing.T) {
	c, net := memCluster(t)
	c.bootstrap(3)
	var a acked
	c.load(&a, "one", 5)
	lead := c.leader()
	j := c.join(4)
	net.SetLinkFaults(lead.id, 4, memtransport.Faults{Delay: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				pctx, pcancel := context.WithTimeout(loadCtx, 5*time.Second)
				lead.n.Propose(pctx, []byte(fmt.Sprintf("w%d-%d=%d", w, i, i)))
				pcancel()
			}
		}()
	}
	actx, acancel := context.WithTimeout(ctx, 5*time.Second)
	start := time.Now()
	err := lead.n.AddVoter(actx, 4, j.addr)
	t.Logf("AddVoter took %v", time.Since(start))
	acancel()
	stopLoad()
	wg.Wait()
	if err != nil {
		t.Fatalf("AddVoter(4) under load = %v", err)
	}
}
