package raft

import "errors"

// ErrProposalDropped is returned when a proposal cannot be accepted now: no
// leader is known, leadership is being transferred, or this follower does
// not forward proposals. The caller may retry later or elsewhere.
var ErrProposalDropped = errors.New("raft: proposal dropped")

// ErrUncommittedLogFull is returned when accepting a proposal would take the
// leader's uncommitted log beyond Config.MaxUncommittedEntriesSize. It
// wraps ErrProposalDropped.
var ErrUncommittedLogFull = wrapped{msg: "raft: uncommitted log is full", base: ErrProposalDropped}

// ErrReadDropped is returned by ReadIndex when no leader is known to serve
// the read, or too many reads are pending.
var ErrReadDropped = errors.New("raft: read index request dropped")

// ErrStepLocalMsg is returned when a message that only the node itself may
// create arrives from outside.
var ErrStepLocalMsg = errors.New("raft: cannot step local message from the network")

// ErrStepPeerNotFound is returned when a response arrives from a node that
// is not tracked.
var ErrStepPeerNotFound = errors.New("raft: cannot step response from unknown peer")

// ErrInvalidMessage is wrapped by every error about a malformed message.
var ErrInvalidMessage = errors.New("raft: invalid message")

// wrapped is a sentinel error that also matches a more general sentinel.
type wrapped struct {
	msg  string
	base error
}

func (w wrapped) Error() string { return w.msg }
func (w wrapped) Unwrap() error { return w.base }
