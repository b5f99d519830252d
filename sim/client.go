package sim

import (
	"math"

	"github.com/anishathalye/porcupine"
	"github.com/ironraft/ironraft/internal/check"
	"github.com/ironraft/ironraft/raft"
)

// client issues one op at a time on a random live node.
type client struct {
	id     int
	nextOp uint32
	cur    *op
}

type opState uint8

const (
	opPending opState = iota
	opOK
	opFailed  // refused synchronously (or a read dropped): no effect
	opUnknown // timed out, or its node crashed
)

// op is one client operation and its history record.
//
// Outcome rules. A put completes when it is first applied by any node (the
// simulator watches every node's applies; the submitting node may crash
// after the entry commits). If the client gives up first (timeout, or the
// node it submitted to is down), its outcome is unknown to the client, but
// the history still records the put as "maybe happened": its return time
// is the moment it is first applied if that happens later in the run, and
// +infinity otherwise. A put refused synchronously by Propose is failed and
// left out (it had no effect). A get completes when the node it was issued
// on has applied the ReadState's index; a get that fails, times out or
// whose node crashes is left out of the history.
type op struct {
	client *client
	seq    uint32
	kind   check.KVOpKind
	key    string
	value  string
	node   uint64
	// issuedAt is the tick the op was issued; call and ret are history
	// times (a counter of calls and returns, so no two coincide).
	issuedAt  int64
	call, ret int64
	out       string
	state     opState
	applied   bool // a put seen applied somewhere
	readID    uint64
	readIndex uint64
	indexed   bool // the read's ReadState arrived
}

func (s *Sim) hnow() int64 {
	s.hclock++
	return s.hclock
}

