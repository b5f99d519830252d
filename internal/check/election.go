package check

import "github.com/ironraft/ironraft/raftpb"

// ElectionSafety checks that at most one node is leader in any term (paper
// §5.2, Figure 3). Report every leader the moment it is observed.
type ElectionSafety struct {
	// leaders maps a term to the one node seen leading it.
	leaders map[uint64]uint64
	// Checks counts the observations checked.
	Checks int
}

// Leader records that node id is leader in term and reports a Violation if
// another node was leader in that term.
func (c *ElectionSafety) Leader(id, term uint64) error {
	c.Checks++
	if c.leaders == nil {
		c.leaders = map[uint64]uint64{}
	}
	if prev, ok := c.leaders[term]; ok && prev != id {
		return Failf(ElectionSafetyName, "term %d has two leaders: node %d and node %d", term, prev, id)
	}
	c.leaders[term] = id
	return nil
}

// Terms returns the number of terms in which a leader was observed.
func (c *ElectionSafety) Terms() int { return len(c.leaders) }

// LeaderAppendOnly checks that a leader never overwrites or deletes entries
// of its own log during its term (paper Figure 3): every batch of entries a
// leader hands out for persistence after its first one in a term starts
// right after its stable log and carries its term.
type LeaderAppendOnly struct {
	// st holds, per node, the term in which it was last seen leading.
	st map[uint64]leading
	// Checks counts the batches checked.
	Checks int
}

type leading struct {
	term    uint64
	leading bool
}

// OnReady checks one Ready of node id. term and leader describe the node
// after the Ready's SoftState and HardState; stableLast is the last index of
// the node's stable log before the Ready is persisted; ents are the Ready's
// Entries.
func (c *LeaderAppendOnly) OnReady(id, term uint64, leader bool, stableLast uint64, ents []*raftpb.Entry) error {
	if c.st == nil {
		c.st = map[uint64]leading{}
	}
	prev := c.st[id]
	c.st[id] = leading{term: term, leading: leader}
	if !leader {
		return nil
	}
	c.Checks++
	if prev.leading && prev.term == term {
		// Not the first Ready of this leadership: appends only.
		if len(ents) > 0 && ents[0].GetIndex() <= stableLast {
			return Failf(LeaderAppendOnlyName,
				"node %d, leader in term %d, rewrote its log from index %d (its stable log ends at %d)",
				id, term, ents[0].GetIndex(), stableLast)
		}
		if len(ents) > 0 && ents[0].GetIndex() > stableLast+1 {
			return Failf(LeaderAppendOnlyName,
				"node %d, leader in term %d, appends from index %d, leaving a gap after its stable log, which ends at %d",
				id, term, ents[0].GetIndex(), stableLast)
		}
		for _, e := range ents {
			if e.GetTerm() != term {
				return Failf(LeaderAppendOnlyName, "node %d, leader in term %d, appended entry %d of term %d",
					id, term, e.GetIndex(), e.GetTerm())
			}
		}
		return nil
	}
	// The first Ready as leader may still carry entries received as a
	// follower; the leader's own entries (of its term) must form a suffix.
	own := false
	for _, e := range ents {
		if e.GetTerm() == term {
			own = true
		} else if own {
			return Failf(LeaderAppendOnlyName, "node %d, new leader in term %d, hands out entry %d of term %d after its own entries",
				id, term, e.GetIndex(), e.GetTerm())
		}
	}
	return nil
}

// Forget drops what is known about node id (after a crash: a restarted node
// starts as a follower).
func (c *LeaderAppendOnly) Forget(id uint64) { delete(c.st, id) }

// CheckLeaderCommit checks the commit rule of paper §5.4.2: a leader
// advances its commit index only to an entry of its own term (earlier
// entries are committed with it, never by counting their replicas).
// oldCommit and newCommit are the leader's commit index before and after a
// Ready of its term; log is its log after that Ready is persisted.
func CheckLeaderCommit(id, term, oldCommit, newCommit uint64, log Log) error {
	if newCommit <= oldCommit {
		return nil
	}
	if t, ok := termAt(log, newCommit); !ok || t != term {
		return Failf(LeaderCommitName, "node %d, leader in term %d, advanced its commit index from %d to %d, an entry of term %d (present=%v): only entries of the current term may be committed by counting replicas",
			id, term, oldCommit, newCommit, t, ok)
	}
	return nil
}
