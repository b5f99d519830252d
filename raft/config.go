package raft

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
)

// ReadOnlyOption selects how the leader confirms a ReadIndex request.
type ReadOnlyOption int

const (
	// ReadOnlySafe confirms leadership for each batch of reads with a
	// heartbeat round acknowledged by a quorum (dissertation §6.4). It
	// assumes nothing about clocks.
	ReadOnlySafe ReadOnlyOption = iota
	// ReadOnlyLeaseBased answers reads from the leader's lease without a
	// round trip (dissertation §6.4.1). It is allowed only with CheckQuorum
	// and assumes that clocks of different nodes advance at rates that
	// differ by less than the gap between the election timeout and the
	// heartbeat round trip: a leader that loses quorum contact steps down
	// after ElectionTick of its own ticks, and followers refuse votes for
	// ElectionTick of theirs after hearing from it. If a follower's ticks
	// run faster than the leader's by more than that margin, a new leader
	// may be elected while the old one still serves reads from its lease,
	// and those reads may be stale. Every voter must use this option: it
	// also makes a restarted node wait an election timeout before voting,
	// since it may have acknowledged the lease just before it went down.
	// The runtime must deliver the ticks of a paused process (SIGSTOP, GC
	// pauses) before it serves a lease read.
	ReadOnlyLeaseBased
)

// String returns the option's name.
func (o ReadOnlyOption) String() string {
	switch o {
	case ReadOnlySafe:
		return "ReadOnlySafe"
	case ReadOnlyLeaseBased:
		return "ReadOnlyLeaseBased"
	}
	return fmt.Sprintf("ReadOnlyOption(%d)", int(o))
}

// Defaults applied by NewRawNode to zero-valued Config fields.
const (
	DefaultElectionTick              = 10
	DefaultHeartbeatTick             = 1
	DefaultMaxSizePerMsg             = 1 << 20
	DefaultMaxCommittedSizePerReady  = 16 << 20
	DefaultMaxUncommittedEntriesSize = 64 << 20
	DefaultMaxInflightMsgs           = 256
	DefaultMaxInflightBytes          = 32 << 20
	DefaultMaxPendingReads           = 4096
)

// Config holds the parameters of one Raft node. Zero-valued limits take the
// Default* constants above; PreVote and CheckQuorum are on unless disabled.
type Config struct {
	// ID identifies this node. It must not be 0.
	ID uint64

	// ElectionTick is the election timeout E, in ticks: a follower that hears
	// nothing from a leader for a random number of ticks in [E, 2E) starts an
	// election, and a leader with CheckQuorum steps down if a quorum was not
	// active in the last E ticks. Must be greater than HeartbeatTick.
	ElectionTick int
	// HeartbeatTick is the number of ticks between the leader's heartbeats.
	HeartbeatTick int

	// Storage holds the stable part of the log. Required. The node reads
	// its initial state from it; the caller persists into it what Ready
	// hands out.
	Storage Storage
	// Applied is the last index the state machine has applied, when
	// restarting. Committed entries up to it are not handed out again; the
	// configuration changes among them (after Storage's snapshot) are
	// replayed from the log at startup.
	Applied uint64

	// MaxSizePerMsg bounds the entry bytes of one MsgApp (at least one
	// entry is always sent, whatever its size).
	MaxSizePerMsg uint64
	// MaxCommittedSizePerReady bounds the committed entry bytes of one Ready.
	MaxCommittedSizePerReady uint64
	// MaxUncommittedEntriesSize bounds the bytes of entries the leader holds
	// but has not committed; proposals beyond it fail with
	// ErrUncommittedLogFull.
	MaxUncommittedEntriesSize uint64
	// MaxInflightMsgs bounds the MsgApp in flight to one follower.
	MaxInflightMsgs int
	// MaxInflightBytes bounds the entry bytes in flight to one follower.
	MaxInflightBytes uint64
	// MaxPendingReads bounds the read requests waiting at the leader;
	// requests beyond it are refused.
	MaxPendingReads int

	// DisablePreVote turns off the pre-vote phase (dissertation §9.6),
	// which is on by default.
	DisablePreVote bool
	// DisableCheckQuorum turns off CheckQuorum (dissertation §6.2), which is
	// on by default: a leader steps down when a quorum was not active within
	// an election timeout, and a follower that heard from a leader within
	// the election timeout ignores vote requests.
	DisableCheckQuorum bool
	// ReadOnlyOption selects how reads are confirmed. ReadOnlyLeaseBased
	// requires CheckQuorum.
	ReadOnlyOption ReadOnlyOption
	// DisableProposalForwarding makes followers refuse proposals with
	// ErrProposalDropped instead of forwarding them to the leader.
	DisableProposalForwarding bool

	// Rand is the only source of randomness of the node (election
	// timeouts). If nil, a source seeded by ID is used, so runs are
	// deterministic either way.
	Rand rand.Source

	// Logger receives protocol events. If nil, nothing is logged.
	Logger *slog.Logger

	// TestingBugs injects known protocol bugs. It exists only so that the
	// simulator can prove its checkers catch them; never set it otherwise.
	TestingBugs InjectedBugs
}

