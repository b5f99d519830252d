package sim

import (
	"fmt"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// network holds which directed links are cut. Messages are checked when
// they arrive: a message in flight when a link is cut is lost, and one
// sent across a cut that heals before it arrives is delivered.
type network struct {
	n int
	// cut[a][b] says messages from a to b are lost. Indexed by node ID.
	cut [][]bool
	// desc describes the current partition ("" when healed).
	desc string
}

func newNetwork(n int) network {
	cut := make([][]bool, n+1)
	for i := range cut {
		cut[i] = make([]bool, n+1)
	}
	return network{n: n, cut: cut}
}

func (nw *network) heal() {
	for a := range nw.cut {
		for b := range nw.cut[a] {
			nw.cut[a][b] = false
		}
	}
	nw.desc = ""
}

// split cuts both ways between the groups (node sets) a and b.
func (nw *network) split(a, b []uint64) {
	for _, x := range a {
		for _, y := range b {
			nw.cut[x][y], nw.cut[y][x] = true, true
		}
	}
}

// send puts m on the network: it is dropped at random, or delivered after
// a random delay (possibly twice).
func (s *Sim) send(m *raftpb.Message) {
	s.stats.Messages++
	if !s.healed && s.unfavored(m) {
		s.stats.Dropped++
		s.tr.add(trRec{at: s.now, kind: trDrop, msg: m, c: dropUnfavored})
		return
	}
	inc := s.node(m.From).inc
	if !s.healed && s.p.dropRate > 0 && s.rng.Float64() < s.p.dropRate {
		s.stats.Dropped++
		s.tr.add(trRec{at: s.now, kind: trDrop, msg: m, c: dropRandom})
		s.reportSnap(m, inc, false)
		return
	}
	at := s.now + 1 + int64(s.rng.IntN(s.p.maxDelay))
	if s.healed {
		// A healthy network delivers each link in order (the transport
		// keeps one stream per peer); reordering is a fault-phase fault.
		link := [2]uint64{m.From, m.To}
		at = max(at, s.linkLast[link])
		s.linkLast[link] = at
	}
	s.schedule(event{at: at, kind: evDeliver, msg: m, inc: inc})
	if !s.healed && s.p.dupRate > 0 && s.rng.Float64() < s.p.dupRate {
		s.stats.Duplicated++
		s.tr.add(trRec{at: s.now, kind: trDup, msg: m})
		s.schedule(event{at: s.now + 1 + int64(s.rng.IntN(2*s.p.maxDelay)), kind: evDeliver, msg: m, inc: inc})
	}
}

// deliver hands m, sent by incarnation inc of its sender, to its
// destination, or to its inbox if the node is busy persisting a Ready.
func (s *Sim) deliver(m *raftpb.Message, inc uint64) {
	to := s.node(m.To)
	switch {
	case inc != 0 && inc == s.node(m.From).lostInc:
		s.stats.Dropped++
		s.tr.add(trRec{at: s.now, kind: trDrop, msg: m, c: dropSenderCrashed})
		return
	case s.net.cut[m.From][m.To]:
		s.stats.Dropped++
		s.tr.add(trRec{at: s.now, kind: trDrop, msg: m, c: dropPartition})
		s.reportSnap(m, inc, false)
		return
	case !to.up:
		s.stats.Dropped++
		s.tr.add(trRec{at: s.now, kind: trDrop, msg: m, c: dropDown})
		s.reportSnap(m, inc, false)
		return
	}
	s.stats.Delivered++
	s.tr.add(trRec{at: s.now, kind: trDeliver, msg: m})
	if to.busy {
		to.inbox = append(to.inbox, m)
	} else {
		s.step(to, m)
		s.process(to)
	}
	if m.Type == raftpb.MsgSnap {
		// Delivered (a busy node steps it after its fsync: the transport
		// has done its part).
		s.reportSnap(m, inc, true)
		if from := s.node(m.From); from.up && !from.busy {
			s.process(from)
		}
	}
}

// scheduleFault schedules the next fault of the fault phase.
func (s *Sim) scheduleFault() {
	gap := s.p.faultGapMin + s.rng.IntN(s.p.faultGapMax-s.p.faultGapMin+1)
	if at := s.now + int64(gap); at < s.p.faultEnd {
		s.schedule(event{at: at, kind: evFault})
	}
}

// injectFault injects one fault drawn by the profile's weights.
func (s *Sim) injectFault() {
	defer s.scheduleFault()
	if s.healed {
		return
	}
	w := [...]int{s.p.wPartition, s.p.wCrash, s.p.wLeaderCrash, s.p.wHeal, s.p.wChurn}
	total := 0
	for _, x := range w {
		total += x
	}
	r := s.rng.IntN(total)
	switch {
	case r < w[0]:
		s.partition()
	case r < w[0]+w[1]:
		ids := s.activeIDs()
		s.crash(s.node(ids[s.rng.IntN(len(ids))]), fCrash)
	case r < w[0]+w[1]+w[2]:
		if l := s.leader(); l != nil {
			s.crash(l, fLeaderCrash)
		}
	case r >= w[0]+w[1]+w[2]+w[3]:
		s.churn()
	default:
		if s.net.desc != "" {
			s.stats.Faults[fHeal]++
			s.healPartition()
		}
	}
}

// leader returns a live node that believes it leads in the highest term
// among leaders, or nil.
func (s *Sim) leader() *node {
	var l *node
	for _, n := range s.nodes {
		if n.up && n.role == raft.StateLeader && (l == nil || n.term > l.term) {
			l = n
		}
	}
	return l
}

// activeIDs returns the IDs of the active nodes (started, not removed).
func (s *Sim) activeIDs() []uint64 {
	var ids []uint64
	for _, n := range s.nodes {
		if n.active() {
			ids = append(ids, n.id)
		}
	}
	return ids
}

// shuffled returns the active node IDs in a random order.
func (s *Sim) shuffled() []uint64 {
	ids := s.activeIDs()
	s.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

// partition replaces the current partition by a new one of a random shape
// and schedules its healing.
func (s *Sim) partition() {
	s.net.heal()
	ids := s.shuffled()
	// Put the leader first half of the time, so that shapes that cut off
	// ids[0] often depose it.
	if l := s.leader(); l != nil && s.rng.IntN(2) == 0 {
		for i, id := range ids {
			if id == l.id {
				ids[0], ids[i] = ids[i], ids[0]
			}
		}
	}
	n := len(ids)
	var kind faultKind
	switch s.rng.IntN(4) {
	case 0:
		kind = fIsolate
		s.net.split(ids[:1], ids[1:])
		s.net.desc = fmt.Sprintf("isolate n%d", ids[0])
	case 1:
		kind = fSplit
		k := 1 + s.rng.IntN(n/2) // a minority
		s.net.split(ids[:k], ids[k:])
		s.net.desc = fmt.Sprintf("split %v | %v", ids[:k], ids[k:])
	case 2:
		kind = fOneWay
		x := ids[0]
		if s.rng.IntN(2) == 0 {
			for _, y := range ids[1:] {
				s.net.cut[x][y] = true
			}
			s.net.desc = fmt.Sprintf("one-way: n%d cannot send", x)
		} else {
			for _, y := range ids[1:] {
				s.net.cut[y][x] = true
			}
			s.net.desc = fmt.Sprintf("one-way: n%d cannot receive", x)
		}
		// Plus a few random one-way cuts elsewhere.
		for i := 0; i < s.rng.IntN(n); i++ {
			a, b := ids[s.rng.IntN(n)], ids[s.rng.IntN(n)]
			if a != b {
				s.net.cut[a][b] = true
				s.net.desc += fmt.Sprintf(", %d-/->%d", a, b)
			}
		}
	default:
		kind = fBridge
		// ids[0] bridges two halves that cannot hear each other.
		rest := ids[1:]
		k := 1 + s.rng.IntN(len(rest)-1)
		s.net.split(rest[:k], rest[k:])
		s.net.desc = fmt.Sprintf("bridge n%d between %v and %v", ids[0], rest[:k], rest[k:])
	}
	s.stats.Faults[kind]++
	s.partGen++
	s.note("PARTITION %s", s.net.desc)
	d := s.p.partMin + s.rng.IntN(s.p.partMax-s.p.partMin+1)
	s.schedule(event{at: s.now + int64(d), kind: evHeal, part: s.partGen})
}

func (s *Sim) healPartition() {
	if s.net.desc == "" {
		return
	}
	s.note("HEAL (%s)", s.net.desc)
	s.net.heal()
	s.partGen++
}

// endFaultPhase heals the network, restarts every crashed node and stops
// drops and duplicates: from here on the cluster must make progress.
func (s *Sim) endFaultPhase() {
	s.healed = true
	s.linkLast = map[[2]uint64]int64{}
	s.healPartition()
	// Raft's timing requirement (broadcast time well below the election
	// timeout) must hold for liveness: with the slowest fault-phase
	// settings (8-tick delays, 5-tick fsyncs) a vote round trip can exceed
	// the election timeout, and a candidate then times out before its
	// grants arrive, forever (seed 337 did that).
	s.p.maxDelay = min(s.p.maxDelay, 3)
	s.p.fsyncMax = min(s.p.fsyncMax, 2)
	s.note("FAULT PHASE OVER: network healed (links FIFO), crashed nodes restart, no more drops")
	for _, n := range s.nodes {
		if !n.up && n.active() {
			s.restart(n)
		}
	}
}
