package memtransport

import (
	"context"
	"sync"

	"github.com/ironraft/ironraft/transport"
)

// report is one pending call to a Handler: ReportSnapshot(id, ok) if snap,
// else ReportUnreachable(id).
type report struct {
	id   uint64
	snap bool
	ok   bool
}

// reporter queues an endpoint's reports for its own goroutine, so that no
// Handler method is ever called from inside Send, where the caller may hold
// locks or be the loop the handler feeds.
type reporter struct {
	// wake holds at most one pending wake-up; more coalesce, since run
	// takes everything pending each time it wakes.
	wake chan struct{}

	mu     sync.Mutex
	closed bool // set by close; reports are discarded from then on
	// pending is in order of occurrence. Invariant: it holds at most one
	// unreachable report per peer (those in queued). Snapshot reports are
	// bounded by the MsgSnaps in flight, which Raft keeps to one per peer.
	pending []report
	queued  map[uint64]bool
}

func (r *reporter) init() {
	r.wake = make(chan struct{}, 1)
	r.queued = make(map[uint64]bool)
}

// unreachable queues ReportUnreachable(id), unless one is pending already.
func (r *reporter) unreachable(id uint64) {
	r.mu.Lock()
	if r.closed || r.queued[id] {
		r.mu.Unlock()
		return
	}
	r.queued[id] = true
	r.pending = append(r.pending, report{id: id})
	r.mu.Unlock()
	r.signal()
}

// snapshot queues ReportSnapshot(id, ok).
func (r *reporter) snapshot(id uint64, ok bool) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.pending = append(r.pending, report{id: id, snap: true, ok: ok})
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// close discards pending reports and refuses new ones.
func (r *reporter) close() {
	r.mu.Lock()
	r.closed = true
	r.pending = nil
	clear(r.queued)
	r.mu.Unlock()
}

// run makes the queued calls to h until ctx is cancelled.
func (r *reporter) run(ctx context.Context, h transport.Handler) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		r.mu.Lock()
		batch := r.pending
		r.pending = nil
		clear(r.queued)
		r.mu.Unlock()
		for _, rep := range batch {
			if ctx.Err() != nil {
				return
			}
			if rep.snap {
				h.ReportSnapshot(rep.id, rep.ok)
			} else {
				h.ReportUnreachable(rep.id)
			}
		}
	}
}
