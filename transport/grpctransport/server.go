package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

// server serves the RaftTransport service for a Transport. gRPC runs its
// methods on its own goroutines; Transport.Close stops the gRPC server,
// which cancels their streams and waits for them.
type server struct {
	UnimplementedRaftTransportServer
	t *Transport
}

// Stream receives one lane from a peer: see the package doc.
func (s *server) Stream(stream RaftTransport_StreamServer) error {
	t := s.t
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return s.recvFailed(ctx, nil, err)
	}
	hs := first.GetHandshake()
	if err := t.checkHandshake(hs, LaneControl, LaneData); err != nil {
		return s.refuse(ctx, hs, err)
	}
	if len(first.GetMessages()) > 0 || first.GetPing() != 0 {
		return s.refuse(ctx, hs, status.Error(codes.InvalidArgument, "grpctransport: the handshake frame carries messages or a ping"))
	}
	if err := stream.Send(&Ack{}); err != nil {
		return err
	}
	from, lane := hs.GetFrom(), laneOf(hs.GetLane())
	for {
		f, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.recvFailed(ctx, hs, err)
		}
		if err := checkFrame(f, from, t.cfg.NodeID); err != nil {
			return s.refuse(ctx, hs, status.Error(codes.InvalidArgument, err.Error()))
		}
		if f.GetPing() != 0 {
			if err := stream.Send(&Ack{Ping: f.GetPing()}); err != nil {
				return err
			}
		}
		msgs := f.GetMessages()
		if len(msgs) == 0 {
			continue
		}
		if t.observed {
			t.obs.OnReceived(from, lane, len(msgs), proto.Size(f))
		}
		if err := t.h.Receive(ctx, msgs); err != nil {
			// The node is overloaded; Raft retransmits what is lost.
			t.log.Debug("grpctransport: node refused a batch", "peer", from, "lane", lane, "msgs", len(msgs), "err", err)
		}
	}
}

// Snapshot receives one snapshot from a peer: see the package doc.
func (s *server) Snapshot(stream RaftTransport_SnapshotServer) error {
	t := s.t
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return s.recvFailed(ctx, nil, err)
	}
	h := first.GetHeader()
	if err := t.checkHandshake(h.GetHandshake(), LaneSnapshot); err != nil {
		return s.refuse(ctx, h.GetHandshake(), err)
	}
	hs := h.GetHandshake()
	if len(first.GetData()) > 0 {
		return s.refuse(ctx, hs, status.Error(codes.InvalidArgument, "grpctransport: the snapshot header chunk carries data"))
	}
	select {
	case t.inboundSnaps <- struct{}{}:
		defer func() { <-t.inboundSnaps }()
	default:
		return s.refuse(ctx, hs, status.Errorf(codes.ResourceExhausted,
			"grpctransport: already receiving %d snapshots", cap(t.inboundSnaps)))
	}
	a, err := newSnapshotAssembler(h, t.cfg.NodeID, t.cfg.MaxSnapshotBytes, t.cfg.MaxFrameBytes)
	if err != nil {
		return s.refuse(ctx, hs, err)
	}
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s.recvFailed(ctx, hs, err)
		}
		if err := a.add(c); err != nil {
			return s.refuse(ctx, hs, err)
		}
	}
	m, err := a.finish()
	if err != nil {
		return s.refuse(ctx, hs, err)
	}
	t.obs.OnReceived(hs.GetFrom(), LaneSnapshot, 1, int(a.size))
	md := m.GetSnapshot().GetMetadata()
	if err := t.h.Receive(ctx, []*raftpb.Message{m}); err != nil {
		t.log.Warn("grpctransport: node refused a snapshot", "peer", hs.GetFrom(), "term", m.GetTerm(), "index", md.GetIndex(), "err", err)
		return status.Errorf(codes.Unavailable, "grpctransport: node %d refused the snapshot: %v", t.cfg.NodeID, err)
	}
	t.log.Info("grpctransport: received snapshot", "peer", hs.GetFrom(), "term", m.GetTerm(),
		"index", md.GetIndex(), "snapshot_term", md.GetTerm(), "bytes", a.size)
	return stream.SendAndClose(&SnapshotAck{})
}

