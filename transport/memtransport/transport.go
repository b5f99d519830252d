package memtransport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/transport"
)

var _ transport.Transport = (*Transport)(nil)

// Endpoint states; they only move forward.
const (
	stateNew int32 = iota
	stateStarted
	stateClosed
)

// Transport is the endpoint of one node on a Network. It implements
// transport.Transport; its methods are safe for concurrent use.
type Transport struct {
	id  uint64
	net *Network

	// state is stateNew, stateStarted or stateClosed. It moves to
	// stateStarted under mu after handler is set, and to stateClosed under
	// mu.
	state   atomic.Int32
	handler transport.Handler // set once by Start, before state is stateStarted

	// recvMu is held shared by each link delivering into handler, and taken
	// exclusively by Close once state is stateClosed, to wait them out.
	recvMu sync.RWMutex

	reports   reporter
	wg        sync.WaitGroup // joins the reporter and every link goroutine
	closeOnce sync.Once

	mu    sync.Mutex
	peers map[uint64]*link // nil once closed
	// stopReports stops the reporter goroutine; set by Start.
	stopReports context.CancelFunc
}

func newTransport(n *Network, id uint64) *Transport {
	t := &Transport{id: id, net: n, peers: make(map[uint64]*link)}
	t.reports.init()
	return t
}

// ID returns the node ID of the endpoint.
func (t *Transport) ID() uint64 { return t.id }

// Start begins delivering inbound messages to h and starts the endpoint's
// goroutines.
func (t *Transport) Start(h transport.Handler) error {
	if h == nil {
		return fmt.Errorf("memtransport: node %d: Start with a nil handler", t.id)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.state.Load() {
	case stateClosed:
		return transport.ErrClosed
	case stateStarted:
		return fmt.Errorf("memtransport: node %d: already started", t.id)
	}
	t.handler = h
	ctx, cancel := context.WithCancel(context.Background())
	t.stopReports = cancel
	t.wg.Go(func() { t.reports.run(ctx, h) })
	for _, l := range t.peers {
		t.startLink(l)
	}
	t.state.Store(stateStarted)
	return nil
}

// AddPeer makes peer id known; addr is only recorded. It may be called
// before Start.
func (t *Transport) AddPeer(id uint64, addr string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state.Load() == stateClosed {
		return transport.ErrClosed
	}
	if l := t.peers[id]; l != nil {
		l.setAddr(addr)
		return nil
	}
	l := newLink(t, id, addr)
	t.peers[id] = l
	if t.state.Load() == stateStarted {
		t.startLink(l)
	}
	return nil
}

// RemovePeer forgets peer id: its link goroutine is stopped and joined, and
// its queued messages dropped (a queued MsgSnap is reported as failed).
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	l := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if l == nil {
		return
	}
	for _, e := range l.stop() {
		t.dropped(l, e, false)
	}
}

// Send queues msgs on the links to their destinations and returns at once.
// It panics if the endpoint was never started; after Close it drops msgs.
func (t *Transport) Send(msgs []*raftpb.Message) {
	switch t.state.Load() {
	case stateNew:
		panic(fmt.Sprintf("memtransport: node %d: Send before Start", t.id))
	case stateClosed:
		for _, m := range msgs {
			t.net.admit(Link{t.id, m.GetTo()}, false)
		}
		return
	}
	now := time.Now()
	for _, m := range msgs {
		t.send(m, now)
	}
}

// send applies the faults to one message and queues what survives.
func (t *Transport) send(m *raftpb.Message, now time.Time) {
	to := m.GetTo()
	t.mu.Lock()
	l := t.peers[to]
	t.mu.Unlock()
	lk := Link{t.id, to}
	snap := m.GetType() == raftpb.MsgSnap
	filter, ok := t.net.admit(lk, l != nil)
	if !ok {
		t.reports.unreachable(to)
		if snap {
			t.reports.snapshot(to, false)
		}
		return
	}
	c := proto.Clone(m).(*raftpb.Message)
	fa := t.net.decide(lk, now, filter != nil && filter(c))
	if fa.drop {
		if snap {
			t.reports.snapshot(to, false)
		}
		return
	}
	e := entry{m: c, at: fa.at, hold: fa.hold, snap: snap}
	if fa.hold {
		e.holdUntil = fa.at.Add(reorderHold)
	}
	if !l.enqueue(e) {
		t.dropped(l, e, true)
	}
	if fa.dup {
		d := entry{m: proto.Clone(c).(*raftpb.Message), at: fa.at}
		if !l.enqueue(d) {
			t.dropped(l, d, true)
		}
	}
}

// dropped counts e as dropped on l, reports a MsgSnap as failed and, if
// unreachable, reports l's peer unreachable.
func (t *Transport) dropped(l *link, e entry, unreachable bool) {
	t.net.count(Link{t.id, l.to}, 0, 1)
	if unreachable {
		t.reports.unreachable(l.to)
	}
	if e.snap {
		t.reports.snapshot(l.to, false)
	}
}

// Close stops the endpoint: queued messages are dropped, pending reports
// discarded, and every goroutine it started has returned, and no call into
// its Handler is running, when Close returns. Close is idempotent and
// always returns nil.
func (t *Transport) Close() error {
	t.closeOnce.Do(t.close)
	return nil
}

func (t *Transport) close() {
	t.mu.Lock()
	t.state.Store(stateClosed)
	peers := t.peers
	t.peers = nil
	if t.stopReports != nil {
		t.stopReports()
	}
	t.mu.Unlock()
	t.reports.close()
	for _, l := range peers {
		if n := len(l.stop()); n > 0 {
			t.net.count(Link{t.id, l.to}, 0, n)
		}
	}
	t.wg.Wait()
	// Links of other endpoints check state under recvMu before calling
	// handler; taking it once waits out those that saw stateStarted.
	t.recvMu.Lock()
	t.recvMu.Unlock()
}

// beginReceive returns the endpoint's handler if it is started, holding
// off Close until endReceive.
func (t *Transport) beginReceive() (transport.Handler, bool) {
	t.recvMu.RLock()
	if t.state.Load() != stateStarted {
		t.recvMu.RUnlock()
		return nil, false
	}
	return t.handler, true
}

func (t *Transport) endReceive() { t.recvMu.RUnlock() }

// startLink starts the delivery goroutine of l. t.mu must be held.
func (t *Transport) startLink(l *link) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done = make(chan struct{})
	t.wg.Go(func() {
		defer close(l.done)
		l.run(ctx)
	})
}
