// Package transport defines how a Raft node exchanges messages with its
// peers: a Transport sends batches of raftpb.Message and streams snapshots,
// and hands what arrives to a Handler. Implementations live below it:
// grpctransport for real networks, memtransport for tests and the
// simulator.
//
// # Contract
//
// Send never blocks on the network. A transport queues each message for its
// destination and delivers it at most once, in order per destination and
// lane, or drops it. A dropped message is not an error: Raft retransmits.
// When a transport drops messages for a peer (queue full, connection lost,
// unknown peer), it calls Handler.ReportUnreachable for that peer, so that
// the leader stops optimistic replication to it and probes instead.
//
// A raftpb.MsgSnap is streamed on its own path, so a large snapshot never
// delays other traffic; when the stream ends the transport calls
// Handler.ReportSnapshot with the outcome, exactly once per MsgSnap it
// accepted in Send (a MsgSnap dropped at once is reported as failed).
//
// Messages handed to Send must not be modified afterwards; messages handed
// to Handler.Receive belong to the handler.
package transport

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/ironraft/ironraft/raftpb"
)

// Handler receives what a Transport brings in from peers. A Transport calls
// it from its own goroutines, possibly concurrently.
type Handler interface {
	// Receive delivers a batch of messages that arrived from one peer, in
	// the order they were sent on their lane. It must not block for long:
	// a node queues them (or drops them when its inbox is full, returning
	// an error) and returns.
	Receive(ctx context.Context, msgs []*raftpb.Message) error
	// ReportUnreachable says that messages to peer id were lost.
	ReportUnreachable(id uint64)
	// ReportSnapshot gives the outcome of streaming a MsgSnap to peer id.
	ReportSnapshot(id uint64, ok bool)
}

// Transport carries messages between the members of one cluster.
type Transport interface {
	// Start begins delivering inbound messages to h. It is called once,
	// before any other method but AddPeer.
	Start(h Handler) error
	// Send queues messages for their destinations (raftpb.Message.To) and
	// returns at once; see the package doc for what may be dropped.
	Send(msgs []*raftpb.Message)
	// AddPeer makes peer id reachable at addr (an address whose form the
	// implementation defines), or changes its address.
	AddPeer(id uint64, addr string) error
	// RemovePeer forgets peer id and drops what is queued for it.
	RemovePeer(id uint64)
	// Close stops the transport: connections are closed, queued messages
	// dropped, snapshot streams cancelled, and every goroutine the
	// transport started has returned when Close returns. Close is
	// idempotent.
	Close() error
}

// ErrClosed is returned by methods of a Transport that was closed.
var ErrClosed = errors.New("transport: closed")

// IsControl reports whether m belongs on the control lane: small messages
// whose delay would cost an election or a read (heartbeats, votes,
// leadership transfer, read index traffic), which must never wait behind
// large appends or snapshots.
func IsControl(m *raftpb.Message) bool {
	switch m.GetType() {
	case raftpb.MsgHeartbeat, raftpb.MsgHeartbeatResp,
		raftpb.MsgVote, raftpb.MsgVoteResp, raftpb.MsgPreVote, raftpb.MsgPreVoteResp,
		raftpb.MsgTimeoutNow, raftpb.MsgTransferLeader, raftpb.MsgReadIndex, raftpb.MsgReadIndexResp:
		return true
	}
	return false
}

// Lane names a path messages take to a peer.
type Lane uint8

const (
	// LaneControl carries the messages for which IsControl holds.
	LaneControl Lane = iota + 1
	// LaneData carries every other message but MsgSnap.
	LaneData
	// LaneSnapshot carries MsgSnap.
	LaneSnapshot
)

// String returns the lane's name.
func (l Lane) String() string {
	switch l {
	case LaneControl:
		return "control"
	case LaneData:
		return "data"
	case LaneSnapshot:
		return "snapshot"
	}
	return "lane(" + strconv.Itoa(int(l)) + ")"
}

// Observer is told about a transport's traffic, so that the runtime can
// export per-peer metrics (node.NewPeerMetrics) without depending on the
// transport's implementation. Its methods are called from many goroutines,
// including the caller of Send; they must be fast, safe for concurrent use,
// and must not call the Transport.
type Observer interface {
	// OnSent reports msgs messages of bytes encoded bytes written to peer.
	OnSent(peer uint64, lane Lane, msgs, bytes int)
	// OnReceived reports msgs messages of bytes bytes received from peer
	// and accepted.
	OnReceived(peer uint64, lane Lane, msgs, bytes int)
	// OnDropped reports msgs messages to peer dropped before they were
	// written (queue full, peer unknown or down, connection lost).
	OnDropped(peer uint64, lane Lane, msgs int)
	// OnRTT reports a round-trip time to peer.
	OnRTT(peer uint64, d time.Duration)
}
