// Package confchange computes membership transitions of a Raft group:
// simple changes of at most one voter, and joint consensus (dissertation
// §4.3) for anything larger, with learners throughout.
//
// A Changer never modifies the configuration it starts from: it returns a
// new tracker.Config and ProgressMap, or an error that leaves everything as
// it was. Every result is checked against the invariants of a
// configuration before it is returned.
package confchange

import (
	"errors"
	"fmt"

	"github.com/ironraft/ironraft/raft/quorum"
	"github.com/ironraft/ironraft/raft/tracker"
	"github.com/ironraft/ironraft/raftpb"
)

// ErrInvalidConfChange is wrapped by every error about a change that cannot
// be made from the current configuration.
var ErrInvalidConfChange = errors.New("confchange: invalid configuration change")

// Changer computes transitions from Config and Progress.
type Changer struct {
	Config   tracker.Config
	Progress tracker.ProgressMap
	// LastIndex is the leader's last log index: new members start probing
	// after it.
	LastIndex uint64
	// MaxInflight and MaxInflightBytes size the window of new members.
	MaxInflight      int
	MaxInflightBytes uint64
}

// EnterJoint enters the joint configuration C_old,new: the current voters
// become the outgoing half and ccs are applied to the incoming half. With
// autoLeave the leader leaves it as soon as it is committed.
func (c Changer) EnterJoint(autoLeave bool, ccs ...*raftpb.ConfChangeSingle) (tracker.Config, tracker.ProgressMap, error) {
	cfg, prs := c.clone()
	if isJoint(cfg) {
		return c.fail("configuration is already joint")
	}
	if len(cfg.Voters[0]) == 0 {
		return c.fail("cannot make a configuration without voters joint")
	}
	for id := range cfg.Voters[0] {
		cfg.Voters[1][id] = struct{}{}
	}
	if err := c.apply(&cfg, prs, ccs...); err != nil {
		return c.fail("%v", err)
	}
	cfg.AutoLeave = autoLeave
	return c.checked(cfg, prs)
}

// LeaveJoint leaves a joint configuration: the outgoing half is dropped,
// voters staged to become learners become learners, and nodes in neither
// half nor learners are removed.
func (c Changer) LeaveJoint() (tracker.Config, tracker.ProgressMap, error) {
	cfg, prs := c.clone()
	if !isJoint(cfg) {
		return c.fail("cannot leave a configuration that is not joint")
	}
	for id := range cfg.LearnersNext {
		cfg.Learners[id] = struct{}{}
		prs[id].IsLearner = true
	}
	cfg.LearnersNext = map[uint64]struct{}{}
	for id := range cfg.Voters[1] {
		_, voter := cfg.Voters[0][id]
		_, learner := cfg.Learners[id]
		if !voter && !learner {
			delete(prs, id)
		}
	}
	cfg.Voters[1] = quorum.MajorityConfig{}
	cfg.AutoLeave = false
	return c.checked(cfg, prs)
}

// Simple applies ccs, which may change at most one voter, without a joint
// configuration (dissertation §4.1).
func (c Changer) Simple(ccs ...*raftpb.ConfChangeSingle) (tracker.Config, tracker.ProgressMap, error) {
	cfg, prs := c.clone()
	if isJoint(cfg) {
		return c.fail("cannot make a simple change in a joint configuration")
	}
	if err := c.apply(&cfg, prs, ccs...); err != nil {
		return c.fail("%v", err)
	}
	if n := symmetricDiff(c.Config.Voters[0], cfg.Voters[0]); n > 1 {
		return c.fail("a simple change may change at most one voter, this one changes %d", n)
	}
	return c.checked(cfg, prs)
}

// apply makes each single change on cfg and prs in order.
func (c Changer) apply(cfg *tracker.Config, prs tracker.ProgressMap, ccs ...*raftpb.ConfChangeSingle) error {
	for _, cc := range ccs {
		id := cc.GetNodeId()
		if id == 0 {
			return errors.New("node ID 0 is not allowed")
		}
		switch cc.GetType() {
		case raftpb.ConfChangeAddNode:
			c.makeVoter(cfg, prs, id)
		case raftpb.ConfChangeAddLearnerNode:
			c.makeLearner(cfg, prs, id)
		case raftpb.ConfChangeRemoveNode:
			c.remove(cfg, prs, id)
		default:
			return fmt.Errorf("unknown change type %d", cc.GetType())
		}
	}
	if len(cfg.Voters[0]) == 0 {
		return errors.New("the change would leave no voters")
	}
	return nil
}

func (c Changer) makeVoter(cfg *tracker.Config, prs tracker.ProgressMap, id uint64) {
	pr := prs[id]
	if pr == nil {
		c.initProgress(cfg, prs, id, false)
		return
	}
	pr.IsLearner = false
	delete(cfg.Learners, id)
	delete(cfg.LearnersNext, id)
	cfg.Voters[0][id] = struct{}{}
}

