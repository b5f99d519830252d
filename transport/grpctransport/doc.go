// Package grpctransport is the network implementation of
// transport.Transport: Raft messages travel between members on long-lived
// gRPC streams, snapshots on an RPC of their own.
//
// # Using it
//
//	lis, _ := net.Listen("tcp", ":2380")
//	t, err := grpctransport.New(grpctransport.Config{NodeID: 1, ClusterID: 7, Listener: lis})
//	t.AddPeer(2, "10.0.0.2:2380")
//	t.Start(node) // node implements transport.Handler
//	t.Send(rd.Messages)
//	...
//	t.Close()
//
// The transport serves its own gRPC server on Config.Listener (peer traffic
// gets a port of its own, as etcd's peer port does); addresses given to
// AddPeer are gRPC targets ("host:port"). Set Config.ServerTLS and
// Config.ClientTLS for TLS, with client certificates required by ServerTLS
// for mutual TLS. The transport checks that a peer holds a certificate the
// CA signed, not that the certificate names the node ID it claims.
//
// # Wire protocol (version 1)
//
// The types are in grpctransport.proto; the service is
// ironraft.transport.v1.RaftTransport. Every stream opens with a
// Handshake:
//
//	Handshake { protocol_version, cluster_id, from, to, lane }
//
// The server refuses the stream with codes.FailedPrecondition (and logs
// why) unless protocol_version is ProtocolVersion, cluster_id is its
// cluster, to is its node ID and from is a node ID other than its own; a
// missing handshake or a lane that does not fit the RPC gets
// codes.InvalidArgument. A sender whose handshake is refused logs it at
// error level and waits Config.BackoffMax before trying again.
//
// Lanes. A sender opens two Stream RPCs to each peer, one per lane. The
// control lane carries the messages for which transport.IsControl holds
// (heartbeats, votes, TimeoutNow, read index); the data lane carries the
// rest (appends and their answers, proposals) except MsgSnap. Each lane has
// its own bounded queue and its own stream, so a backlog of large appends
// never delays a heartbeat.
//
//	client                                server
//	Frame{handshake}                 ->
//	                                 <-   Ack{ping: 0}        handshake accepted
//	Frame{messages: [m1 m2 m3]}      ->                       one batch per write
//	Frame{ping: 7}                   ->                       control lane, every PingInterval
//	                                 <-   Ack{ping: 7}        round-trip time
//	...
//
// A sender writes every message queued on a lane in one Frame, up to
// Config.MaxBatchBytes (a message larger than that travels alone). The
// receiver checks each frame and ends the stream with
// codes.InvalidArgument if any message is not from the handshake's sender,
// not to the receiver, of an unknown type, of a type that never leaves a
// node (MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum), a
// MsgSnap or carries a snapshot, or if a later frame repeats the handshake;
// nothing of a refused frame is delivered. gRPC itself ends a stream whose
// message exceeds Config.MaxFrameBytes (codes.ResourceExhausted) or does not
// decode (codes.Internal). A frame that passes is handed to
// transport.Handler.Receive.
//
// Snapshots. A MsgSnap handed to Send is streamed on a Snapshot RPC by a
// goroutine of its peer; a peer has at most one snapshot in flight, and a
// MsgSnap for a peer that is busy is reported failed at once.
//
//	SnapshotChunk{header: {handshake, message, size_bytes, crc32c}}
//	SnapshotChunk{data: <SnapshotChunkBytes bytes>, crc32c}
//	...
//	SnapshotChunk{data: <the rest>, crc32c}
//	(client closes its side)          <-   SnapshotAck{}
//
// The header's message is the MsgSnap with empty snapshot data; size_bytes
// is the length of the data and crc32c its CRC-32C (Castagnoli); every
// chunk carries the CRC-32C of its own data. The receiver refuses a header
// with more than Config.MaxSnapshotBytes (codes.ResourceExhausted) or a
// message that fails the checks above or is not a MsgSnap
// (codes.InvalidArgument), a chunk whose checksum does not match, or data
// whose total length or checksum differ from the header
// (codes.DataLoss). It reassembles the data in memory, hands the MsgSnap to
// Handler.Receive and then answers SnapshotAck; if Receive fails it answers
// codes.Unavailable. A stream that ends early (the sender cancelled, the
// connection died) is discarded. The sender calls Handler.ReportSnapshot
// once per MsgSnap: true only when SnapshotAck arrived. gRPC flow control
// slows the sender to the receiver's pace; a chunk that cannot be written
// within Config.SnapshotChunkTimeout fails the snapshot.
//
// # Delivery and failures
//
// Send never blocks: each message goes to its peer's lane queue, bounded by
// Config.MaxQueuedControlMessages or MaxQueuedDataMessages and
// Config.MaxQueuedBytes. A message is dropped, and Handler.ReportUnreachable
// called for its peer, when the queue is full, the peer is unknown, or the
// lane is down. A lane is down from the moment its stream fails (the queue
// is dropped then too) until a new stream's handshake is accepted; it
// reconnects with exponential backoff and jitter (Config.BackoffInitial,
// BackoffMax, BackoffJitter). Messages Send refuses because no peer would
// accept them (a local message type, From not this node, larger than
// MaxFrameBytes) are dropped and logged at error level.
//
// Handler methods are called from the transport's goroutines, never from
// inside Send, AddPeer, RemovePeer or Close; ReportUnreachable calls for the
// same peer may be merged into one.
//
// # Goroutines
//
// Every goroutine is started by the Transport, stopped by cancellation and
// joined by Close: per peer, one per lane (with a reader of the server's
// acks per open stream, joined by its lane) and one snapshot sender; one
// that serves the listener; one that delivers reports to the Handler. The
// gRPC server runs its handlers on its own goroutines; Close stops the
// server and waits for them to return.
package grpctransport
