package sim

import "github.com/ironraft/ironraft/raftpb"

// Faults aimed at newly elected leaders, and the Figure 8 script.
//
// The Figure 8 scenario (paper §5.4.2) needs, at one log index, divergent
// entries of three terms T0 < T1 < T: leader A of T0 leaves entry e there
// on its own log only and crashes; leader B of T1 leaves a different entry
// there on its own log only and crashes; A, elected again in T, replicates
// e (an entry of an earlier term) to a majority. A correct leader does not
// count e committed until an entry of T is on a majority too; a leader
// that commits e by counting replicas, applies it and crashes before any
// entry of T spreads lets B, whose last term T1 beats every other log's,
// win the next election and overwrite e: leader completeness, durability
// and state-machine safety break.
//
// Random crashes and partitions almost never line this up (the bug
// survived 500 seeds of the bug-hunting profile), so the profile also runs
// it as a script, with legal faults only (crashes, downtimes, lost
// messages), advanced at each election:
//
//  1. a new leader A is elected: it is tail-crashed (it crashes as soon as
//     its no-op is durable, and its messages carrying the no-op, and all
//     it sent that are still in flight, are lost) and stays down;
//  2. the next leader B (not A) is tail-crashed the same way and stays
//     down; A restarts, and the vote requests of every other node are lost
//     for up to favorTicks, so that A leads next if it can;
//  3. if the next leader is A, its MsgApps carrying entries of its term are
//     lost for a while (hold-new-term), so only entries of earlier terms,
//     sent alone while it probes, reach its followers; any other leader
//     ends the script (and restarts A and B);
//  4. if A advances its commit index to an entry of an earlier term, it
//     crashes right after applying it (old-term commit crash), and B
//     restarts; the vote requests of every other node are lost for up to
//     favorTicks: B, whose last term beats every other log's, wins and
//     overwrites the entry A committed.
//
// A correct core sails through: in step 3 A commits nothing until the hold
// ends, then its no-op and its old tail together. The script runs only
// during the fault phase; the random faults keep going meanwhile.

// fig8 is the state of the Figure 8 script.
type fig8 struct {
	// stage is the next step (0: idle).
	stage int
	a, b  uint64
	// Until favorUntil, vote requests of every node but favor are lost:
	// the election goes to favor, if it can win at all.
	favor      uint64
	favorUntil int64
}

// favorTicks bounds how long the script steers an election.
const favorTicks = 60

// longDown is the downtime of a node the script restarts itself.
const longDown = 150

// newLeaderFaults decides the targeted faults for n, which has just become
// leader in its term.
func (s *Sim) newLeaderFaults(n *node) {
	n.crashOnPersist = false
	if s.healed || s.fig8Elected(n) || s.p.crashNewLeader+s.p.holdNewTerm == 0 {
		return
	}
	switch r := s.rng.Float64(); {
	case r < s.p.crashNewLeader:
		s.schedule(event{at: s.now + int64(s.rng.IntN(4)), kind: evCrash, node: n.id, inc: n.inc, fault: fNewLeaderCrash})
	case r < s.p.crashNewLeader+s.p.holdNewTerm:
		s.hold(n, s.p.holdMin+s.rng.IntN(s.p.holdMax-s.p.holdMin+1))
	}
}

// hold makes the network lose n's MsgApps that carry entries of its
// current term for the next ticks (see heldBack).
func (s *Sim) hold(n *node, ticks int) {
	s.stats.Faults[fHoldNewTerm]++
	s.holdQuietly(n, ticks)
	s.note("HOLD n%d's MsgApps with term-%d entries until t=%d", n.id, n.term, n.holdUntil)
}

func (s *Sim) holdQuietly(n *node, ticks int) {
	n.holdTerm = n.term
	n.holdUntil = s.now + int64(ticks)
}

