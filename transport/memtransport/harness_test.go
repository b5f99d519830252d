package memtransport

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ironraft/ironraft/raftpb"
)

// waitTimeout bounds every wait for a condition.
const waitTimeout = 5 * time.Second

// snapReport is one ReportSnapshot call.
type snapReport struct {
	ID uint64
	OK bool
}

// cluster is a Network whose endpoints each have a recorder as handler.
type cluster struct {
	t   *testing.T
	net *Network

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every recorded event
	rec     map[uint64]*recorder
}

// recorder is a transport.Handler that records what it is given. Its
// fields are guarded by c.mu.
type recorder struct {
	c           *cluster
	got         []*raftpb.Message
	gotAt       []time.Time
	maxBatch    int
	unreachable map[uint64]int
	snaps       []snapReport
	receiveErr  error // returned by Receive when set
}

func (r *recorder) Receive(_ context.Context, msgs []*raftpb.Message) error {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	defer r.c.notifyLocked()
	if r.receiveErr != nil {
		return r.receiveErr
	}
	now := time.Now()
	for _, m := range msgs {
		r.got = append(r.got, m)
		r.gotAt = append(r.gotAt, now)
	}
	r.maxBatch = max(r.maxBatch, len(msgs))
	return nil
}

func (r *recorder) ReportUnreachable(id uint64) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	r.unreachable[id]++
	r.c.notifyLocked()
}

func (r *recorder) ReportSnapshot(id uint64, ok bool) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	r.snaps = append(r.snaps, snapReport{id, ok})
	r.c.notifyLocked()
}

// seqsFrom returns the Commit field, used as a sequence number, of every
// message received from node from, in order. c.mu must be held.
func (r *recorder) seqsFrom(from uint64) []uint64 {
	var s []uint64
	for _, m := range r.got {
		if m.GetFrom() == from {
			s = append(s, m.GetCommit())
		}
	}
	return s
}

// newCluster starts endpoints for ids on a new Network, each a peer of all
// others. Cleanup closes the Network and checks that no goroutine leaked.
func newCluster(t *testing.T, opts Options, ids ...uint64) *cluster {
	t.Helper()
	c := &cluster{t: t, net: NewNetwork(opts), changed: make(chan struct{}), rec: make(map[uint64]*recorder)}
	t.Cleanup(func() {
		c.net.Close()
		goleak.VerifyNone(t)
	})
	for _, id := range ids {
		tr := c.net.Transport(id)
		for _, p := range ids {
			if p != id {
				if err := tr.AddPeer(p, ""); err != nil {
					t.Fatalf("AddPeer(%d) = %v, want nil", p, err)
				}
			}
		}
		c.start(tr)
	}
	return c
}

// start starts tr with a fresh recorder as its handler.
func (c *cluster) start(tr *Transport) *recorder {
	c.t.Helper()
	r := &recorder{c: c, unreachable: make(map[uint64]int)}
	c.mu.Lock()
	c.rec[tr.ID()] = r
	c.mu.Unlock()
	if err := tr.Start(r); err != nil {
		c.t.Fatalf("Start() = %v, want nil", err)
	}
	return r
}

func (c *cluster) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitFor waits until cond, called with c.mu held, returns true. It checks
// on every recorded event, and every few milliseconds for conditions on
// Stats.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		ok := cond()
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			c.t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
	}
}

// send sends one message of type typ with sequence number seq from → to.
func (c *cluster) send(typ raftpb.MessageType, from, to, seq uint64) {
	c.net.Transport(from).Send([]*raftpb.Message{{Type: typ, From: from, To: to, Commit: seq}})
}

// balanced reports whether every link's counters add up, which they do
// once nothing is queued.
func balanced(stats map[Link]LinkStats) bool {
	for _, s := range stats {
		if s.Sent+s.Duplicated != s.Delivered+s.Dropped {
			return false
		}
	}
	return true
}

// seqRange returns [from, to].
func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}
