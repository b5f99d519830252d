package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ironraft/ironraft/internal/check"
)

// history records a porcupine history of KV operations from several
// goroutines, and the puts acknowledged with their revisions.
type history struct {
	start time.Time // operation times are nanoseconds since start

	mu    sync.Mutex
	ops   []porcupine.Operation
	acked []ackedPut
}

type ackedPut struct {
	key, value string
	rev        int64
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(op porcupine.Operation, ack *ackedPut) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	if ack != nil {
		h.acked = append(h.acked, *ack)
	}
}

func (h *history) ackedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// Load of the failover test: writers put unique values on a few shared
// keys, readers get them linearizably.
const (
	loadWriters = 4
	loadReaders = 2
	loadKeys    = 8
	loadOpTime  = 3 * time.Second // per-operation timeout
)

// runWriter puts unique values until ctx ends. A put that fails has an
// unknown outcome: it may have been applied, at any later time.
func runWriter(ctx context.Context, h *history, cli *clientv3.Client, w int) {
	rng := rand.New(rand.NewPCG(uint64(w), 0))
	for i := 0; ctx.Err() == nil; i++ {
		key := fmt.Sprintf("lin/k%d", rng.IntN(loadKeys))
		val := fmt.Sprintf("w%d-%d", w, i)
		op := porcupine.Operation{ClientId: w, Input: check.KVInput{Kind: check.KVPut, Key: key, Value: val},
			Output: check.KVOutput{}, Call: h.now()}
		pctx, cancel := context.WithTimeout(ctx, loadOpTime)
		r, err := cli.Put(pctx, key, val)
		cancel()
		if err != nil {
			op.Return = math.MaxInt64
			h.add(op, nil)
			continue
		}
		op.Return = h.now()
		h.add(op, &ackedPut{key: key, value: val, rev: r.Header.Revision})
	}
}

// runReader gets random keys until ctx ends; failed gets are left out.
func runReader(ctx context.Context, h *history, cli *clientv3.Client, r int) {
	rng := rand.New(rand.NewPCG(uint64(r), 1))
	for ctx.Err() == nil {
		key := fmt.Sprintf("lin/k%d", rng.IntN(loadKeys))
		call := h.now()
		gctx, cancel := context.WithTimeout(ctx, loadOpTime)
		g, err := cli.Get(gctx, key)
		cancel()
		if err != nil {
			continue
		}
		h.add(porcupine.Operation{ClientId: r, Input: check.KVInput{Kind: check.KVGet, Key: key},
			Output: check.KVOutput{Value: string(firstValue(g))}, Call: call, Return: h.now()}, nil)
	}
}

func firstValue(g *clientv3.GetResponse) []byte {
	if len(g.Kvs) == 0 {
		return nil
	}
	return g.Kvs[0].Value
}

// TestLeaderKilledMidLoadLosesNoAcknowledgedWrite kills -9 the leader while
// four clients write and two read, restarts it, and then checks that every
// acknowledged put is readable, at its revision, with a linearizable get
// from every member, and that the whole history is linearizable
// (internal/check's porcupine KV model).
func TestLeaderKilledMidLoadLosesNoAcknowledgedWrite(t *testing.T) {
	c := newCluster(t, 3)
	h := &history{start: time.Now()}
	ctx, stopLoad := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { stopLoad(); wg.Wait() }()
	for w := range loadWriters {
		cli := c.client()
		wg.Go(func() { runWriter(ctx, h, cli, w) })
	}
	for r := range loadReaders {
		cli := c.client()
		wg.Go(func() { runReader(ctx, h, cli, loadWriters+r) })
	}
	waitAcked := func(what string, n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d acknowledged puts %s", n, what), func() error {
			if got := h.ackedCount(); got < n {
				return fmt.Errorf("%d so far", got)
			}
			return nil
		})
	}

	waitAcked("before the kill", 300)
	lead := c.leader()
	c.kill(lead)
	before := h.ackedCount()
	waitAcked("after the leader was killed", before+300)
	c.start(lead)
	waitAcked("after the old leader restarted", h.ackedCount()+200)
	stopLoad()
	wg.Wait()
	t.Logf("%d operations, %d puts acknowledged, %d of them after %s (the leader) was killed",
		len(h.ops), len(h.acked), len(h.acked)-before, lead.name)

	checkAckedPuts(t, c, h.acked)

	// Final reads of every key from every member, into the history too.
	for _, m := range c.members {
		cli := c.client(m)
		for k := range loadKeys {
			key := fmt.Sprintf("lin/k%d", k)
			call := h.now()
			g, err := cli.Get(t.Context(), key)
			if err != nil {
				t.Fatalf("%s: Get(%s) = %v", m.name, key, err)
			}
			h.add(porcupine.Operation{ClientId: 100, Input: check.KVInput{Kind: check.KVGet, Key: key},
				Output: check.KVOutput{Value: string(firstValue(g))}, Call: call, Return: h.now()}, nil)
		}
	}
	if err := check.CheckKVLinearizable(h.ops, time.Minute); err != nil {
		t.Error(err)
	}
}

// checkAckedPuts reads every acknowledged put at its revision from every
// member (linearizable gets, a few at a time), and checks that no two
// acknowledged puts share a revision.
func checkAckedPuts(t *testing.T, c *cluster, acked []ackedPut) {
	t.Helper()
	byRev := map[int64]ackedPut{}
	for _, a := range acked {
		if prev, dup := byRev[a.rev]; dup {
			t.Errorf("puts %+v and %+v were both acknowledged at revision %d", prev, a, a.rev)
		}
		byRev[a.rev] = a
	}
	const parallel = 4
	for _, m := range c.members {
		cli := c.client(m)
		var mu sync.Mutex
		var lost []string
		var wg sync.WaitGroup
		for p := range parallel {
			wg.Go(func() {
				for i := p; i < len(acked); i += parallel {
					a := acked[i]
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					g, err := cli.Get(ctx, a.key, clientv3.WithRev(a.rev))
					cancel()
					if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != a.value || g.Kvs[0].ModRevision != a.rev {
						mu.Lock()
						lost = append(lost, fmt.Sprintf("%s=%s at revision %d: got %v, %v", a.key, a.value, a.rev, g, err))
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if len(lost) > 0 {
			t.Errorf("%s: %d of %d acknowledged puts not found at their revision; the first: %s", m.name, len(lost), len(acked), lost[0])
		}
	}
}
