package raft

import (
	"testing"

	"github.com/ironraft/ironraft/raftpb"
)

func TestMessagesBeforeAdvanceSendsNewAppendsDuringPersist(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	if err := tn.nodes[1].Campaign(); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	rn := tn.nodes[1]
	if got := rn.MessagesBeforeAdvance(); got != nil {
		t.Fatalf("MessagesBeforeAdvance without a Ready = %v, want nil", got)
	}
	if err := rn.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready() // being persisted from here on
	if len(rd.Entries) != 1 {
		t.Fatalf("Ready has %d entries, want 1", len(rd.Entries))
	}
	if err := rn.Propose([]byte("b")); err != nil {
		t.Fatal(err)
	}
	msgs := rn.MessagesBeforeAdvance()
	if len(msgs) != 2 {
		t.Fatalf("MessagesBeforeAdvance = %d messages, want an append to each follower", len(msgs))
	}
	for _, m := range msgs {
		if m.Type != raftpb.MsgApp || len(m.Entries) != 1 || string(m.Entries[0].Data) != "b" {
			t.Errorf("MessagesBeforeAdvance sent %v, want a MsgApp with entry b", m)
		}
	}
	// The leader does not count entry b as its own until a later Ready.
	if got := tn.raft(1).trk.Progress[1].Match; got >= msgs[0].Entries[0].Index {
		t.Errorf("leader's own match = %d before persisting entry %d", got, msgs[0].Entries[0].Index)
	}
	// Finish the Ready as the contract says; b comes in the next one.
	if err := tn.storage[1].Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	rn.Advance()
	next := rn.Ready()
	if len(next.Entries) != 1 || string(next.Entries[0].Data) != "b" {
		t.Fatalf("next Ready entries = %v, want entry b", next.Entries)
	}
	for _, m := range append(next.MessagesBeforePersist, next.MessagesAfterPersist...) {
		if m.Type == raftpb.MsgApp && len(m.Entries) > 0 {
			t.Errorf("entry b was sent again: %v", m)
		}
	}
	rn.Advance()
}

func TestMessagesBeforeAdvanceHoldsBackWhileTheTermChanges(t *testing.T) {
	tn := newTestNet(t, 3, func(c *Config) { c.DisablePreVote = true })
	rn := tn.nodes[1]
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready() // the new term and vote, being persisted
	if rd.HardState == nil || !rd.MustSync {
		t.Fatalf("campaign Ready = %+v, want a synced hard state", rd)
	}
	if got := rn.MessagesBeforeAdvance(); got != nil {
		t.Fatalf("MessagesBeforeAdvance during a term change = %v, want nil", got)
	}
	rn.Advance()
}
