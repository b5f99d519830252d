package check

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

// Checker names of the membership checks.
const (
	ConfReplayName      = "configuration replay"
	OnePendingName      = "one pending configuration change"
	RemovedLeaderName   = "removed leader steps down"
	SnapshotInstallName = "snapshot install above commit"
)

// Config is a slow, obvious model of a Raft configuration (dissertation
// §4.1 and §4.3), written independently of package confchange so that the
// simulator can replay the configuration a node should have from the
// entries it applied and compare it with the core's.
//
// The rules, as ironraft (and etcd-raft) define them:
//   - a change with one ConfChangeSingle and the auto transition is made
//     directly: AddNode makes a voter, AddLearnerNode a learner,
//     RemoveNode removes the node; it may change at most one voter;
//   - any other change enters a joint configuration: the current voters
//     become the outgoing half, the changes apply to the incoming half; a
//     voter of the outgoing half made a learner waits in LearnersNext;
//   - an empty change leaves the joint configuration: LearnersNext become
//     learners and the outgoing half is dropped.
type Config struct {
	Voters, Learners, Outgoing, LearnersNext map[uint64]bool
	AutoLeave                                bool
	// state caches State(), set by ConfigOf and Apply (Equal runs after
	// every Advance of every node).
	state *raftpb.ConfState
}

