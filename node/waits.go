package node

import (
	"fmt"
	"sync"
	"time"
)

// proposal is a Propose (or configuration change) waiting for its result.
type proposal struct {
	pid        uint64
	data       []byte // the enveloped command (nil for configuration changes)
	size       int64
	proposedAt time.Time
	// ch receives the result once; size one, so completing never blocks.
	ch chan proposalResult
}

// appliedWaiter waits until the state machine applied index.
type appliedWaiter struct {
	index uint64
	ch    chan error // size one
}

// waits tracks what callers wait for: proposals by ID, and read fences by
// applied index. It bounds the pending proposals (count and bytes).
type waits struct {
	mu       sync.Mutex
	props    map[uint64]*proposal
	bytes    int64
	applied  uint64
	readers  []appliedWaiter
	stopped  error
	observer func(p *proposal, r proposalResult)
}

func newWaits() *waits { return &waits{props: map[uint64]*proposal{}} }

// add registers p, unless that would exceed maxCount or maxBytes.
func (w *waits) add(p *proposal, maxCount int, maxBytes int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped != nil {
		return w.stopped
	}
	if len(w.props) >= maxCount || w.bytes+p.size > maxBytes {
		return fmt.Errorf("%w (%d pending, %d bytes)", ErrOverloaded, len(w.props), w.bytes)
	}
	w.props[p.pid] = p
	w.bytes += p.size
	return nil
}

// remove forgets proposal pid (its caller gave up); it reports whether it
// was still pending.
func (w *waits) remove(pid uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.props[pid]
	if ok {
		delete(w.props, pid)
		w.bytes -= p.size
	}
	return ok
}

// has reports whether proposal pid is still waited for.
func (w *waits) has(pid uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.props[pid]
	return ok
}

func (w *waits) pending() (int, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.props), w.bytes
}

// complete implements resultSink.
func (w *waits) complete(pid uint64, r proposalResult) {
	w.mu.Lock()
	p, ok := w.props[pid]
	if ok {
		delete(w.props, pid)
		w.bytes -= p.size
	}
	obs := w.observer
	w.mu.Unlock()
	if !ok {
		return
	}
	if obs != nil {
		obs(p, r)
	}
	p.ch <- r
}

// setApplied records the applied index and releases the read fences it
// satisfies.
func (w *waits) setApplied(i uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i <= w.applied {
		return
	}
	w.applied = i
	keep := w.readers[:0]
	for _, r := range w.readers {
		if r.index <= i {
			r.ch <- nil
		} else {
			keep = append(keep, r)
		}
	}
	clear(w.readers[len(keep):])
	w.readers = keep
}

func (w *waits) appliedIndex() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied
}

// waitApplied returns a channel that receives nil once index is applied, or
// the stop error, and a function that forgets the wait (for a caller that
// gives up), so abandoned waits do not pile up while applying stalls.
func (w *waits) waitApplied(index uint64) (<-chan error, func()) {
	ch := make(chan error, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped != nil:
		ch <- w.stopped
	case index <= w.applied:
		ch <- nil
	default:
		w.readers = append(w.readers, appliedWaiter{index: index, ch: ch})
	}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, r := range w.readers {
			if r.ch == ch {
				w.readers = append(w.readers[:i], w.readers[i+1:]...)
				return
			}
		}
	}
}

// failAll fails everything pending with err, and every later add.
func (w *waits) failAll(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = err
	for pid, p := range w.props {
		p.ch <- proposalResult{err: fmt.Errorf("%w: %w", err, ErrOutcomeUnknown)}
		delete(w.props, pid)
	}
	w.bytes = 0
	for _, r := range w.readers {
		r.ch <- err
	}
	w.readers = nil
}
