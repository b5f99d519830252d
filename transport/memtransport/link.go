package memtransport

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ironraft/ironraft/raftpb"
)

// entry is one message queued on a link.
type entry struct {
	m  *raftpb.Message // the transport's own copy, handed to the receiver
	at time.Time       // earliest delivery time (Delay, Jitter)
	// hold marks a message picked by ReorderProb that still waits for a
	// successor to be put ahead of it, until holdUntil.
	hold      bool
	holdUntil time.Time
	snap      bool // the original of a MsgSnap: owes its sender a ReportSnapshot
}

// link is the directed link from its owner to peer to: a bounded FIFO and
// the goroutine that delivers it.
type link struct {
	owner *Transport
	to    uint64
	// wake holds at most one pending wake-up for run; more coalesce, since
	// run looks at the whole queue each time it wakes.
	wake chan struct{}
	// cancel and done are set by startLink under owner.mu, before the link
	// goroutine starts; both are nil if it never started.
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	addr string // as given to AddPeer; only recorded
	// q is the queue, in delivery order.
	// Invariant: len(q) <= Options.QueueLen; only q[len(q)-1] may have hold set.
	q       []entry
	stopped bool // set by stop; enqueue refuses from then on
}

func newLink(owner *Transport, to uint64, addr string) *link {
	return &link{owner: owner, to: to, addr: addr, wake: make(chan struct{}, 1)}
}

func (l *link) setAddr(addr string) {
	l.mu.Lock()
	l.addr = addr
	l.mu.Unlock()
}

// enqueue appends e to the queue, or puts it ahead of a held last entry,
// and reports false if the queue is full or the link stopped.
func (l *link) enqueue(e entry) bool {
	l.mu.Lock()
	if l.stopped || len(l.q) >= l.owner.net.opts.QueueLen {
		l.mu.Unlock()
		return false
	}
	if n := len(l.q); n > 0 && l.q[n-1].hold {
		held := l.q[n-1]
		held.hold = false
		e.hold = false // e is no longer last: see the invariant on q
		l.q[n-1] = e
		l.q = append(l.q, held)
	} else {
		l.q = append(l.q, e)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// next pops the entries deliverable at now, at most MaxBatch of them. When
// there are none it returns how long to wait for the head, or 0 if the
// queue is empty.
func (l *link) next(now time.Time) (batch []entry, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for ; i < len(l.q) && i < l.owner.net.opts.MaxBatch; i++ {
		e := &l.q[i]
		if now.Before(e.at) {
			wait = e.at.Sub(now)
			break
		}
		if e.hold {
			if now.Before(e.holdUntil) {
				wait = e.holdUntil.Sub(now)
				break
			}
			e.hold = false // no successor came: it goes alone
		}
	}
	if i == 0 {
		return nil, wait
	}
	batch = slices.Clone(l.q[:i])
	clear(l.q[:i])
	l.q = l.q[i:]
	return batch, 0
}

// run delivers the queue until ctx is cancelled.
func (l *link) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for ctx.Err() == nil {
		batch, wait := l.next(time.Now())
		if len(batch) > 0 {
			l.deliver(ctx, batch)
			continue
		}
		var fire <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-l.wake:
		case <-fire:
		}
		timer.Stop()
	}
}

// deliver hands batch to the current endpoint of l.to, or drops it.
func (l *link) deliver(ctx context.Context, batch []entry) {
	if ctx.Err() != nil {
		l.fail(batch, false)
		return
	}
	dst := l.owner.net.receiver(Link{l.owner.id, l.to})
	if dst == nil {
		l.fail(batch, true)
		return
	}
	h, ok := dst.beginReceive()
	if !ok {
		l.fail(batch, true)
		return
	}
	msgs := make([]*raftpb.Message, len(batch))
	for i, e := range batch {
		msgs[i] = e.m
	}
	err := h.Receive(ctx, msgs)
	dst.endReceive()
	if err != nil {
		l.fail(batch, true)
		return
	}
	l.owner.net.count(Link{l.owner.id, l.to}, len(batch), 0)
	for _, e := range batch {
		if e.snap {
			l.owner.reports.snapshot(l.to, true)
		}
	}
}

// fail counts batch as dropped, reports each MsgSnap in it as failed and,
// if unreachable, reports the peer unreachable.
func (l *link) fail(batch []entry, unreachable bool) {
	l.owner.net.count(Link{l.owner.id, l.to}, 0, len(batch))
	if unreachable {
		l.owner.reports.unreachable(l.to)
	}
	for _, e := range batch {
		if e.snap {
			l.owner.reports.snapshot(l.to, false)
		}
	}
}

// stop makes enqueue refuse, stops and joins the link goroutine, and
// returns what was left queued.
func (l *link) stop() []entry {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
	l.mu.Lock()
	q := l.q
	l.q = nil
	l.mu.Unlock()
	return q
}
