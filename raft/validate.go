package raft

import (
	"fmt"

	"github.com/ironraft/ironraft/raftpb"
)

// validate checks the shape of a message received from the network, so
// that malformed input is refused with an error instead of corrupting state
// or panicking deeper in the core.
func (r *raft) validate(m *raftpb.Message) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s from %d: %s", ErrInvalidMessage, m.GetType(), m.GetFrom(), fmt.Sprintf(format, args...))
	}
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	if _, ok := raftpb.MessageType_name[int32(m.Type)]; !ok {
		return bad("%v", errUnknownType)
	}
	if m.From == None {
		return bad("sender is 0")
	}
	if m.From == r.id {
		return bad("message from ourselves")
	}
	if m.To != r.id {
		return bad("addressed to %d, we are %d", m.To, r.id)
	}
	if err := checkBounds(m); err != "" {
		return bad("%s", err)
	}
	switch m.Type {
	case raftpb.MsgProp:
		if m.Term != 0 {
			return bad("forwarded proposal carries term %d", m.Term)
		}
		if len(m.Entries) == 0 {
			return bad("no entries")
		}
		for _, e := range m.Entries {
			if e == nil {
				return bad("nil entry")
			}
		}
	case raftpb.MsgReadIndex, raftpb.MsgTransferLeader:
		if m.Term != 0 {
			return bad("forwarded request carries term %d", m.Term)
		}
	case raftpb.MsgApp:
		return r.validateAppend(m, bad)
	case raftpb.MsgSnap:
		md := m.Snapshot.GetMetadata()
		if md == nil {
			return bad("snapshot without metadata")
		}
		if len(md.GetConfState().GetVoters()) == 0 {
			return bad("snapshot without voters")
		}
		if md.GetIndex() == 0 && md.GetTerm() != 0 || md.GetIndex() != 0 && md.GetTerm() == 0 {
			// Index 0 is the initial snapshot (configuration only) sent to a
			// joining node.
			return bad("snapshot index %d with term %d", md.GetIndex(), md.GetTerm())
		}
		if md.GetTerm() > m.Term {
			return bad("snapshot term %d above message term %d", md.GetTerm(), m.Term)
		}
	case raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
		// Only a rejection may come from a node still at term 0.
		if m.Term == 0 && !m.Reject {
			return bad("granted vote without a term")
		}
	default:
		if m.Term == 0 {
			return bad("term is 0")
		}
	}
	if len(m.Entries) > 0 && m.Type != raftpb.MsgApp && m.Type != raftpb.MsgProp {
		return bad("unexpected entries")
	}
	return nil
}

func (r *raft) validateAppend(m *raftpb.Message, bad func(string, ...any) error) error {
	if m.Term == 0 {
		return bad("term is 0")
	}
	if m.PrevLogTerm > m.Term {
		return bad("prev_log_term %d beyond term %d", m.PrevLogTerm, m.Term)
	}
	prevTerm := m.PrevLogTerm
	for i, e := range m.Entries {
		if e == nil {
			return bad("nil entry at %d", i)
		}
		if want := m.PrevLogIndex + 1 + uint64(i); e.Index != want {
			return bad("entry %d has index %d, want %d", i, e.Index, want)
		}
		if e.Term < prevTerm || e.Term > m.Term {
			return bad("entry %d has term %d, want in [%d, %d]", e.Index, e.Term, prevTerm, m.Term)
		}
		if _, ok := raftpb.EntryType_name[int32(e.Type)]; !ok {
			return bad("entry %d has unknown type %d", e.Index, e.Type)
		}
		prevTerm = e.Term
	}
	if n := uint64(len(m.Entries)); m.PrevLogIndex+n < m.PrevLogIndex {
		return bad("index overflow")
	}
	return nil
}

// maxTermOrIndex bounds every term and index a message may carry. Real
// values never come near it; refusing larger ones keeps arithmetic such as
// term+1 and index+1 from overflowing on forged input.
const maxTermOrIndex = 1 << 62

// checkBounds returns a description of the first term or index field of m
// that is out of bounds, or "".
func checkBounds(m *raftpb.Message) string {
	md := m.GetSnapshot().GetMetadata()
	fields := [...]struct {
		name string
		v    uint64
	}{
		{"term", m.Term}, {"prev_log_index", m.PrevLogIndex}, {"prev_log_term", m.PrevLogTerm},
		{"commit", m.Commit}, {"last_log_index", m.LastLogIndex}, {"last_log_term", m.LastLogTerm},
		{"match_index", m.MatchIndex}, {"rejected_index", m.RejectedIndex}, {"hint_index", m.HintIndex},
		{"hint_term", m.HintTerm}, {"read_index", m.ReadIndex},
		{"snapshot index", md.GetIndex()}, {"snapshot term", md.GetTerm()},
		{"prev_log_index+len(entries)", m.PrevLogIndex + uint64(len(m.Entries))},
	}
	for _, f := range fields {
		if f.v >= maxTermOrIndex {
			return fmt.Sprintf("%s %d out of bounds", f.name, f.v)
		}
	}
	return ""
}