// makeLearner makes id a learner. A voter of the outgoing half cannot
// become a learner while the joint configuration lasts (it still votes
// there), so it is staged in LearnersNext.
func (c Changer) makeLearner(cfg *tracker.Config, prs tracker.ProgressMap, id uint64) {
	pr := prs[id]
	if pr == nil {
		c.initProgress(cfg, prs, id, true)
		return
	}
	if pr.IsLearner {
		return
	}
	delete(cfg.Voters[0], id)
	delete(cfg.Learners, id)
	delete(cfg.LearnersNext, id)
	if _, outgoing := cfg.Voters[1][id]; outgoing {
		cfg.LearnersNext[id] = struct{}{}
		return
	}
	pr.IsLearner = true
	cfg.Learners[id] = struct{}{}
}

// remove takes id out of the incoming half and the learners; it stays
// tracked while it is a voter of the outgoing half.
func (c Changer) remove(cfg *tracker.Config, prs tracker.ProgressMap, id uint64) {
	if prs[id] == nil {
		return
	}
	delete(cfg.Voters[0], id)
	delete(cfg.Learners, id)
	delete(cfg.LearnersNext, id)
	if _, outgoing := cfg.Voters[1][id]; !outgoing {
		delete(prs, id)
	}
}

func (c Changer) initProgress(cfg *tracker.Config, prs tracker.ProgressMap, id uint64, learner bool) {
	if learner {
		cfg.Learners[id] = struct{}{}
	} else {
		cfg.Voters[0][id] = struct{}{}
	}
	prs[id] = &tracker.Progress{
		Next:      max(c.LastIndex, 1),
		Inflights: tracker.NewInflights(max(c.MaxInflight, 1), c.MaxInflightBytes),
		IsLearner: learner,
		// A new member counts as active, so that adding it does not make a
		// CheckQuorum leader step down before it had a chance to answer.
		RecentActive: true,
	}
}

// checked verifies the invariants of a configuration and returns it.
func (c Changer) checked(cfg tracker.Config, prs tracker.ProgressMap) (tracker.Config, tracker.ProgressMap, error) {
	if err := checkInvariants(cfg, prs); err != nil {
		return c.fail("%v", err)
	}
	return cfg, prs, nil
}

func (c Changer) fail(format string, args ...any) (tracker.Config, tracker.ProgressMap, error) {
	return tracker.Config{}, nil, fmt.Errorf("%w: %s", ErrInvalidConfChange, fmt.Sprintf(format, args...))
}

// clone returns deep copies of the configuration and progress, with every
// set allocated.
func (c Changer) clone() (tracker.Config, tracker.ProgressMap) {
	cfg := c.Config.Clone()
	for i := range cfg.Voters {
		if cfg.Voters[i] == nil {
			cfg.Voters[i] = quorum.MajorityConfig{}
		}
	}
	if cfg.Learners == nil {
		cfg.Learners = map[uint64]struct{}{}
	}
	if cfg.LearnersNext == nil {
		cfg.LearnersNext = map[uint64]struct{}{}
	}
	prs := make(tracker.ProgressMap, len(c.Progress))
	for id, pr := range c.Progress {
		cp := *pr
		cp.Inflights = pr.Inflights.Clone()
		prs[id] = &cp
	}
	return cfg, prs
}

// checkInvariants reports the first broken invariant of cfg and prs.
func checkInvariants(cfg tracker.Config, prs tracker.ProgressMap) error {
	for _, ids := range []map[uint64]struct{}{cfg.Voters[0], cfg.Voters[1], cfg.Learners, cfg.LearnersNext} {
		for id := range ids {
			if prs[id] == nil {
				return fmt.Errorf("node %d has no progress", id)
			}
		}
	}
	for id := range cfg.LearnersNext {
		if _, ok := cfg.Voters[1][id]; !ok {
			return fmt.Errorf("node %d is in LearnersNext but not an outgoing voter", id)
		}
		if prs[id].IsLearner {
			return fmt.Errorf("node %d is in LearnersNext but already a learner", id)
		}
	}
	for id := range cfg.Learners {
		if _, ok := cfg.Voters[0][id]; ok {
			return fmt.Errorf("node %d is both learner and incoming voter", id)
		}
		if _, ok := cfg.Voters[1][id]; ok {
			return fmt.Errorf("node %d is both learner and outgoing voter", id)
		}
		if !prs[id].IsLearner {
			return fmt.Errorf("learner %d is not marked as learner", id)
		}
	}
	for id := range cfg.Voters.IDs() {
		if prs[id].IsLearner {
			return fmt.Errorf("voter %d is marked as learner", id)
		}
	}
	for id := range prs {
		_, v := cfg.Voters.IDs()[id]
		_, l := cfg.Learners[id]
		if !v && !l {
			return fmt.Errorf("node %d is tracked but not a member", id)
		}
	}
	if !isJoint(cfg) {
		if len(cfg.LearnersNext) > 0 {
			return errors.New("LearnersNext is set outside a joint configuration")
		}
		if cfg.AutoLeave {
			return errors.New("AutoLeave is set outside a joint configuration")
		}
	}
	return nil
}

func isJoint(cfg tracker.Config) bool { return len(cfg.Voters[1]) > 0 }

// symmetricDiff counts the IDs in exactly one of a and b.
func symmetricDiff(a, b map[uint64]struct{}) int {
	n := 0
	for id := range a {
		if _, ok := b[id]; !ok {
			n++
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			n++
		}
	}
	return n
}
