package confchange

import (
	"fmt"

	"github.com/ironraft/ironraft/raft/tracker"
	"github.com/ironraft/ironraft/raftpb"
)

// Restore builds the configuration described by cs (from a snapshot or from
// storage at startup) by replaying it as a sequence of changes from an
// empty configuration, so the result passes the same checks as any change.
func Restore(c Changer, cs *raftpb.ConfState) (tracker.Config, tracker.ProgressMap, error) {
	c.Config = tracker.Config{}
	c.Progress = tracker.ProgressMap{}
	if err := checkConfState(cs); err != nil {
		return c.fail("%v", err)
	}
	single := func(t raftpb.ConfChangeType, id uint64) *raftpb.ConfChangeSingle {
		return &raftpb.ConfChangeSingle{Type: t, NodeId: id}
	}
	step := func(ccs ...*raftpb.ConfChangeSingle) error {
		cfg, prs, err := c.Simple(ccs...)
		if err != nil {
			return err
		}
		c.Config, c.Progress = cfg, prs
		return nil
	}
	if len(cs.GetVotersOutgoing()) == 0 {
		if len(cs.GetVoters()) == 0 && len(cs.GetLearners()) == 0 {
			cfg, prs := c.clone() // empty: a node waiting to join
			return cfg, prs, nil
		}
		for _, id := range cs.GetVoters() {
			if err := step(single(raftpb.ConfChangeAddNode, id)); err != nil {
				return c.fail("restoring voter %d: %v", id, err)
			}
		}
		for _, id := range cs.GetLearners() {
			if err := step(single(raftpb.ConfChangeAddLearnerNode, id)); err != nil {
				return c.fail("restoring learner %d: %v", id, err)
			}
		}
		return c.checked(c.clone())
	}
	// Joint: build the outgoing half, then enter the joint configuration
	// with the changes that turn it into the incoming half.
	for _, id := range cs.GetVotersOutgoing() {
		if err := step(single(raftpb.ConfChangeAddNode, id)); err != nil {
			return c.fail("restoring outgoing voter %d: %v", id, err)
		}
	}
	var ccs []*raftpb.ConfChangeSingle
	for _, id := range cs.GetVotersOutgoing() {
		ccs = append(ccs, single(raftpb.ConfChangeRemoveNode, id))
	}
	for _, id := range cs.GetVoters() {
		ccs = append(ccs, single(raftpb.ConfChangeAddNode, id))
	}
	for _, id := range cs.GetLearners() {
		ccs = append(ccs, single(raftpb.ConfChangeAddLearnerNode, id))
	}
	for _, id := range cs.GetLearnersNext() {
		ccs = append(ccs, single(raftpb.ConfChangeAddLearnerNode, id))
	}
	return c.EnterJoint(cs.GetAutoLeave(), ccs...)
}

// checkConfState refuses a ConfState whose sets overlap where they must
// not, or that repeats an ID, instead of quietly picking one role.
func checkConfState(cs *raftpb.ConfState) error {
	role := map[uint64]string{}
	claim := func(ids []uint64, name string) error {
		for _, id := range ids {
			if prev, ok := role[id]; ok {
				return fmt.Errorf("node %d is listed in both %s and %s", id, prev, name)
			}
			role[id] = name
		}
		return nil
	}
	if err := claim(cs.GetVoters(), "voters"); err != nil {
		return err
	}
	if err := claim(cs.GetLearners(), "learners"); err != nil {
		return err
	}
	// Outgoing voters may also be incoming voters or staged learners, but
	// not plain learners, and may not repeat.
	out := map[uint64]bool{}
	for _, id := range cs.GetVotersOutgoing() {
		if out[id] {
			return fmt.Errorf("node %d is listed twice in voters_outgoing", id)
		}
		out[id] = true
		if role[id] == "learners" {
			return fmt.Errorf("node %d is both an outgoing voter and a learner", id)
		}
	}
	for _, id := range cs.GetLearnersNext() {
		if !out[id] {
			return fmt.Errorf("node %d is in learners_next but not an outgoing voter", id)
		}
		if role[id] != "" {
			return fmt.Errorf("node %d is in learners_next and in %s", id, role[id])
		}
	}
	return nil
}