// ConfigOf returns the model of cs.
func ConfigOf(cs *raftpb.ConfState) Config {
	set := func(ids []uint64) map[uint64]bool {
		m := map[uint64]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	c := Config{Voters: set(cs.GetVoters()), Learners: set(cs.GetLearners()), Outgoing: set(cs.GetVotersOutgoing()),
		LearnersNext: set(cs.GetLearnersNext()), AutoLeave: cs.GetAutoLeave()}
	c.state = c.State()
	return c
}

func (c Config) clone() Config {
	cp := func(m map[uint64]bool) map[uint64]bool {
		out := make(map[uint64]bool, len(m))
		for k, v := range m {
			if v {
				out[k] = true
			}
		}
		return out
	}
	return Config{Voters: cp(c.Voters), Learners: cp(c.Learners), Outgoing: cp(c.Outgoing),
		LearnersNext: cp(c.LearnersNext), AutoLeave: c.AutoLeave}
}

func sortedSet(m map[uint64]bool) []uint64 {
	var out []uint64
	for id, ok := range m {
		if ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// State returns c as a ConfState, every list sorted.
func (c Config) State() *raftpb.ConfState {
	if c.state != nil {
		return c.state
	}
	return &raftpb.ConfState{Voters: sortedSet(c.Voters), Learners: sortedSet(c.Learners),
		VotersOutgoing: sortedSet(c.Outgoing), LearnersNext: sortedSet(c.LearnersNext), AutoLeave: c.AutoLeave}
}

// Joint reports whether c is a joint configuration.
func (c Config) Joint() bool { return len(c.Outgoing) > 0 }

// IsVoter reports whether id votes in either half of c.
func (c Config) IsVoter(id uint64) bool { return c.Voters[id] || c.Outgoing[id] }

// IsMember reports whether id is a voter or learner of c.
func (c Config) IsMember(id uint64) bool {
	return c.IsVoter(id) || c.Learners[id] || c.LearnersNext[id]
}

// Members returns the voters and learners of c, sorted.
func (c Config) Members() []uint64 {
	m := map[uint64]bool{}
	for _, s := range []map[uint64]bool{c.Voters, c.Learners, c.Outgoing, c.LearnersNext} {
		for id := range s {
			m[id] = true
		}
	}
	return sortedSet(m)
}

// String renders c like "voters=[1 2 3] learners=[4]".
func (c Config) String() string {
	s := fmt.Sprintf("voters=%v", sortedSet(c.Voters))
	if c.Joint() {
		s += fmt.Sprintf("&&%v", sortedSet(c.Outgoing))
	}
	if len(c.Learners) > 0 {
		s += fmt.Sprintf(" learners=%v", sortedSet(c.Learners))
	}
	if len(c.LearnersNext) > 0 {
		s += fmt.Sprintf(" learners_next=%v", sortedSet(c.LearnersNext))
	}
	if c.AutoLeave {
		s += " autoleave"
	}
	return s
}

// Equal reports whether cs describes c (in any order).
func (c Config) Equal(cs *raftpb.ConfState) bool {
	w := c.State()
	if slices.Equal(w.GetVoters(), cs.GetVoters()) && slices.Equal(w.GetLearners(), cs.GetLearners()) &&
		slices.Equal(w.GetVotersOutgoing(), cs.GetVotersOutgoing()) && slices.Equal(w.GetLearnersNext(), cs.GetLearnersNext()) &&
		w.GetAutoLeave() == cs.GetAutoLeave() {
		return true // the common case: cs sorted too
	}
	return proto.Equal(w, ConfigOf(cs).State())
}

// DecodeConfChange decodes the data of an EntryConfChange.
func DecodeConfChange(data []byte) (*raftpb.ConfChange, error) {
	cc := &raftpb.ConfChange{}
	if err := proto.Unmarshal(data, cc); err != nil {
		return nil, fmt.Errorf("check: undecodable conf change: %w", err)
	}
	return cc, nil
}

// Apply returns the configuration cc leads to from c, or an error if cc
// is not a valid change from c.
func (c Config) Apply(cc *raftpb.ConfChange) (Config, error) {
	n := c.clone()
	if len(cc.GetChanges()) == 0 {
		if !c.Joint() {
			return c, fmt.Errorf("leave-joint change on a configuration that is not joint (%v)", c)
		}
		for id := range n.LearnersNext {
			n.Learners[id] = true
		}
		n.LearnersNext, n.Outgoing, n.AutoLeave = map[uint64]bool{}, map[uint64]bool{}, false
		n.state = n.State()
		return n, nil
	}
	joint := cc.GetTransition() != raftpb.ConfChangeTransitionAuto || len(cc.GetChanges()) > 1
	if c.Joint() {
		return c, fmt.Errorf("change %v on joint configuration %v", cc.GetChanges(), c)
	}
	if joint {
		for id := range c.Voters {
			n.Outgoing[id] = true
		}
		n.AutoLeave = cc.GetTransition() != raftpb.ConfChangeTransitionJointExplicit
	}
	for _, s := range cc.GetChanges() {
		id := s.GetNodeId()
		switch s.GetType() {
		case raftpb.ConfChangeAddNode:
			delete(n.Learners, id)
			delete(n.LearnersNext, id)
			n.Voters[id] = true
		case raftpb.ConfChangeAddLearnerNode:
			if n.Learners[id] {
				continue
			}
			delete(n.Voters, id)
			delete(n.LearnersNext, id)
			if n.Outgoing[id] {
				n.LearnersNext[id] = true
			} else {
				n.Learners[id] = true
			}
		case raftpb.ConfChangeRemoveNode:
			delete(n.Voters, id)
			delete(n.Learners, id)
			delete(n.LearnersNext, id)
		}
	}
	if len(n.Voters) == 0 {
		return c, fmt.Errorf("change %v leaves no voters", cc.GetChanges())
	}
	if !joint {
		diff := 0
		for id := range c.Voters {
			if !n.Voters[id] {
				diff++
			}
		}
		for id := range n.Voters {
			if !c.Voters[id] {
				diff++
			}
		}
		if diff > 1 {
			return c, fmt.Errorf("simple change %v changes %d voters", cc.GetChanges(), diff)
		}
	}
	n.state = n.State()
	return n, nil
}

// CheckConfState checks that the configuration node id reports (the
// core's RawNode.ConfState) is the one replayed from the snapshot it
// started from or installed and the configuration changes it applied
// since. when says at what moment the check runs.
func CheckConfState(id uint64, got *raftpb.ConfState, want Config, when string) error {
	if want.Equal(got) {
		return nil
	}
	return Failf(ConfReplayName, "node %d %s has configuration %v, but replaying its snapshot and applied changes gives %v",
		id, when, ConfigOf(got), want)
}

// CheckOnePendingChange checks the one-pending-change rule (dissertation
// §4.1) on the entries ents that node id, leader in term, appends; log is
// its log including ents, and applied its applied index as the core knows
// it (RawNode.Advance moves it), which is at least what it was when the
// entries were proposed.
//
// Rule: a leader appends a configuration change (including the empty
// change that leaves a joint configuration) only when every configuration
// change in its log before it is applied. Consequences, over any committed
// log: between two committed changes the earlier was applied by the leader
// that appended the later, so two changes of one term never overlap
// (the second was appended after the first was committed), and the
// configurations in use at any moment differ by at most one change. A new
// leader treats its whole log as possibly holding one, so it waits to
// apply its election-time log first.
//
// A change of term appended at index j violates the rule if the log holds
// another change in (applied, j): it was not applied yet, even now.
func CheckOnePendingChange(id, term, applied uint64, ents []*raftpb.Entry, log Log) error {
	for _, e := range ents {
		if e.GetTerm() != term || e.GetType() != raftpb.EntryConfChange {
			continue
		}
		for i := e.GetIndex() - 1; i > applied; i-- {
			prev, err := log.Entries(i, i+1, 1<<62)
			if err != nil || len(prev) != 1 {
				break
			}
			if prev[0].GetType() == raftpb.EntryConfChange {
				return Failf(OnePendingName,
					"node %d, leader in term %d, appended configuration change %d while change %d (term %d) was not applied (applied %d)",
					id, term, e.GetIndex(), i, prev[0].GetTerm(), applied)
			}
		}
	}
	return nil
}