// refuse logs why a stream was refused and returns err, a status error, to
// end the stream with it.
func (s *server) refuse(ctx context.Context, hs *Handshake, err error) error {
	s.t.log.Warn("grpctransport: refused a stream from a peer", append(streamAttrs(ctx, hs), "err", err)...)
	return err
}

// recvFailed logs a failed receive (quietly when the peer just went away)
// and returns err to end the stream with it.
func (s *server) recvFailed(ctx context.Context, hs *Handshake, err error) error {
	attrs := append(streamAttrs(ctx, hs), "err", err)
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded, codes.Unavailable:
		s.t.log.Debug("grpctransport: inbound stream ended", attrs...)
	default:
		// A frame over the size limit, or one that does not decode.
		s.t.log.Warn("grpctransport: bad frame from a peer; stream closed", attrs...)
	}
	return err
}

func streamAttrs(ctx context.Context, hs *Handshake) []any {
	attrs := []any{}
	if p, ok := grpcpeer.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("remote", p.Addr.String()))
	}
	if hs != nil {
		attrs = append(attrs, slog.Uint64("peer", hs.GetFrom()), slog.String("lane", laneOf(hs.GetLane()).String()))
	}
	return attrs
}

// checkHandshake returns a status error saying why hs may not open a stream
// of one of the lanes, or nil.
func (t *Transport) checkHandshake(hs *Handshake, lanes ...Lane) error {
	return checkHandshake(hs, t.cfg.ClusterID, t.cfg.NodeID, lanes...)
}

func checkHandshake(hs *Handshake, clusterID, self uint64, lanes ...Lane) error {
	if hs == nil {
		return status.Error(codes.InvalidArgument, "grpctransport: the first frame carries no handshake")
	}
	var problems []error
	if v := hs.GetProtocolVersion(); v != ProtocolVersion {
		problems = append(problems, fmt.Errorf("protocol version %d, want %d", v, ProtocolVersion))
	}
	if c := hs.GetClusterId(); c != clusterID {
		problems = append(problems, fmt.Errorf("cluster ID %d, want %d", c, clusterID))
	}
	if to := hs.GetTo(); to != self {
		problems = append(problems, fmt.Errorf("addressed to node %d, this is node %d", to, self))
	}
	if from := hs.GetFrom(); from == 0 || from == self {
		problems = append(problems, fmt.Errorf("sender node ID %d is invalid here (this is node %d)", from, self))
	}
	if len(problems) > 0 {
		return status.Errorf(codes.FailedPrecondition, "grpctransport: handshake refused: %v", errors.Join(problems...))
	}
	for _, l := range lanes {
		if laneOf(hs.GetLane()) == l {
			return nil
		}
	}
	return status.Errorf(codes.InvalidArgument, "grpctransport: handshake opens lane %v on the wrong RPC", hs.GetLane())
}

// checkFrame says why a frame after the handshake may not be delivered
// from node from to node to, or returns nil.
func checkFrame(f *Frame, from, to uint64) error {
	if f.GetHandshake() != nil {
		return errors.New("grpctransport: handshake repeated after the first frame")
	}
	for i, m := range f.GetMessages() {
		err := checkPeerMessage(m, from, to)
		if err == nil && (m.GetType() == raftpb.MsgSnap || m.GetSnapshot() != nil) {
			err = errors.New("grpctransport: snapshot outside the snapshot RPC")
		}
		if err != nil {
			return fmt.Errorf("message %d of %d: %w", i, len(f.GetMessages()), err)
		}
	}
	return nil
}

// checkPeerMessage says why m may not travel from node from to node to, or
// returns nil.
func checkPeerMessage(m *raftpb.Message, from, to uint64) error {
	if m == nil {
		return errors.New("grpctransport: nil message")
	}
	t := m.GetType()
	if _, ok := raftpb.MessageType_name[int32(t)]; !ok {
		return fmt.Errorf("grpctransport: unknown message type %d", int32(t))
	}
	if raftpb.IsLocalMsg(t) {
		return fmt.Errorf("grpctransport: %v never leaves its node", t)
	}
	if m.GetFrom() != from || m.GetTo() != to {
		return fmt.Errorf("grpctransport: %v from %d to %d on a stream from %d to %d", t, m.GetFrom(), m.GetTo(), from, to)
	}
	return nil
}
