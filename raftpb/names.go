package raftpb

// Short names for the generated enum values, so callers write raftpb.MsgApp
// rather than raftpb.MessageType_MsgApp.
const (
	MsgHup            = MessageType_MsgHup
	MsgBeat           = MessageType_MsgBeat
	MsgProp           = MessageType_MsgProp
	MsgApp            = MessageType_MsgApp
	MsgAppResp        = MessageType_MsgAppResp
	MsgVote           = MessageType_MsgVote
	MsgVoteResp       = MessageType_MsgVoteResp
	MsgPreVote        = MessageType_MsgPreVote
	MsgPreVoteResp    = MessageType_MsgPreVoteResp
	MsgSnap           = MessageType_MsgSnap
	MsgHeartbeat      = MessageType_MsgHeartbeat
	MsgHeartbeatResp  = MessageType_MsgHeartbeatResp
	MsgUnreachable    = MessageType_MsgUnreachable
	MsgSnapStatus     = MessageType_MsgSnapStatus
	MsgCheckQuorum    = MessageType_MsgCheckQuorum
	MsgTransferLeader = MessageType_MsgTransferLeader
	MsgTimeoutNow     = MessageType_MsgTimeoutNow
	MsgReadIndex      = MessageType_MsgReadIndex
	MsgReadIndexResp  = MessageType_MsgReadIndexResp
)

const (
	EntryNormal     = EntryType_EntryNormal
	EntryConfChange = EntryType_EntryConfChange
)

const (
	ConfChangeAddNode        = ConfChangeType_ConfChangeAddNode
	ConfChangeRemoveNode     = ConfChangeType_ConfChangeRemoveNode
	ConfChangeAddLearnerNode = ConfChangeType_ConfChangeAddLearnerNode
)

const (
	ConfChangeTransitionAuto          = ConfChangeTransition_ConfChangeTransitionAuto
	ConfChangeTransitionJointImplicit = ConfChangeTransition_ConfChangeTransitionJointImplicit
	ConfChangeTransitionJointExplicit = ConfChangeTransition_ConfChangeTransitionJointExplicit
)

// IsLocalMsg reports whether messages of type t never leave the node that
// created them.
func IsLocalMsg(t MessageType) bool {
	switch t {
	case MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum:
		return true
	}
	return false
}

// IsResponseMsg reports whether t answers a request of another node.
func IsResponseMsg(t MessageType) bool {
	switch t {
	case MsgAppResp, MsgVoteResp, MsgPreVoteResp, MsgHeartbeatResp, MsgReadIndexResp:
		return true
	}
	return false
}

// VoteRespType returns the response type for a vote request type.
func VoteRespType(t MessageType) MessageType {
	switch t {
	case MsgVote:
		return MsgVoteResp
	case MsgPreVote:
		return MsgPreVoteResp
	}
	panic("raftpb: not a vote message: " + t.String())
}

// entryOverheadBytes approximates the encoded size of an Entry beyond its
// data: tags and varints for term, index and type.
const entryOverheadBytes = 24

// PayloadSize returns the size that counts against byte limits for e: its
// data plus a fixed per-entry overhead. It is cheap, unlike proto.Size.
func (e *Entry) PayloadSize() uint64 {
	return uint64(len(e.GetData())) + entryOverheadBytes
}

// EntriesSize returns the sum of PayloadSize over ents.
func EntriesSize(ents []*Entry) uint64 {
	var n uint64
	for _, e := range ents {
		n += e.PayloadSize()
	}
	return n
}
