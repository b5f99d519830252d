package node

import "io"

// StateMachine is the application's replicated state. The runtime calls
// Apply, Snapshot and Restore from one goroutine (the apply loop), never
// concurrently with each other; SnapshotView.Write runs on another
// goroutine, concurrently with later Apply calls.
//
// A Node keeps no state machine on disk: on restart it calls Restore with
// the newest snapshot and then applies the committed entries after it, as
// hashicorp/raft does. Apply must therefore be deterministic: the same
// commands in the same order give the same state and results on every
// member.
type StateMachine interface {
	// Apply applies committed commands, in log order, and returns one
	// result per command (nil is fine). The result of a command reaches
	// the Propose call that proposed it, on the member where it was made.
	Apply(cmds []Command) []any
	// Snapshot returns a point-in-time view of the state as of the last
	// command applied. It must be quick (copy-on-write, a version, a
	// read transaction): Apply calls go on while the view is written.
	Snapshot() (SnapshotView, error)
	// Restore replaces the whole state with a snapshot written by
	// SnapshotView.Write. Bad input must return an error, not panic.
	Restore(r io.Reader) error
}

// Command is one committed entry handed to StateMachine.Apply.
type Command struct {
	// Index and Term locate the entry in the replicated log.
	Index, Term uint64
	// Data is what Propose was given. It must not be modified.
	Data []byte
}

// SnapshotView is a point-in-time view made by StateMachine.Snapshot.
type SnapshotView interface {
	// Write writes the view to w. It runs concurrently with Apply.
	Write(w io.Writer) error
	// Release frees the view; it is called once, after Write or when the
	// snapshot is abandoned.
	Release()
}
