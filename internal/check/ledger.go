package check

import (
	"fmt"
	"math"
	"sort"

	"github.com/ironraft/ironraft/raftpb"
)

// Ledger is the record of committed entries observed anywhere in the
// cluster, and the checks that need it:
//
//   - state-machine safety: no two nodes commit or apply different entries
//     at the same index (paper Figure 3), and a restarted node never applies
//     something different from what was applied before;
//   - leader completeness: a new leader holds every entry committed in an
//     earlier term (paper §5.4);
//   - durability: every committed entry is in a majority of durable logs.
//
// A node reports its commit index (with its log, which must hold every
// entry up to it) and each entry it applies. Committed indexes form a
// prefix, so the ledger is a slice.
type Ledger struct {
	// ents[i-1] is the committed entry at index i, nil if not known yet.
	ents []*raftpb.Entry
	// from[i-1] is the node that first reported ents[i-1].
	from []uint64
	// commitTerm[i-1] is the lowest term in which some node was seen to
	// know index i committed: the entry was committed in that term or an
	// earlier one. It is non-decreasing in i. MaxUint64 when unknown.
	commitTerm []uint64
	// reported holds, per node, the commit index already checked.
	reported map[uint64]uint64
	// Checks counts entry comparisons.
	Checks int
}

// Len returns the highest index known to be committed.
func (l *Ledger) Len() uint64 { return uint64(len(l.ents)) }

// Entry returns the committed entry at index i, or nil.
func (l *Ledger) Entry(i uint64) *raftpb.Entry {
	if i == 0 || i > uint64(len(l.ents)) {
		return nil
	}
	return l.ents[i-1]
}

func sameEntry(a, b *raftpb.Entry) bool {
	return a.GetIndex() == b.GetIndex() && a.GetTerm() == b.GetTerm() && a.GetType() == b.GetType() &&
		string(a.GetData()) == string(b.GetData())
}

// record checks e against the ledger and records it.
func (l *Ledger) record(id uint64, e *raftpb.Entry, term uint64, what string) error {
	i := e.GetIndex()
	if i == 0 {
		return Failf(StateMachineSafetyName, "node %d %s an entry at index 0 (term %d, %s): indexes start at 1",
			id, what, e.GetTerm(), DescribeData(e.GetData()))
	}
	for uint64(len(l.ents)) < i {
		l.ents = append(l.ents, nil)
		l.from = append(l.from, 0)
		l.commitTerm = append(l.commitTerm, math.MaxUint64)
	}
	l.Checks++
	k := i - 1
	if prev := l.ents[k]; prev != nil && !sameEntry(prev, e) {
		return Failf(StateMachineSafetyName, "node %d %s index %d as (term %d, %s) but node %d committed (term %d, %s) there",
			id, what, i, e.GetTerm(), DescribeData(e.GetData()), l.from[k], prev.GetTerm(), DescribeData(prev.GetData()))
	}
	if l.ents[k] == nil {
		l.ents[k], l.from[k] = e, id
	}
	// Keep commitTerm non-decreasing: index i committed in term t means
	// every earlier index was committed by then too.
	for j := int(k); j >= 0 && l.commitTerm[j] > term; j-- {
		l.commitTerm[j] = term
	}
	return nil
}

// Committed records that node id, in term, knows every entry up to commit
// is committed; log must hold those entries (the node's durable log, just
// after it persisted the HardState carrying commit), except those compacted
// into its snapshot: indexes below the log's first index are covered by the
// snapshot and only the snapshot's own index is checked, by term. Entries
// are checked against what other nodes committed.
func (l *Ledger) Committed(id, term, commit uint64, log Log) error {
	if l.reported == nil {
		l.reported = map[uint64]uint64{}
	}
	lo := l.reported[id] + 1
	if commit < lo {
		return nil
	}
	if first, err := log.FirstIndex(); err == nil && first > lo {
		if err := l.checkSnapshotTerm(id, log, first-1, "has compacted through"); err != nil {
			return err
		}
		lo = first
		if commit < lo {
			l.reported[id] = commit
			return nil
		}
	}
	ents, err := log.Entries(lo, commit+1, math.MaxUint64)
	if err != nil || uint64(len(ents)) != commit+1-lo {
		return Failf(PersistenceName, "node %d reports commit index %d in term %d but its durable log does not hold [%d, %d]: %v",
			id, commit, term, lo, commit, err)
	}
	for _, e := range ents {
		if err := l.record(id, e, term, "committed"); err != nil {
			return err
		}
	}
	l.reported[id] = commit
	return nil
}

// checkSnapshotTerm checks that the snapshot of log, at index i (the last
// compacted index), has the term of the committed entry there, if known.
func (l *Ledger) checkSnapshotTerm(id uint64, log Log, i uint64, what string) error {
	e := l.Entry(i)
	if e == nil {
		return nil
	}
	l.Checks++
	if t, ok := termAt(log, i); ok && t != e.GetTerm() {
		return Failf(StateMachineSafetyName, "node %d %s index %d with term %d but node %d committed (term %d, %s) there",
			id, what, i, t, l.from[i-1], e.GetTerm(), DescribeData(e.GetData()))
	}
	return nil
}

