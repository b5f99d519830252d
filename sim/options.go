package sim

import (
	"math/rand/v2"
	"time"

	"github.com/ironraft/ironraft/raft"
)

// Profile selects the mix of faults a run draws from.
type Profile int

const (
	// ProfileDefault varies every fault by seed: quiet seeds, lossy
	// networks, partitions of every shape, crashes with slow fsyncs.
	ProfileDefault Profile = iota
	// ProfileBugHunt is tuned to expose the injected protocol bugs quickly:
	// frequent leader crashes and partitions, slow fsyncs, short downtimes
	// and a read-heavy workload (reads right after elections).
	ProfileBugHunt
	// ProfileChurn always has membership churn (a pool of up to 7 node
	// IDs, 3 to 5 initial voters), frequent snapshots and compaction, and
	// crashes in the middle of persisting a Ready, on top of the default
	// mix.
	ProfileChurn
	// ProfileChurnHunt is ProfileChurn tuned to expose the injected
	// membership and snapshot bugs: frequent churn with double proposals,
	// learners caught in partitions, aggressive compaction and duplicated
	// messages.
	ProfileChurnHunt
)

// Options configure one run. Everything else is drawn from the seed.
type Options struct {
	// Seed drives the whole run.
	Seed uint64
	// Nodes is the cluster size (3, 5 or 7); 0 lets the seed choose.
	Nodes int
	// Ticks is the length of the run in ticks; 0 means DefaultTicks.
	Ticks int
	// Bugs injects protocol bugs into every node.
	Bugs raft.InjectedBugs
	// Profile selects the fault mix.
	Profile Profile
	// KeepTrace keeps the whole event trace in Result.Trace, not only the
	// tail printed on failure.
	KeepTrace bool
	// SkipReadyContract turns off the Ready ordering checks, to see which
	// end-to-end checker catches a bug that breaks the contract.
	SkipReadyContract bool
	// SkipCommitRule turns off the leader commit rule check (paper
	// §5.4.2), to see which end-to-end checker catches a bug that breaks
	// it.
	SkipCommitRule bool
	// SkipMembershipRules turns off the direct membership and snapshot
	// rule checks (configuration replay, one pending change, removed
	// leader steps down, snapshot install above commit), to see which
	// end-to-end checker catches a bug that breaks them.
	SkipMembershipRules bool
	// Backend selects the nodes' durable storage; BackendAuto (the zero
	// value) lets the seed choose.
	Backend Backend
	// LinearizabilityTimeout bounds the porcupine check; 0 means 20s. A
	// check that times out fails the run.
	LinearizabilityTimeout time.Duration

	// tune, if set, adjusts the drawn parameters (tests only).
	tune func(*params)
}

// DefaultTicks is the default length of a run.
const DefaultTicks = 3000

// Timing and workload constants, in ticks.
const (
	electionTicks  = 10
	heartbeatTicks = 1
	// opTimeoutTicks is how long a client waits for an op before it gives
	// up (the outcome is then unknown).
	opTimeoutTicks = 50
	// traceTail is how many events a failure prints.
	traceTail = 300
	// numKeys is the number of distinct keys, few so that clients contend.
	numKeys = 5
)

