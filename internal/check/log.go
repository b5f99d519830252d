package check

import (
	"math"

	"github.com/ironraft/ironraft/raftpb"
)

// Log is read access to one node's log. raft.MemoryStorage (and any
// raft.Storage) implements it.
type Log interface {
	Term(i uint64) (uint64, error)
	Entries(lo, hi, maxBytes uint64) ([]*raftpb.Entry, error)
	FirstIndex() (uint64, error)
	LastIndex() (uint64, error)
}

// NodeLog names the log of one node.
type NodeLog struct {
	ID  uint64
	Log Log
}

// entries returns all entries of l, ascending and contiguous.
func entries(l Log) []*raftpb.Entry {
	first, err1 := l.FirstIndex()
	last, err2 := l.LastIndex()
	if err1 != nil || err2 != nil || last < first {
		return nil
	}
	ents, err := l.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		return nil
	}
	return ents
}

// termAt returns the term of entry i of l, and false if l does not hold it.
func termAt(l Log, i uint64) (uint64, bool) {
	t, err := l.Term(i)
	return t, err == nil
}

// CheckLogMatching checks the Log Matching property (paper §5.3) over the
// given logs: if two logs hold an entry with the same index and term, they
// hold the same entry there and are identical in all entries before it.
// It checks, for every pair and every index both hold with the same term,
// that the data is equal and that the previous entries have the same term;
// by induction the prefixes are identical. It returns the first violation.
func CheckLogMatching(logs []NodeLog) error {
	ents := make([][]*raftpb.Entry, len(logs))
	for i, nl := range logs {
		ents[i] = entries(nl.Log)
	}
	for a := range logs {
		for b := a + 1; b < len(logs); b++ {
			if err := matchPair(logs[a].ID, logs[b].ID, ents[a], ents[b]); err != nil {
				return err
			}
		}
	}
	return nil
}

func matchPair(ida, idb uint64, a, b []*raftpb.Entry) error {
	if len(a) == 0 || len(b) == 0 {
		return nil
	}
	lo := max(a[0].GetIndex(), b[0].GetIndex())
	hi := min(a[len(a)-1].GetIndex(), b[len(b)-1].GetIndex())
	at := func(s []*raftpb.Entry, i uint64) *raftpb.Entry { return s[i-s[0].GetIndex()] }
	for i := hi; i >= lo && i > 0; i-- {
		ea, eb := at(a, i), at(b, i)
		if ea.GetTerm() != eb.GetTerm() {
			continue
		}
		if ea.GetType() != eb.GetType() || string(ea.GetData()) != string(eb.GetData()) {
			return Failf(LogMatchingName, "nodes %d and %d hold different entries at index %d term %d: data %x vs %x",
				ida, idb, i, ea.GetTerm(), ea.GetData(), eb.GetData())
		}
		if i > lo {
			pa, pb := at(a, i-1), at(b, i-1)
			if pa.GetTerm() != pb.GetTerm() {
				return Failf(LogMatchingName, "nodes %d and %d agree on entry %d (term %d) but differ at index %d: term %d vs %d",
					ida, idb, i, ea.GetTerm(), i-1, pa.GetTerm(), pb.GetTerm())
			}
		}
	}
	return nil
}