// covers reports whether log holds entry e: it holds it with e's term, or
// it compacted e's index into its snapshot (whose term at its own index is
// checked by Committed and Snapshot).
func covers(log Log, e *raftpb.Entry) bool {
	i := e.GetIndex()
	if first, err := log.FirstIndex(); err == nil && i+1 < first {
		return true
	}
	t, ok := termAt(log, i)
	return ok && t == e.GetTerm()
}

// Snapshot checks a snapshot (index, term) that node id installs against
// the committed entries: a snapshot holds only committed state, so the
// ledger's entry at index, if known, has its term.
func (l *Ledger) Snapshot(id, index, term uint64) error {
	e := l.Entry(index)
	if e == nil {
		return nil
	}
	l.Checks++
	if e.GetTerm() != term {
		return Failf(StateMachineSafetyName, "node %d installs a snapshot at index %d of term %d but node %d committed (term %d, %s) there",
			id, index, term, l.from[index-1], e.GetTerm(), DescribeData(e.GetData()))
	}
	return nil
}

// Restarted tells the ledger that node id restarted; its durable commit
// index is checked again as it reports it.
func (l *Ledger) Restarted(id uint64) { delete(l.reported, id) }

// Applied records that node id, in term, applied e.
func (l *Ledger) Applied(id, term uint64, e *raftpb.Entry) error {
	return l.record(id, e, term, "applied")
}

// LeaderElected checks that node id, which just became leader in term, holds
// in log every entry known committed so far in term or an earlier one
// (entries compacted into its snapshot count as held). An entry first
// reported committed by a node already in term was still committed in an
// earlier term: the only leader of term is id, which has sent nothing yet
// in it, so that node learned the commit index in an earlier term.
func (l *Ledger) LeaderElected(id, term uint64, log Log) error {
	// commitTerm is non-decreasing: check the prefix committed by term.
	k := sort.Search(len(l.commitTerm), func(j int) bool { return l.commitTerm[j] > term })
	for j := 0; j < k; j++ {
		e := l.ents[j]
		if e == nil {
			continue
		}
		l.Checks++
		if !covers(log, e) {
			t, ok := termAt(log, e.GetIndex())
			return Failf(LeaderCompletenessName,
				"node %d became leader in term %d without committed entry %d (term %d, committed by term %d, %s); its log has term %d there (present=%v)",
				id, term, e.GetIndex(), e.GetTerm(), l.commitTerm[j], DescribeData(e.GetData()), t, ok)
		}
	}
	return nil
}

// CheckDurable checks that every committed entry is held, with its term, by
// at least quorum of the given durable logs. A log whose snapshot covers the
// entry's index holds it.
func (l *Ledger) CheckDurable(logs []NodeLog, quorum int) error {
	return l.checkDurable(logs, func(holders map[uint64]bool) bool { return len(holders) >= quorum },
		fmt.Sprintf("need %d", quorum))
}

// CheckDurableConfig checks that every committed entry is held (as
// CheckDurable says) by enough voters of cfg that every quorum of cfg
// contains a holder: a leader elected in cfg then holds it. In a joint
// configuration it suffices that this holds for one half, since a joint
// quorum is a majority of both. Voters missing from logs hold nothing.
//
// This, not "a majority of cfg holds it", is the invariant across
// membership changes: an entry committed by a majority of {1,2,3} is on
// only half of {1,2,3,4} once node 4 is added.
func (l *Ledger) CheckDurableConfig(logs []NodeLog, cfg Config) error {
	enough := func(voters map[uint64]bool, holders map[uint64]bool) bool {
		if len(voters) == 0 {
			return false
		}
		n := 0
		for id := range voters {
			if holders[id] {
				n++
			}
		}
		return n >= len(voters)-len(voters)/2 // len - majority + 1
	}
	return l.checkDurable(logs, func(holders map[uint64]bool) bool {
		return enough(cfg.Voters, holders) || (cfg.Joint() && enough(cfg.Outgoing, holders))
	}, fmt.Sprintf("need a holder in every quorum of %v", cfg))
}

func (l *Ledger) checkDurable(logs []NodeLog, ok func(holders map[uint64]bool) bool, need string) error {
	holders := map[uint64]bool{}
	for j, e := range l.ents {
		if e == nil {
			continue
		}
		clear(holders)
		for _, nl := range logs {
			l.Checks++
			if covers(nl.Log, e) {
				holders[nl.ID] = true
			}
		}
		if !ok(holders) {
			return Failf(DurabilityName, "committed entry %d (term %d, %s, committed by term %d) is durable on %d nodes %v, %s",
				e.GetIndex(), e.GetTerm(), DescribeData(e.GetData()), l.commitTerm[j], len(holders), sortedSet(holders), need)
		}
	}
	return nil
}