// InjectedBugs lists the protocol bugs the simulator must be able to catch.
// Each field, when true, makes the core deliberately wrong in one way.
type InjectedBugs struct {
	// CommitPreviousTermByCount commits an entry of an earlier term as soon
	// as a majority stores it (the Figure 8 mistake, paper §5.4.2).
	CommitPreviousTermByCount bool
	// VoteWithoutLogCheck grants votes without the up-to-date check (§5.4.1).
	VoteWithoutLogCheck bool
	// AckAppendBeforePersist releases append acknowledgements before the
	// entries they acknowledge are persisted.
	AckAppendBeforePersist bool
	// ReadBeforeTermCommit serves ReadIndex before the leader has committed
	// an entry of its own term (dissertation §6.4).
	ReadBeforeTermCommit bool
	// ApplyConfChangeOnPropose makes the leader switch to a new
	// configuration as soon as it proposes it, instead of when it is
	// applied.
	ApplyConfChangeOnPropose bool
	// AllowTwoPendingConfChanges accepts a configuration change while an
	// earlier one is not yet applied (dissertation §4.1).
	AllowTwoPendingConfChanges bool
	// CountLearnerVotes counts granted votes of learners toward a quorum.
	CountLearnerVotes bool
	// RemovedLeaderStaysLeader keeps a leader in charge after it applied a
	// configuration without itself (dissertation §4.2.2).
	RemovedLeaderStaysLeader bool
	// InstallStaleSnapshot installs a snapshot at or below the commit index.
	InstallStaleSnapshot bool
}

// withDefaults returns a copy of c with every zero-valued field that has a
// default set to it. It is the one place defaults are applied.
func (c Config) withDefaults() Config {
	if c.ElectionTick == 0 {
		c.ElectionTick = DefaultElectionTick
	}
	if c.HeartbeatTick == 0 {
		c.HeartbeatTick = DefaultHeartbeatTick
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = DefaultMaxSizePerMsg
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = DefaultMaxCommittedSizePerReady
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = DefaultMaxUncommittedEntriesSize
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = DefaultMaxInflightMsgs
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if c.MaxPendingReads == 0 {
		c.MaxPendingReads = DefaultMaxPendingReads
	}
	if c.Rand == nil {
		c.Rand = rand.NewPCG(c.ID, 0x6972_6f6e_7261_6674) // "ironraft"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem of c, as NewRawNode would use it (zero
// fields count as their defaults), in one error. It changes nothing.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("raft: config: "+format, args...))
	}
	if d.ID == 0 {
		bad("ID must not be 0")
	}
	if d.HeartbeatTick <= 0 {
		bad("HeartbeatTick = %d, must be positive", d.HeartbeatTick)
	}
	if d.ElectionTick <= d.HeartbeatTick {
		bad("ElectionTick = %d, must be greater than HeartbeatTick = %d", d.ElectionTick, d.HeartbeatTick)
	}
	if d.ElectionTick > math.MaxInt32/2 {
		bad("ElectionTick = %d, too large", d.ElectionTick)
	}
	if d.Storage == nil {
		bad("Storage must not be nil")
	}
	if d.MaxInflightMsgs <= 0 {
		bad("MaxInflightMsgs = %d, must be positive", d.MaxInflightMsgs)
	}
	if d.MaxInflightBytes < d.MaxSizePerMsg {
		bad("MaxInflightBytes = %d, must be at least MaxSizePerMsg = %d", d.MaxInflightBytes, d.MaxSizePerMsg)
	}
	if d.MaxUncommittedEntriesSize < d.MaxSizePerMsg {
		bad("MaxUncommittedEntriesSize = %d, must be at least MaxSizePerMsg = %d", d.MaxUncommittedEntriesSize, d.MaxSizePerMsg)
	}
	if d.MaxPendingReads <= 0 {
		bad("MaxPendingReads = %d, must be positive", d.MaxPendingReads)
	}
	switch d.ReadOnlyOption {
	case ReadOnlySafe:
	case ReadOnlyLeaseBased:
		if d.DisableCheckQuorum {
			bad("ReadOnlyOption = ReadOnlyLeaseBased requires CheckQuorum (DisableCheckQuorum = true)")
		}
	default:
		bad("ReadOnlyOption = %d, unknown", int(d.ReadOnlyOption))
	}
	return errors.Join(errs...)
}
