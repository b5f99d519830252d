package node

import (
	"errors"
	"fmt"
)

// ErrStopped is returned by calls on a Node that was stopped (by Stop, by a
// storage fault, or because it was removed from the cluster). A proposal
// that was already handed to Raft when the node stopped fails with an error
// that wraps both ErrStopped and ErrOutcomeUnknown.
var ErrStopped = errors.New("node: stopped")

// ErrOverloaded is returned when a proposal would exceed the node's bounds
// on pending proposals (Config.MaxPendingProposals, MaxPendingBytes) or the
// leader's bound on uncommitted log bytes. Nothing was proposed; retry later.
var ErrOverloaded = errors.New("node: overloaded, too many pending proposals")

// ErrTimeout is returned when an operation's context ended before it
// completed and nothing it did is left to happen (a read fence, a membership
// change that was not yet proposed, a leadership transfer). It wraps the
// context's error.
var ErrTimeout = errors.New("node: timed out")

// ErrOutcomeUnknown is returned when a proposal was handed to Raft but its
// context ended (or the node stopped) before it was applied here: the
// command may or may not be applied later. Callers that must know make
// their commands idempotent or read the state back.
var ErrOutcomeUnknown = errors.New("node: outcome unknown")

// ErrRemoved is the reason a node stops after it applied its own removal
// from the configuration; Node.Err returns it.
var ErrRemoved = errors.New("node: removed from the cluster")

// ErrNoState is returned by Restart for a data directory that holds no Raft
// state (use Bootstrap or Join), and ErrHasState by Bootstrap and Join for
// one that does (use Restart). Both wrap the directory's name.
var (
	ErrNoState  = errors.New("node: data directory holds no state")
	ErrHasState = errors.New("node: data directory already holds this node's state")
)

// ErrTooLarge is returned for a command above Config.MaxCommandBytes.
var ErrTooLarge = errors.New("node: command too large")

// NotLeaderError says the operation must run on the leader, or that no
// leader is known. Leader is the leader this node knows (0: none) and
// LeaderAddr its address, when known.
type NotLeaderError struct {
	Leader     uint64
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return "node: no leader"
	}
	return fmt.Sprintf("node: not the leader; the leader is %d at %q", e.Leader, e.LeaderAddr)
}

// IsNotLeader reports whether err is or wraps a *NotLeaderError.
func IsNotLeader(err error) bool {
	var nl *NotLeaderError
	return errors.As(err, &nl)
}

// timeoutErr returns ErrTimeout wrapping the context's cause.
func timeoutErr(what string, cause error) error {
	return fmt.Errorf("%w: %s: %w", ErrTimeout, what, cause)
}

// unknownErr returns ErrOutcomeUnknown wrapping cause.
func unknownErr(cause error) error {
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, cause)
}
