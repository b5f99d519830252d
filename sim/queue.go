package sim

import "github.com/ironraft/ironraft/raftpb"

// evKind says what an event does.
type evKind uint8

const (
	evTick    evKind = iota // every live node ticks
	evDeliver               // a message arrives at msg.To
	evFsync                 // node's in-flight Ready becomes durable
	evClient                // client issues its next op
	evTimeout               // a client gives up on op
	evFault                 // the next fault is injected
	evRestart               // node restarts
	evHeal                  // the current partition heals
	evPhase                 // the fault phase ends: heal everything
	evCrash                 // node crashes (a targeted fault)
)

// event is one entry of the queue. Events run in (at, seq) order; seq is
// the order of scheduling, so ties are broken deterministically.
type event struct {
	at   int64
	seq  uint64
	kind evKind
	// node and inc name a node incarnation (evFsync, evRestart, evCrash);
	// an event for an older incarnation is ignored. For evDeliver, inc is
	// the incarnation of the sender.
	node, inc uint64
	msg       *raftpb.Message
	client    int
	op        *op
	// part is the partition generation an evHeal heals.
	part uint64
	// fault is the kind of a targeted evCrash (for the statistics), down
	// its downtime (0: drawn from the profile's range), and loseSent says
	// the messages the node sent that are still in flight are lost too.
	fault    faultKind
	down     int
	loseSent bool
}

// eventQueue is a binary min-heap of events by (at, seq).
type eventQueue []event

func (q eventQueue) less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}

func (q *eventQueue) push(e event) {
	*q = append(*q, e)
	h := *q
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *eventQueue) pop() event {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = event{}
	h = h[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(l, m) {
			m = l
		}
		if r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}