// issue starts client c's next op.
func (s *Sim) issue(c *client) {
	if s.now >= s.p.opsStop {
		return
	}
	var up []*node
	for _, n := range s.members() {
		if n.up {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		s.schedule(event{at: s.now + 5, kind: evClient, client: c.id})
		return
	}
	n := up[s.rng.IntN(len(up))]
	c.nextOp++
	o := &op{client: c, seq: c.nextOp, node: n.id, issuedAt: s.now,
		key: sprintf("k%d", s.rng.IntN(numKeys))}
	c.cur = o
	s.ops = append(s.ops, o)
	if s.rng.Float64() < s.p.getRatio {
		o.kind = check.KVGet
	} else {
		o.kind = check.KVPut
		o.value = sprintf("%d.%d", c.id, o.seq)
	}
	o.call = s.hnow()
	s.schedule(event{at: s.now + opTimeoutTicks, kind: evTimeout, op: o})
	if o.kind == check.KVPut {
		cmd := check.KVCommand{Client: uint32(c.id), Op: o.seq, Key: o.key, Value: o.value}
		s.note("client %d op %d: put(%s, %s) on n%d", c.id, o.seq, o.key, o.value, n.id)
		s.puts[opKey(cmd.Client, cmd.Op)] = o
		pid, err := n.r.Propose(cmd.Encode())
		if err != nil {
			delete(s.puts, opKey(cmd.Client, cmd.Op))
			s.finish(o, opFailed, err.Error())
			return
		}
		n.proposals[pid] = opKey(cmd.Client, cmd.Op)
		s.sendEarly(n)
	} else {
		id, err := n.rn.ReadIndex()
		s.note("client %d op %d: get(%s) on n%d read id %d", c.id, o.seq, o.key, n.id, id)
		if err != nil {
			s.finish(o, opFailed, err.Error())
			return
		}
		o.readID = id
		n.reads = append(n.reads, o)
	}
	s.process(n)
}

// finish ends op o as the client sees it and lets the client go on.
func (s *Sim) finish(o *op, st opState, detail string) {
	if o.state != opPending {
		return
	}
	o.state = st
	switch st {
	case opOK:
		o.ret = s.hnow()
		s.note("client %d op %d: %s ok %s", o.client.id, o.seq, o.describe(), detail)
	case opFailed:
		s.note("client %d op %d: %s failed: %s", o.client.id, o.seq, o.describe(), detail)
	case opUnknown:
		s.note("client %d op %d: %s outcome unknown: %s", o.client.id, o.seq, o.describe(), detail)
	}
	s.count(o)
	if s.p.liveness && o.issuedAt >= max(s.p.opsGrace, s.lastConfAt+10*electionTicks) && st != opOK && !(st == opFailed && o.kind == check.KVPut && s.p.forwardOff) {
		// (With forwarding off, a put on a follower is refused by design.)
		s.fail(check.Failf(check.LivenessName, "client %d op %d %s issued on n%d at t=%d, after the faults stopped at t=%d, did not complete: %s %s; %s",
			o.client.id, o.seq, o.describe(), o.node, o.issuedAt, s.p.faultEnd, stateNames[st], detail, s.roles()))
	}
	if o.client.cur == o {
		o.client.cur = nil
		s.schedule(event{at: s.now + 1 + int64(s.rng.IntN(s.p.thinkMax)), kind: evClient, client: o.client.id})
	}
}

var stateNames = [...]string{"pending", "ok", "failed", "unknown"}

func (o *op) describe() string {
	if o.kind == check.KVPut {
		return sprintf("put(%s, %s)", o.key, o.value)
	}
	if o.state == opOK {
		return sprintf("get(%s) = %q", o.key, o.out)
	}
	return sprintf("get(%s)", o.key)
}

func (s *Sim) count(o *op) {
	put := o.kind == check.KVPut
	switch {
	case put && o.state == opOK:
		s.stats.PutsOK++
	case put && o.state == opFailed:
		s.stats.PutsFailed++
	case put:
		s.stats.PutsUnknown++
	case o.state == opOK:
		s.stats.GetsOK++
	case o.state == opFailed:
		s.stats.GetsFailed++
	default:
		s.stats.GetsUnknown++
	}
}

// timeout ends o if it is still pending: the client gives up.
func (s *Sim) timeout(o *op) {
	if o.state != opPending {
		return
	}
	if o.kind == check.KVGet {
		s.dropRead(o)
	}
	s.finish(o, opUnknown, sprintf("timeout after %d ticks", opTimeoutTicks))
}

// dropRead forgets a read on its node.
func (s *Sim) dropRead(o *op) {
	n := s.node(o.node)
	for i, r := range n.reads {
		if r == o {
			n.reads = append(n.reads[:i:i], n.reads[i+1:]...)
			return
		}
	}
}

// putApplied records that a put took effect (was applied for the first
// time by some node).
func (s *Sim) putApplied(cmd check.KVCommand) {
	k := opKey(cmd.Client, cmd.Op)
	o := s.puts[k]
	if o == nil {
		return
	}
	delete(s.puts, k)
	o.applied = true
	if o.state == opPending {
		s.finish(o, opOK, "")
		return
	}
	// The client gave up, but the put happened: it returned no later than
	// now.
	o.ret = s.hnow()
	s.stats.PutsLate++
}

// readState handles a ReadState on n.
func (s *Sim) readState(n *node, rs raft.ReadState) {
	for _, o := range n.reads {
		if o.readID != rs.ID || o.indexed {
			continue
		}
		if rs.Dropped {
			s.dropRead(o)
			s.finish(o, opFailed, "read dropped")
			return
		}
		o.indexed, o.readIndex = true, rs.Index
		return
	}
}

// serveReads answers the reads on n whose index n has applied.
func (s *Sim) serveReads(n *node) {
	k := 0
	for _, o := range n.reads {
		if o.indexed && o.readIndex <= n.applied {
			o.out = n.kv.vals[o.key]
			s.finish(o, opOK, sprintf("at index %d (applied %d) on n%d", o.readIndex, n.applied, n.id))
			continue
		}
		n.reads[k] = o
		k++
	}
	clear(n.reads[k:])
	n.reads = n.reads[:k]
}

// history returns the porcupine history of the run.
func (s *Sim) history() []porcupine.Operation {
	var h []porcupine.Operation
	for _, o := range s.ops {
		in := check.KVInput{Kind: o.kind, Key: o.key, Value: o.value}
		switch {
		case o.kind == check.KVGet && o.state == opOK:
			h = append(h, porcupine.Operation{ClientId: o.client.id, Input: in, Call: o.call,
				Output: check.KVOutput{Value: o.out}, Return: o.ret})
		case o.kind == check.KVPut && o.applied:
			h = append(h, porcupine.Operation{ClientId: o.client.id, Input: in, Call: o.call,
				Output: check.KVOutput{}, Return: o.ret})
		case o.kind == check.KVPut && o.state != opFailed:
			// Maybe happened: it may take effect at any time after its call.
			h = append(h, porcupine.Operation{ClientId: o.client.id, Input: in, Call: o.call,
				Output: check.KVOutput{}, Return: math.MaxInt64})
		}
	}
	return h
}