// params is everything a run draws from its seed.
type params struct {
	// nodes is the number of initial voters; pool >= nodes the number of
	// node IDs (the others join through churn).
	nodes, pool int
	ticks       int64
	lease       bool
	forwardOff  bool
	maxMsgSize  uint64
	maxInflight int

	dropRate, dupRate float64
	maxDelay          int // message delay in [1, maxDelay]
	fsyncMax          int // fsync latency in [0, fsyncMax]

	faultGapMin, faultGapMax                int
	wPartition, wCrash, wLeaderCrash, wHeal int
	downMin, downMax                        int
	// crashNewLeader is the probability that a newly elected leader
	// crashes within 0..3 ticks of its election, before its no-op is
	// replicated: this leaves divergent uncommitted tails of many terms.
	crashNewLeader float64
	// crashOnCommit is the probability that a leader crashes within 0..2
	// ticks of persisting a higher commit index, before its followers
	// learn it.
	crashOnCommit float64
	// holdNewTerm is the probability that a newly elected leader (one not
	// crashed by crashNewLeader) has its MsgApps that carry entries of its
	// own term lost for holdMin..holdMax ticks (hold-new-term, fig8.go),
	// while entries of earlier terms and heartbeats go through.
	holdNewTerm      float64
	holdMin, holdMax int
	// crashOnOldCommit is the probability that a leader that advances its
	// commit index to an entry of an earlier term crashes right after
	// applying it, losing the messages it sent that are still in flight.
	// A correct core never does that (paper §5.4.2): this is the moment
	// that makes CommitPreviousTermByCount observable end to end.
	crashOnOldCommit float64
	// fig8 is the probability that an election starts the Figure 8 script
	// (fig8.go) when the script is idle.
	fig8             float64
	partMin, partMax int

	// churn enables membership faults (weight wChurn); churnDouble is the
	// probability that a churn fault proposes a second change at once.
	churn       bool
	wChurn      int
	churnDouble float64
	// snapGap > 0 makes a node snapshot when it has applied snapGap
	// entries past its last snapshot, and compact keeping at most
	// snapTail entries.
	snapGap, snapTail int
	// tornPersist is the probability that a node crashes in the middle of
	// persisting a Ready that needs an fsync.
	tornPersist float64

	// backend is the nodes' durable storage; with BackendStorage,
	// segBytes and snapsKept are its storage.Options.
	backend   Backend
	segBytes  int64
	snapsKept int

	clients  int
	thinkMax int
	getRatio float64

	// Phases: faults stop and everything heals at faultEnd; ops issued from
	// opsGrace on must succeed; a leader must exist by leaderBy; clients
	// stop issuing at opsStop.
	faultEnd, opsGrace, leaderBy, opsStop int64
	liveness                              bool
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func drawParams(r *rand.Rand, o Options) params {
	p := params{ticks: int64(o.Ticks)}
	if p.ticks <= 0 {
		p.ticks = DefaultTicks
	}
	p.nodes = o.Nodes
	if p.nodes == 0 {
		p.nodes = pick(r, 3, 3, 5, 5, 7)
	}
	p.maxMsgSize = pick[uint64](r, 0, 0, 0, 64, 256)
	p.maxInflight = pick(r, 0, 0, 4, 16)
	p.forwardOff = r.IntN(10) == 0
	p.dropRate = pick(r, 0, 0.01, 0.03, 0.1)
	p.dupRate = pick(r, 0, 0, 0.01, 0.05)
	p.maxDelay = pick(r, 1, 2, 3, 5, 8)
	p.fsyncMax = pick(r, 0, 1, 2, 3, 5)
	p.faultGapMin = pick(r, 10, 20, 50, 100)
	p.faultGapMax = p.faultGapMin * pick(r, 2, 4)
	p.wPartition, p.wCrash, p.wLeaderCrash, p.wHeal = pick(r, 0, 2, 4), pick(r, 0, 1, 3), pick(r, 0, 1, 2), 2
	if p.wPartition+p.wCrash+p.wLeaderCrash == 0 {
		p.wPartition = 1
	}
	p.downMin, p.downMax = 1, pick(r, 20, 60, 150)
	p.partMin, p.partMax = 20, pick(r, 60, 200, 400)
	p.lease = r.IntN(5) == 0
	p.clients = 3 + r.IntN(6)
	p.thinkMax = pick(r, 2, 5, 10, 20)
	p.getRatio = pick(r, 0.3, 0.5, 0.7)
	if o.Profile == ProfileBugHunt {
		p.maxMsgSize = pick[uint64](r, 0, 64)
		p.lease = false
		p.forwardOff = false
		p.dropRate = pick(r, 0, 0.01, 0.05)
		p.dupRate = 0.01
		p.maxDelay = pick(r, 1, 2, 4)
		p.fsyncMax = pick(r, 2, 4, 6)
		p.faultGapMin, p.faultGapMax = 10, 40
		p.wPartition, p.wCrash, p.wLeaderCrash, p.wHeal = 3, 1, 4, 1
		p.downMin, p.downMax = 1, 40
		p.partMin, p.partMax = 10, 80
		// Targeted faults (fig8.go): half the new leaders crash at once,
		// the others have the entries of their term held back for a while;
		// a leader that commits an entry of an earlier term crashes at
		// once; and the Figure 8 script runs whenever it is idle (it
		// overrides the new-leader faults of the elections it steers).
		p.crashNewLeader = 0.5
		p.holdNewTerm = 0.5
		p.holdMin, p.holdMax = 10, 30
		p.crashOnCommit = 0.2
		p.crashOnOldCommit = 1
		p.fig8 = 1
		p.clients = 5 + r.IntN(4)
		p.thinkMax = 3
		p.getRatio = 0.5
	}
	// Drawn last, so that the draws above stay those of older versions.
	p.pool = p.nodes
	if r.IntN(2) == 0 {
		p.snapGap, p.snapTail = pick(r, 5, 20, 50), pick(r, 0, 2, 5)
	}
	if r.IntN(5) == 0 && o.Nodes == 0 && o.Profile == ProfileDefault {
		p.churn = true
	}
	if o.Profile == ProfileChurn || o.Profile == ProfileChurnHunt {
		p.churn = true
		p.snapGap, p.snapTail = pick(r, 5, 10, 30), pick(r, 0, 1, 3)
		p.tornPersist = pick(r, 0, 0.01, 0.03)
	}
	if p.churn {
		if o.Nodes == 0 {
			p.nodes = pick(r, 3, 3, 4, 5)
		}
		p.pool = min(7, p.nodes+2+r.IntN(2))
		p.wChurn = pick(r, 1, 2, 4)
	}
	if o.Profile == ProfileChurnHunt {
		p.wChurn = 6
		p.churnDouble = 0.5
		p.dupRate = pick(r, 0.02, 0.05)
		p.maxDelay = pick(r, 2, 4, 8)
		p.faultGapMin, p.faultGapMax = 10, 30
		p.wPartition, p.wCrash, p.wLeaderCrash, p.wHeal = 3, 1, 1, 1
		p.partMin, p.partMax = 20, 80
		p.snapGap, p.snapTail = pick(r, 3, 5), pick(r, 0, 1)
	}
	p.backend = o.Backend
	if p.backend == BackendAuto {
		// Every seed runs on the real storage unless told otherwise.
		p.backend = BackendStorage
	}
	if p.backend == BackendStorage {
		// Small segments so that runs cross segment boundaries and
		// compaction deletes segments; one snapshot file kept or two.
		p.segBytes = pick[int64](r, 4096, 16384, 1<<20)
		p.snapsKept = pick(r, 1, 2, 2)
	}
	if o.tune != nil {
		o.tune(&p)
	}
	p.faultEnd = p.ticks * 3 / 4
	p.opsGrace = p.faultEnd + 10*electionTicks
	p.leaderBy = p.faultEnd + 30*electionTicks
	p.opsStop = p.ticks - opTimeoutTicks - 20
	p.liveness = p.leaderBy <= p.opsStop
	return p
}