// heldBack says the hold-new-term fault loses m as it reaches n: a MsgApp
// of a leader under the fault that carries an entry of the leader's term
// and that n would accept (its log matches m's previous entry). A MsgApp
// that n would refuse goes through: the refusal makes the leader probe
// backwards, one entry per message, and so send the entries of earlier
// terms alone.
func (s *Sim) heldBack(n *node, m *raftpb.Message) bool {
	if m.Type != raftpb.MsgApp || s.healed {
		return false
	}
	from := s.node(m.From)
	if from.holdTerm != m.Term || s.now >= from.holdUntil {
		return false
	}
	newTerm := false
	for _, e := range m.Entries {
		newTerm = newTerm || e.Term == m.Term
	}
	if !newTerm {
		return false
	}
	if last, _ := n.durable.LastIndex(); m.PrevLogIndex > last {
		return false
	}
	if first, _ := n.durable.FirstIndex(); m.PrevLogIndex < first {
		return true // compacted: committed, so it matches
	}
	t, _ := n.durable.Term(m.PrevLogIndex)
	return t == m.PrevLogTerm
}

// tailCrash crashes n, a new leader, for down ticks as soon as its no-op
// is durable (see finishReady). Its MsgApps that carry the no-op are lost
// meanwhile, and the messages it sent that are still in flight when it
// crashes: the no-op stays on n's log alone, a divergent tail of a term
// higher than any other log's last.
func (s *Sim) tailCrash(n *node, down int) {
	s.holdQuietly(n, down)
	n.crashOnPersist, n.crashDown = true, down
}

// fig8Elected advances the script at the election of n; it reports
// whether the script chose n's faults.
func (s *Sim) fig8Elected(n *node) bool {
	f := &s.f8
	switch {
	case f.stage == 0 && s.p.fig8 > 0 && s.rng.Float64() < s.p.fig8:
		*f = fig8{stage: 2, a: n.id}
		s.stats.Fig8Steps[1]++
		s.note("FIG8 1: tail-crash n%d (A)", n.id)
		s.tailCrash(n, longDown)
		return true
	case f.stage == 2 && n.id != f.a:
		f.stage, f.b = 3, n.id
		s.stats.Fig8Steps[2]++
		s.note("FIG8 2: tail-crash n%d (B), restart n%d (A)", n.id, f.a)
		s.tailCrash(n, longDown)
		s.restartSoon(f.a)
		f.favor, f.favorUntil = f.a, s.now+favorTicks
		return true
	case f.stage == 3 && n.id == f.a:
		f.stage = 4
		s.stats.Fig8Steps[3]++
		s.note("FIG8 3: n%d (A) leads again: hold its term's entries", n.id)
		s.hold(n, s.p.holdMin+s.rng.IntN(s.p.holdMax-s.p.holdMin+1))
		f.favor = 0
		return true
	case f.stage != 0:
		s.note("FIG8 abandoned at step %d: n%d leads; restart n%d, n%d", f.stage, n.id, f.a, f.b)
		s.restartSoon(f.a)
		s.restartSoon(f.b)
		*f = fig8{}
	}
	return false
}

// fig8OldCommit is step 4: n is crashing for committing an entry of an
// earlier term.
func (s *Sim) fig8OldCommit(n *node) {
	f := &s.f8
	if f.stage != 4 || n.id != f.a {
		return
	}
	s.note("FIG8 4: n%d (A) committed an old entry; restart n%d (B)", n.id, f.b)
	s.stats.Fig8Steps[4]++
	s.restartSoon(f.b)
	*f = fig8{favor: f.b, favorUntil: s.now + favorTicks}
}

// unfavored says the script loses m: a vote request from a node the
// election it steers does not favor.
func (s *Sim) unfavored(m *raftpb.Message) bool {
	f := &s.f8
	return f.favor != 0 && s.now < f.favorUntil && m.From != f.favor &&
		(m.Type == raftpb.MsgVote || m.Type == raftpb.MsgPreVote)
}

// restartSoon restarts node id at the next tick if it is down (0: none).
func (s *Sim) restartSoon(id uint64) {
	if id == 0 {
		return
	}
	if n := s.node(id); !n.up {
		s.schedule(event{at: s.now + 1, kind: evRestart, node: id, inc: n.inc})
	}
}
