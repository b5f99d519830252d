package raft

// ReadState answers a ReadIndex request: once the state machine has applied
// Index, a read of it is linearizable with respect to every write that
// completed before the request was made.
type ReadState struct {
	// ID is the request ID ReadIndex returned.
	ID uint64
	// Index is the commit index the read must wait for. Zero if Dropped.
	Index uint64
	// Dropped says the request failed (the node that received it was not
	// leader, lost leadership, or had too many pending reads); retry it.
	Dropped bool
}
