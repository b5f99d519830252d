package raft_test

import (
	"fmt"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// This example runs a single-node group through the Ready loop: persist,
// send, apply, advance. A multi-node application does the same on every
// node and carries the messages between them.
func Example() {
	storage := raft.NewMemoryStorage()
	storage.SetConfState(&raftpb.ConfState{Voters: []uint64{1}}) // bootstrap
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, Storage: storage})
	if err != nil {
		panic(err)
	}
	handle := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			// 1. Messages that may leave before persisting (none here: one node).
			_ = rd.MessagesBeforePersist
			// 2. Persist (a real application writes and fsyncs when MustSync).
			if rd.Snapshot != nil {
				if err := storage.ApplySnapshot(rd.Snapshot); err != nil {
					panic(err)
				}
			}
			if err := storage.Append(rd.Entries); err != nil {
				panic(err)
			}
			if rd.HardState != nil {
				storage.SetHardState(rd.HardState)
			}
			// 3. Messages that must wait for persistence.
			_ = rd.MessagesAfterPersist
			// 4. Apply.
			for _, e := range rd.CommittedEntries {
				if e.Type == raftpb.EntryNormal && len(e.Data) > 0 {
					fmt.Printf("applied %q at index %d\n", e.Data, e.Index)
				}
			}
			for _, rs := range rd.ReadStates {
				// rs.ID matches the ID ReadIndex returned.
				fmt.Printf("read may be served once index %d is applied\n", rs.Index)
			}
			rn.Advance()
		}
	}
	if err := rn.Campaign(); err != nil {
		panic(err)
	}
	handle()
	if err := rn.Propose([]byte("hello")); err != nil {
		panic(err)
	}
	handle()
	if _, err := rn.ReadIndex(); err != nil {
		panic(err)
	}
	handle()
	// Output:
	// applied "hello" at index 2
	// read may be served once index 2 is applied
}
