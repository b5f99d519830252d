package tracker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ironraft/ironraft/raft/quorum"
	"github.com/ironraft/ironraft/raftpb"
)

// Config is the membership configuration being tracked: who votes, in one or
// two (joint) majorities, and who only learns.
type Config struct {
	// Voters is the voting configuration. Voters[1] is empty unless a joint
	// membership change is in progress.
	Voters quorum.JointConfig

	// AutoLeave is true if the configuration is joint and the leader must
	// leave it on its own once the joint configuration is committed.
	AutoLeave bool

	// Learners are the nodes that receive the log but do not vote. Nil when
	// empty.
	// Invariant: disjoint from Voters[0] and Voters[1].
	Learners map[uint64]struct{}

	// LearnersNext are voters of the outgoing configuration that become
	// learners when the joint configuration is left. They cannot be learners
	// yet, because a node is never both a voter and a learner; they would
	// otherwise lose their vote before the outgoing majority is retired. Nil
	// when empty.
	// Invariant: a subset of Voters[1] and disjoint from Voters[0].
	LearnersNext map[uint64]struct{}
}

// String returns a one-line summary, e.g.
// "voters=(1 2 3)&&(1 2 4) learners=(5) learners_next=(4) autoleave".
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "voters=%s", c.Voters)
	if len(c.Learners) > 0 {
		fmt.Fprintf(&b, " learners=%s", quorum.MajorityConfig(c.Learners))
	}
	if len(c.LearnersNext) > 0 {
		fmt.Fprintf(&b, " learners_next=%s", quorum.MajorityConfig(c.LearnersNext))
	}
	if c.AutoLeave {
		b.WriteString(" autoleave")
	}
	return b.String()
}

// Clone returns a deep copy of c; nil sets stay nil.
func (c *Config) Clone() Config {
	return Config{
		Voters:       quorum.JointConfig{cloneSet(c.Voters[0]), cloneSet(c.Voters[1])},
		AutoLeave:    c.AutoLeave,
		Learners:     cloneSet(c.Learners),
		LearnersNext: cloneSet(c.LearnersNext),
	}
}

func cloneSet[S ~map[uint64]struct{}](s S) S {
	if s == nil {
		return nil
	}
	c := make(S, len(s))
	for id := range s {
		c[id] = struct{}{}
	}
	return c
}

// sortedIDs returns the keys of s in ascending order, or nil if s is empty.
func sortedIDs[S ~map[uint64]struct{}](s S) []uint64 {
	return quorum.MajorityConfig(s).Slice()
}

// ProgressTracker tracks the membership configuration, the replication
// progress of every peer and the votes of the current election.
type ProgressTracker struct {
	Config

	// Progress holds one entry per voter and learner.
	Progress ProgressMap

	// Votes maps a peer ID to whether it granted its vote in the current
	// election.
	Votes map[uint64]bool

	// MaxInflight and MaxInflightBytes bound the inflight window of every
	// follower; see NewInflights.
	MaxInflight      int
	MaxInflightBytes uint64
}

// MakeProgressTracker returns a tracker with an empty configuration and no
// peers, whose followers' inflight windows will be bounded by maxInflight
// messages and maxInflightBytes bytes (0: no byte limit).
func MakeProgressTracker(maxInflight int, maxInflightBytes uint64) ProgressTracker {
	return ProgressTracker{
		Config: Config{
			// Voters[1] and the learner sets stay nil until used.
			Voters: quorum.JointConfig{quorum.MajorityConfig{}, nil},
		},
		Progress:         ProgressMap{},
		Votes:            map[uint64]bool{},
		MaxInflight:      maxInflight,
		MaxInflightBytes: maxInflightBytes,
	}
}

// ConfState returns the configuration as its wire form, every list in
// ascending order (nil when empty).
func (p *ProgressTracker) ConfState() *raftpb.ConfState {
	return &raftpb.ConfState{
		Voters:         p.Voters[0].Slice(),
		VotersOutgoing: p.Voters[1].Slice(),
		Learners:       sortedIDs(p.Learners),
		LearnersNext:   sortedIDs(p.LearnersNext),
		AutoLeave:      p.AutoLeave,
	}
}

// IsSingleton reports whether the configuration has exactly one voter and is
// not joint, so that the leader commits on its own.
func (p *ProgressTracker) IsSingleton() bool {
	return len(p.Voters[0]) == 1 && len(p.Voters[1]) == 0
}

// matchAckIndexer reads the acknowledged indexes of a quorum from the Match
// of each peer's progress.
type matchAckIndexer map[uint64]*Progress

var _ quorum.AckedIndexer = matchAckIndexer(nil)

// AckedIndex implements quorum.AckedIndexer.
func (l matchAckIndexer) AckedIndex(id uint64) (quorum.Index, bool) {
	pr, ok := l[id]
	if !ok {
		return 0, false
	}
	return quorum.Index(pr.Match), true
}

// Committed returns the largest index that a quorum of voters has matched.
// Learners do not count. With no voters at all it returns math.MaxUint64.
func (p *ProgressTracker) Committed() uint64 {
	return uint64(p.Voters.CommittedIndex(matchAckIndexer(p.Progress)))
}

// visitStackIDs is the number of peers Visit sorts without allocating.
const visitStackIDs = 32

// Visit calls f for every peer in ascending ID order. f may change the
// progress it is given; peers that f removes from p.Progress are skipped.
func (p *ProgressTracker) Visit(f func(id uint64, pr *Progress)) {
	var stack [visitStackIDs]uint64
	var ids []uint64
	if len(p.Progress) <= len(stack) {
		ids = stack[:0]
	} else {
		ids = make([]uint64, 0, len(p.Progress))
	}
	for id := range p.Progress {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if pr, ok := p.Progress[id]; ok {
			f(id, pr)
		}
	}
}

// QuorumActive reports whether the voters heard from recently (RecentActive)
// form a quorum of the configuration. Learners are ignored.
func (p *ProgressTracker) QuorumActive() bool {
	votes := map[uint64]bool{}
	p.Visit(func(id uint64, pr *Progress) {
		if !pr.IsLearner {
			votes[id] = pr.RecentActive
		}
	})
	return p.Voters.VoteResult(votes) == quorum.VoteWon
}

// VoterNodes returns the voters of both halves of the configuration in
// ascending order.
func (p *ProgressTracker) VoterNodes() []uint64 {
	return sortedIDs(p.Voters.IDs())
}

// LearnerNodes returns the learners in ascending order, or nil if there are
// none.
func (p *ProgressTracker) LearnerNodes() []uint64 {
	return sortedIDs(p.Learners)
}

// ResetVotes forgets the votes of the previous election.
func (p *ProgressTracker) ResetVotes() {
	p.Votes = map[uint64]bool{}
}

// RecordVote records that id granted or rejected its vote. Only the first
// vote of a node in an election counts; later ones are ignored.
func (p *ProgressTracker) RecordVote(id uint64, granted bool) {
	if _, ok := p.Votes[id]; !ok {
		p.Votes[id] = granted
	}
}

// TallyVotes returns the number of voters that granted and rejected their
// vote, and the outcome of the election. Votes from learners and unknown
// nodes are not counted.
func (p *ProgressTracker) TallyVotes() (granted int, rejected int, _ quorum.VoteResult) {
	for _, id := range p.VoterNodes() {
		v, voted := p.Votes[id]
		switch {
		case !voted:
		case v:
			granted++
		default:
			rejected++
		}
	}
	return granted, rejected, p.Voters.VoteResult(p.Votes)
}
